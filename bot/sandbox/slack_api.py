"""A local Slack Web API on loopback that records everything the app asks of it.

Fidelity goals: the error codes, response shapes, message limits and rate
limits real Slack uses for the methods Quorum calls, so the real slack_sdk and
slack-bolt code paths run unchanged against it.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import web

from bot.sandbox.rate_limits import GENEROUS_LIMITS, Limits, RateLimiter

logger = logging.getLogger(__name__)

T = TypeVar("T")
Args = dict[str, Any]

_JSON_FIELDS = ("blocks", "metadata", "attachments")
# Every sandbox of a process draws from one clock, so no two messages share a
# ts even across tests that keep their threads in the same Redis.
_TS_EPOCH = int(time.time())
_TS_STEP = 100
_TS_COUNTER = itertools.count(1)
_TS_PATTERN = re.compile(r"^\d+\.\d+$")
# Slack accepts 40,000 characters of `text` on paper, but refuses (or cuts)
# far less in practice, chat.update included; about 4,000 is what holds.
MAX_TEXT = 4_000
_MAX_BLOCKS = 50
_BLOCK_TEXT_LIMITS = {"section": 3000, "header": 150, "markdown": 12_000}
_MARKDOWN_TOTAL = 12_000  # all markdown blocks of one message together


@dataclass(frozen=True)
class ApiCall:
    """One Web API request as the sandbox received it; the token is never kept."""

    method: str
    args: dict[str, Any]
    at: float
    error: str | None = None


@dataclass
class SandboxMessage:
    """A message as it stands now; `versions` holds its text after every write."""

    channel: str
    ts: str
    thread_ts: str | None
    user: str
    text: str
    blocks: list[dict[str, Any]] | None = None
    metadata: dict[str, Any] | None = None
    bot_id: str | None = None
    versions: list[str] = field(default_factory=list)
    reactions: list[str] = field(default_factory=list)
    deleted: bool = False


@dataclass(frozen=True)
class SandboxEphemeral:
    """A message only `user` would see."""

    channel: str
    user: str
    text: str
    blocks: list[dict[str, Any]] | None
    thread_ts: str | None
    message_ts: str


class _Refusal(Exception):
    """Ends a method with Slack's `{"ok": false, "error": code}`."""

    def __init__(self, code: str, *messages: str) -> None:
        super().__init__(code)
        self.code = code
        self.messages = list(messages)


class SlackSandbox:
    """A Slack workspace with one bot, served on 127.0.0.1 at a free port.

    Example:
        async with SlackSandbox() as slack:
            client = AsyncWebClient(token="xoxb-test", base_url=slack.api_url)
            await client.chat_postMessage(channel="C0DEMO", text="hi")
            assert slack.messages("C0DEMO")[0].text == "hi"
    """

    def __init__(
        self,
        *,
        bot_user_id: str = "UQUORUM",
        bot_id: str = "BQUORUM",
        team_id: str = "T0DEMO",
        token: str = "xoxb-test",
        users: dict[str, str] | None = None,
        channels: dict[str, str] | None = None,
        private_channels: set[str] | frozenset[str] = frozenset(),
        rate_limits: Limits | None = None,
        max_text: int = MAX_TEXT,
    ) -> None:
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.team_id = team_id
        self.token = token
        self.users = {"U0ASKER": "dana"} if users is None else dict(users)
        self.channels = {"C0DEMO": "eng-decisions"} if channels is None else channels
        self.private_channels = set(private_channels)
        self.limiter = RateLimiter(
            GENEROUS_LIMITS if rate_limits is None else rate_limits
        )
        self.max_text = max_text
        self.calls: list[ApiCall] = []
        self.ephemerals: list[SandboxEphemeral] = []
        self.responses: list[dict[str, Any]] = []
        self.on_call: list[Callable[[ApiCall], None]] = []
        self._messages: dict[str, list[SandboxMessage]] = {}
        self._by_ts: dict[tuple[str, str], SandboxMessage] = {}
        self._response_counter = itertools.count(1)
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None
        self._methods: dict[str, Callable[[Args], Args]] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.delete": self._chat_delete,
            "conversations.replies": self._conversations_replies,
            "users.info": self._users_info,
            "reactions.add": self._reactions_add,
        }

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._handle_api)
        app.router.add_post("/response/{n}", self._handle_response_url)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self._base_url = f"http://{host}:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> SlackSandbox:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def api_url(self) -> str:
        """Base URL for `AsyncWebClient(base_url=...)`; it ends with "/"."""
        return f"{self._started_url()}/api/"

    def new_response_url(self) -> str:
        """A fresh `response_url`; what is POSTed to it lands in `responses`."""
        return f"{self._started_url()}/response/{next(self._response_counter)}"

    def messages(self, channel: str) -> list[SandboxMessage]:
        """Every message posted in `channel`, deleted ones included, in ts order."""
        return list(self._messages.get(channel, []))

    def thread(self, channel: str, root_ts: str) -> list[SandboxMessage]:
        """The root message, then its replies in ts order."""
        return [
            message
            for message in self._messages.get(channel, [])
            if root_ts in (message.ts, message.thread_ts)
        ]

    def calls_to(self, method: str) -> list[ApiCall]:
        return [call for call in self.calls if call.method == method]

    @property
    def rate_limited(self) -> int:
        """How many calls were answered HTTP 429."""
        return sum(1 for call in self.calls if call.error == "http_429")

    def delete_thread(self, channel: str, root_ts: str) -> None:
        """Delete a thread's root and every reply, as a person deleting it would."""
        for message in self.thread(channel, root_ts):
            message.deleted = True

    def post_user_message(
        self,
        channel: str,
        text: str,
        *,
        user: str = "U0ASKER",
        thread_ts: str | None = None,
        ts: str | None = None,
    ) -> SandboxMessage:
        """Put a message from a person into the workspace, e.g. before an event."""
        message = SandboxMessage(channel, ts or self._next_ts(), thread_ts, user, text)
        return self._store(message)

    async def wait_for(
        self,
        predicate: Callable[[SlackSandbox], T | None],
        timeout: float,
        *,
        what: str | None = None,
    ) -> T:
        """Return the predicate's first result that is not None or False.

        It is checked now and again after every recorded call or response.
        """
        async with self._changed:
            try:
                async with asyncio.timeout(timeout):
                    while True:
                        result = predicate(self)
                        if result is not None and result is not False:
                            return result
                        await self._changed.wait()
            except TimeoutError:
                awaited = what or _describe(predicate)
                raise TimeoutError(self._timeout_message(awaited, timeout)) from None

    async def wait_for_message(
        self,
        predicate: Callable[[SandboxMessage], bool],
        timeout: float,
        *,
        what: str | None = None,
    ) -> SandboxMessage:
        """The first live message, in any channel, that satisfies `predicate`."""

        def find(sandbox: SlackSandbox) -> SandboxMessage | None:
            live = (m for m in sandbox._all_messages() if not m.deleted)
            return next((m for m in live if predicate(m)), None)

        return await self.wait_for(find, timeout, what=what or _describe(predicate))

    def _timeout_message(self, awaited: str, timeout: float) -> str:
        recent = ", ".join(
            call.method if call.error is None else f"{call.method} ({call.error})"
            for call in self.calls[-6:]
        )
        return (
            f"timed out after {timeout:g}s waiting for {awaited}; "
            f"{len(self.calls)} calls recorded, the last: {recent or 'none'}"
        )

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        args = await _read_args(request)
        token = _bearer_token(request) or args.get("token")
        args.pop("token", None)
        at = time.monotonic()

        refusal = self._refuse_access(method, token)
        if refusal is None:
            held = self._admit(method, args.get("channel"))
            if held is not None:
                await self._record(ApiCall(method, args, at, f"http_{held.status}"))
                return held

        payload = _failure(_Refusal(refusal)) if refusal else self._run(method, args)
        await self._record(ApiCall(method, args, at, payload.get("error")))
        return web.json_response(payload)

    def _refuse_access(self, method: str, token: str | None) -> str | None:
        if method not in self._methods:
            return "unknown_method"
        if not token:
            return "not_authed"
        if token != self.token:
            return "invalid_auth"
        return None

    def _admit(self, method: str, channel: str | None) -> web.Response | None:
        """Hold back a call over its rate limit, as Slack does: HTTP 429."""
        retry_after = self.limiter.admit(method, channel)
        if retry_after is None:
            return None
        return web.json_response(
            {"ok": False, "error": "ratelimited"},
            status=429,
            headers={"Retry-After": str(retry_after)},
        )

    def _run(self, method: str, args: Args) -> Args:
        try:
            return {"ok": True, **self._methods[method](args)}
        except _Refusal as refusal:
            return _failure(refusal)

    async def _handle_response_url(self, request: web.Request) -> web.Response:
        url = f"{self._started_url()}/response/{request.match_info['n']}"
        if request.content_type == "application/json":
            body = await request.json()
        else:
            body = json.loads(str((await request.post()).get("payload", "{}")))
        self.responses.append({**body, "url": url})
        await self._notify()
        return web.Response(text="ok")

    async def _record(self, call: ApiCall) -> None:
        logger.debug("sandbox %s -> %s", call.method, call.error or "ok")
        self.calls.append(call)
        for hook in self.on_call:
            hook(call)
        await self._notify()

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    def _auth_test(self, args: Args) -> Args:
        return {
            "url": "https://quorum-sandbox.example/",
            "team": "Quorum Sandbox",
            "user": "quorum",
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _chat_post_message(self, args: Args) -> Args:
        channel = self._writable_channel(args)
        text, blocks, metadata = _message_content(args, self.max_text)
        if not text and not blocks:
            raise _Refusal("no_text")
        thread_ts = self._thread_root(channel, args.get("thread_ts"))
        message = SandboxMessage(
            channel,
            self._next_ts(),
            thread_ts,
            self.bot_user_id,
            text,
            blocks,
            metadata,
            bot_id=self.bot_id,
            versions=[text],
        )
        self._store(message)
        return {
            "channel": channel,
            "ts": message.ts,
            "message": self._as_slack(message),
        }

    def _chat_update(self, args: Args) -> Args:
        channel = self._writable_channel(args)
        message = self._bot_message(channel, args.get("ts"), "cant_update_message")
        text, blocks, metadata = _message_content(args, self.max_text)
        if "text" in args:
            message.text = text
        if "blocks" in args:  # absent keeps the blocks, [] removes them
            message.blocks = blocks
        if metadata is not None:
            message.metadata = metadata
        message.versions.append(message.text)
        return {
            "channel": channel,
            "ts": message.ts,
            "text": message.text,
            "message": self._as_slack(message),
        }

    def _chat_post_ephemeral(self, args: Args) -> Args:
        channel = self._writable_channel(args)
        if not args.get("user"):
            raise _Refusal("user_not_in_channel")
        text, blocks, _ = _message_content(args, self.max_text)
        if not text and not blocks:
            raise _Refusal("no_text")
        thread_ts = str(args["thread_ts"]) if args.get("thread_ts") else None
        ephemeral = SandboxEphemeral(
            channel, str(args["user"]), text, blocks, thread_ts, self._next_ts()
        )
        self.ephemerals.append(ephemeral)
        return {"message_ts": ephemeral.message_ts}

    def _chat_delete(self, args: Args) -> Args:
        channel = self._writable_channel(args)
        message = self._bot_message(channel, args.get("ts"), "cant_delete_message")
        message.deleted = True
        return {"channel": channel, "ts": message.ts}

    def _conversations_replies(self, args: Args) -> Args:
        channel = self._readable_channel(args)
        found = self._by_ts.get((channel, str(args.get("ts"))))
        if found is None:
            raise _Refusal("thread_not_found")
        root = self._by_ts[(channel, found.thread_ts or found.ts)]
        with_metadata = _flag(args.get("include_all_metadata"))
        replies = [
            self._as_slack(m, with_metadata=with_metadata)
            for m in self.thread(channel, root.ts)[1:]
            if not m.deleted
        ]
        if root.deleted and not replies:
            raise _Refusal("thread_not_found")
        head = _tombstone(root) if root.deleted else self._as_slack(root, with_metadata)
        return {"messages": [head, *replies], "has_more": False}

    def _users_info(self, args: Args) -> Args:
        user = str(args.get("user", ""))
        if user == self.bot_user_id:
            return {"user": self._user_record(user, "Quorum", is_bot=True)}
        if user not in self.users:
            raise _Refusal("user_not_found")
        return {"user": self._user_record(user, self.users[user], is_bot=False)}

    def _reactions_add(self, args: Args) -> Args:
        channel = self._readable_channel(args)
        message = self._live_message(channel, args.get("timestamp"))
        name = str(args.get("name", "")).strip(":")
        if not name:
            raise _Refusal("invalid_name")
        if name in message.reactions:
            raise _Refusal("already_reacted")
        message.reactions.append(name)
        return {}

    def _writable_channel(self, args: Args) -> str:
        channel = str(args.get("channel") or "")
        if channel in self.private_channels:
            raise _Refusal("not_in_channel")
        if channel not in self.channels:
            raise _Refusal("channel_not_found")
        return channel

    def _readable_channel(self, args: Args) -> str:
        channel = str(args.get("channel") or "")
        if channel not in self.channels:  # private channels are invisible to us
            raise _Refusal("channel_not_found")
        return channel

    def _thread_root(self, channel: str, thread_ts: object) -> str | None:
        if thread_ts in (None, ""):
            return None
        if not _TS_PATTERN.match(str(thread_ts)):
            raise _Refusal("invalid_thread_ts")
        root = self._by_ts.get((channel, str(thread_ts)))
        # A reply's ts is no thread root; Slack would hide such a post.
        if root is None or root.deleted or root.thread_ts is not None:
            raise _Refusal("thread_not_found")
        return root.ts

    def _live_message(self, channel: str, ts: object) -> SandboxMessage:
        message = self._by_ts.get((channel, str(ts)))
        if message is None or message.deleted:
            raise _Refusal("message_not_found")
        return message

    def _bot_message(self, channel: str, ts: object, refusal: str) -> SandboxMessage:
        message = self._live_message(channel, ts)
        if message.bot_id != self.bot_id:
            raise _Refusal(refusal)
        return message

    def _store(self, message: SandboxMessage) -> SandboxMessage:
        self._messages.setdefault(message.channel, []).append(message)
        self._by_ts[(message.channel, message.ts)] = message
        return message

    def _all_messages(self) -> Iterator[SandboxMessage]:
        for messages in self._messages.values():
            yield from messages

    def _next_ts(self) -> str:
        micros = next(_TS_COUNTER) * _TS_STEP
        return f"{_TS_EPOCH + micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _started_url(self) -> str:
        if self._base_url is None:
            raise RuntimeError("SlackSandbox is not started; await start() first")
        return self._base_url

    def _as_slack(self, message: SandboxMessage, with_metadata: bool = True) -> Args:
        shown: Args = {
            "type": "message",
            "ts": message.ts,
            "user": message.user,
            "text": message.text,
            "team": self.team_id,
        }
        if message.bot_id:
            shown["bot_id"] = message.bot_id
        if message.blocks:
            shown["blocks"] = message.blocks
        if message.metadata and with_metadata:
            shown["metadata"] = message.metadata
        if message.reactions:
            shown["reactions"] = [
                {"name": name, "users": [self.bot_user_id], "count": 1}
                for name in message.reactions
            ]
        shown.update(self._thread_fields(message))
        return shown

    def _thread_fields(self, message: SandboxMessage) -> Args:
        if message.thread_ts is not None:
            parent = self._by_ts[(message.channel, message.thread_ts)]
            return {"thread_ts": message.thread_ts, "parent_user_id": parent.user}
        replies = self.thread(message.channel, message.ts)[1:]
        live = [m for m in replies if not m.deleted]
        if not live:
            return {}
        return {
            "thread_ts": message.ts,
            "reply_count": len(live),
            "reply_users": sorted({m.user for m in live}),
            "latest_reply": live[-1].ts,
        }

    def _user_record(self, user: str, name: str, *, is_bot: bool) -> Args:
        return {
            "id": user,
            "team_id": self.team_id,
            "name": name.lower().replace(" ", "."),
            "real_name": name,
            "is_bot": is_bot,
            "profile": {"display_name": name, "real_name": name},
        }


async def _read_args(request: web.Request) -> Args:
    """Merge query parameters with a form or JSON body, as Slack accepts both."""
    args: Args = dict(request.query)
    if request.can_read_body and request.content_type == "application/json":
        body = await request.json()
        args.update(body if isinstance(body, dict) else {})
    elif request.can_read_body:
        form = await request.post()
        args.update({k: v for k, v in form.items() if isinstance(v, str)})
    for name in _JSON_FIELDS:  # form bodies carry these as JSON text
        if isinstance(args.get(name), str):
            args[name] = _json_or_text(args[name])
    return args


def _json_or_text(value: str) -> Any:
    if not value.strip():
        return None
    try:
        return json.loads(value)
    except ValueError:
        return value


def _bearer_token(request: web.Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def _message_content(
    args: Args, max_text: int
) -> tuple[str, list[dict[str, Any]] | None, dict[str, Any] | None]:
    text = "" if args.get("text") is None else str(args["text"])
    if len(text) > max_text:
        raise _Refusal("msg_too_long")
    blocks = args.get("blocks") or None
    if blocks is not None:
        problems = _block_problems(blocks)
        if problems:
            raise _Refusal("invalid_blocks", *problems)
    metadata = args.get("metadata") or None
    if metadata is not None and not _is_metadata(metadata):
        raise _Refusal("invalid_metadata_format")
    return text, blocks, metadata


def _block_problems(blocks: object) -> list[str]:
    """The Block Kit limits Quorum's messages can run into, as Slack words them."""
    if not isinstance(blocks, list):
        return ["[ERROR] must be an array [json-pointer:/blocks]"]
    if len(blocks) > _MAX_BLOCKS:
        return [
            f"[ERROR] no more than {_MAX_BLOCKS} items allowed [json-pointer:/blocks]"
        ]
    problems = []
    for index, block in enumerate(blocks):
        if not isinstance(block, dict) or "type" not in block:
            problems.append(f"[ERROR] missing type [json-pointer:/blocks/{index}]")
            continue
        limit = _BLOCK_TEXT_LIMITS.get(block["type"])
        if limit is not None and len(_block_text(block)) > limit:
            problems.append(
                f"[ERROR] must be less than {limit + 1} characters "
                f"[json-pointer:/blocks/{index}/text]"
            )
    markdown = sum(
        len(_block_text(b))
        for b in blocks
        if isinstance(b, dict) and b.get("type") == "markdown"
    )
    if markdown > _MARKDOWN_TOTAL:
        problems.append(
            f"[ERROR] markdown blocks must total less than {_MARKDOWN_TOTAL + 1} "
            "characters [json-pointer:/blocks]"
        )
    return problems


def _block_text(block: dict[str, Any]) -> str:
    text = block.get("text")
    if isinstance(text, dict):
        return str(text.get("text", ""))
    return str(text or "")


def _is_metadata(metadata: object) -> bool:
    return (
        isinstance(metadata, dict)
        and isinstance(metadata.get("event_type"), str)
        and isinstance(metadata.get("event_payload"), dict)
    )


def _tombstone(root: SandboxMessage) -> Args:
    return {
        "type": "message",
        "subtype": "tombstone",
        "ts": root.ts,
        "thread_ts": root.ts,
        "user": "USLACKBOT",
        "text": "This message was deleted.",
    }


def _flag(value: object) -> bool:
    return value is True or str(value).lower() in ("true", "1")


def _failure(refusal: _Refusal) -> Args:
    payload: Args = {"ok": False, "error": refusal.code}
    if refusal.messages:
        payload["response_metadata"] = {"messages": refusal.messages}
    return payload


def _describe(predicate: Callable[..., object]) -> str:
    return getattr(predicate, "__qualname__", None) or repr(predicate)
