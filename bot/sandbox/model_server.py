"""A local OpenAI-compatible model server that serves scripted answers.

Tests and the offline demo point litellm at it (`openai/<name>` with
`api_base=server.base_url`), so litellm's real OpenAI code path runs while the
answers, their speed and their failures are ours to set per model.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bot.prompts import DEBATE_SYNTHESIS_SYSTEM, STANCE_SYSTEM, SYNTHESIS_SYSTEM

if TYPE_CHECKING:
    from bot.sandbox.scripts import ScriptBook

CHARS_PER_TOKEN = 4
CHUNK_TOKENS = 3  # tokens per streamed chunk: smooth growth, few writes

_STANCE_OF = {text: stance for stance, text in STANCE_SYSTEM.items()}

_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
}


@dataclass(frozen=True)
class Pace:
    """How fast a model answers: time to first token, then tokens per second."""

    ttft_s: float
    tokens_per_s: float

    def offset_s(self, tokens: int) -> float:
        """Seconds after the request at which `tokens` tokens have been sent."""
        return self.ttft_s + tokens / self.tokens_per_s


@dataclass(frozen=True)
class Behavior:
    """How one served model behaves: its pace and the failure it should show.

    `fail_status` fails every request, or only the first `fail_first` of them;
    `fail_message` replaces the error body's message.
    """

    pace: Pace
    fail_status: int | None = None
    stall_after_chars: int | None = None
    omit_usage: bool = False
    reply: str | None = None  # serve this text instead of the script's
    fail_first: int | None = None
    fail_message: str | None = None


DEFAULT_BEHAVIOR = Behavior(Pace(0.05, 400))


@dataclass(frozen=True)
class RecordedRequest:
    """One chat-completions request as the server received it."""

    model: str
    messages: list[dict[str, Any]]
    stream: bool
    max_tokens: int | None
    received_at: float
    include_usage: bool = False


@dataclass(frozen=True)
class SentReply:
    """A reply the server finished sending: its last token left at `finished_at`."""

    model: str
    finished_at: float


@dataclass(frozen=True)
class _Reply:
    text: str
    finish_reason: str
    prompt_tokens: int

    @property
    def usage(self) -> dict[str, int]:
        completion = count_tokens(self.text)
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": completion,
            "total_tokens": self.prompt_tokens + completion,
        }


class _BadRequest(Exception):
    pass


def count_tokens(text: str) -> int:
    """The server's token count: one token per four characters, rounded up."""
    return math.ceil(len(text) / CHARS_PER_TOKEN)


def message_text(message: dict[str, Any]) -> str:
    """The text of a message whose content is a string or a list of text parts."""
    content = message.get("content") or ""
    if isinstance(content, str):
        return content
    return "".join(part.get("text", "") for part in content if isinstance(part, dict))


def _parse_request(body: Any) -> RecordedRequest:
    if not isinstance(body, dict):
        raise _BadRequest("the body must be a JSON object")
    model, messages = body.get("model"), body.get("messages")
    if not isinstance(model, str) or not model:
        raise _BadRequest("'model' is required")
    if not isinstance(messages, list) or not messages:
        raise _BadRequest("'messages' must be a non-empty list")
    max_tokens = body.get("max_tokens", body.get("max_completion_tokens"))
    stream_options = body.get("stream_options") or {}
    return RecordedRequest(
        model=model,
        messages=messages,
        stream=bool(body.get("stream")),
        max_tokens=int(max_tokens) if max_tokens is not None else None,
        received_at=time.monotonic(),
        include_usage=bool(stream_options.get("include_usage")),
    )


def _error_response(status: int, message: str) -> web.Response:
    error = {
        "message": message,
        "type": _ERROR_TYPES.get(status, "server_error"),
        "param": None,
        "code": None,
    }
    return web.json_response({"error": error}, status=status)


def _sse(payload: dict[str, Any] | str) -> bytes:
    data = payload if isinstance(payload, str) else json.dumps(payload)
    return f"data: {data}\n\n".encode()


class ModelServer:
    """Serves `POST /v1/chat/completions` and `GET /v1/models` on 127.0.0.1.

    Panel questions get the answer the script book holds for the requested
    model; a request whose system message is `SYNTHESIS_SYSTEM` gets the
    book's synthesis of the answers in its user message. In a debate, the
    stance system prompt a model receives picks the stance it argues, and
    `DEBATE_SYNTHESIS_SYSTEM` gets the book's debate synthesis.
    """

    def __init__(
        self,
        book: ScriptBook | None = None,
        behaviors: dict[str, Behavior] | None = None,
        default: Behavior = DEFAULT_BEHAVIOR,
    ) -> None:
        if book is None:
            from bot.sandbox.scripts import DEMO_BOOK

            book = DEMO_BOOK
        self.book = book
        self.requests: list[RecordedRequest] = []
        self.replies: list[SentReply] = []
        self._behaviors = dict(behaviors or {})
        self._default = default
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._stopping = asyncio.Event()
        self._arrivals = asyncio.Condition()
        self._gate = asyncio.Event()
        self._gate.set()

    async def __aenter__(self) -> ModelServer:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat_completions)
        app.router.add_get("/v1/models", self._models)
        # Cancelling the handler when the client hangs up ends stalled streams.
        self._runner = web.AppRunner(
            app, handler_cancellation=True, shutdown_timeout=1.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = self._runner.addresses[0][1]
        self._stopping.clear()

    async def stop(self) -> None:
        """Stop serving; streams still open (stalled ones too) are cut off."""
        if self._runner is None:
            return
        self._stopping.set()
        self._gate.set()
        await self._runner.cleanup()
        self._runner = None

    @property
    def base_url(self) -> str:
        if self._port is None:
            raise RuntimeError("the model server is not started")
        return f"http://127.0.0.1:{self._port}/v1"

    def request_count(self, model: str | None = None) -> int:
        return sum(1 for r in self.requests if model is None or r.model == model)

    async def wait_for_requests(self, count: int, model: str | None = None) -> None:
        """Return once `count` requests (for `model`, if given) have arrived.

        Bound it with `asyncio.wait_for`.
        """
        async with self._arrivals:
            await self._arrivals.wait_for(lambda: self.request_count(model) >= count)

    def hold_requests(self) -> None:
        """Record each request as it arrives but answer none until released."""
        self._gate.clear()

    def release_requests(self) -> None:
        self._gate.set()

    def set_behavior(self, model: str, behavior: Behavior) -> None:
        self._behaviors[model] = behavior

    def behavior_for(self, model: str) -> Behavior:
        return self._behaviors.get(model, self._default)

    def served_models(self) -> list[str]:
        return sorted({*self.book.served_models(), *self._behaviors})

    async def _models(self, request: web.Request) -> web.Response:
        created = int(time.time())
        data = [
            {"id": name, "object": "model", "created": created, "owned_by": "quorum"}
            for name in self.served_models()
        ]
        return web.json_response({"object": "list", "data": data})

    async def _chat_completions(self, request: web.Request) -> web.StreamResponse:
        try:
            recorded = _parse_request(await request.json())
        except (ValueError, _BadRequest) as exc:
            return _error_response(400, f"invalid request: {exc}")
        await self._record(recorded)
        await self._gate.wait()

        behavior = self.behavior_for(recorded.model)
        if self._fails(recorded.model, behavior):
            return _error_response(
                behavior.fail_status,  # type: ignore[arg-type]
                behavior.fail_message
                or f"scripted failure: {recorded.model} answers HTTP "
                f"{behavior.fail_status}",
            )
        reply = self._reply_to(recorded)
        if recorded.stream:
            return await self._stream(request, recorded, reply, behavior)
        return await self._whole(request, recorded, reply, behavior)

    def _fails(self, model: str, behavior: Behavior) -> bool:
        if behavior.fail_status is None:
            return False
        if behavior.fail_first is None:
            return True
        return self.request_count(model) <= behavior.fail_first

    async def _record(self, recorded: RecordedRequest) -> None:
        async with self._arrivals:
            self.requests.append(recorded)
            self._arrivals.notify_all()

    def _reply_to(self, recorded: RecordedRequest) -> _Reply:
        text = self._text_for(recorded)
        finish_reason = "stop"
        if recorded.max_tokens is not None:
            limit = recorded.max_tokens * CHARS_PER_TOKEN
            if len(text) > limit:
                text, finish_reason = text[:limit], "length"
        prompt = "".join(message_text(m) for m in recorded.messages)
        return _Reply(text, finish_reason, count_tokens(prompt))

    def _text_for(self, recorded: RecordedRequest) -> str:
        fixed = self.behavior_for(recorded.model).reply
        if fixed is not None:
            return fixed
        messages = recorded.messages
        system = [message_text(m) for m in messages if m.get("role") == "system"]
        users = [message_text(m) for m in messages if m.get("role") == "user"]
        # A synthesis retry appends a second user turn; the answers are in the first.
        with_answers = [u for u in users if u.startswith("Question:")]
        first = (with_answers or users or [""])[0]
        last = users[-1] if users else ""
        role = system[0] if system else ""
        if role == SYNTHESIS_SYSTEM:
            return self.book.synthesis_for(first)
        if role == DEBATE_SYNTHESIS_SYSTEM:
            return self.book.debate_synthesis_for(first)
        stance = _STANCE_OF.get(role)
        if stance is not None:
            return self.book.debate_answer_for(recorded.model, stance, last)
        return self.book.answer_for(recorded.model, last)

    async def _whole(
        self,
        request: web.Request,
        recorded: RecordedRequest,
        reply: _Reply,
        behavior: Behavior,
    ) -> web.StreamResponse:
        if behavior.stall_after_chars is not None:
            await self._stall(request)
            return web.Response(status=503)
        tokens = count_tokens(reply.text)
        if await self._pause_until(time.monotonic(), behavior.pace.offset_s(tokens)):
            return web.Response(status=503)
        body = {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": recorded.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": reply.text},
                    "finish_reason": reply.finish_reason,
                }
            ],
            "usage": reply.usage,
        }
        self.replies.append(SentReply(recorded.model, time.monotonic()))
        return web.json_response(body)

    async def _stream(
        self,
        request: web.Request,
        recorded: RecordedRequest,
        reply: _Reply,
        behavior: Behavior,
    ) -> web.StreamResponse:
        started = time.monotonic()
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        )
        await response.prepare(request)
        stalls = behavior.stall_after_chars is not None
        text = reply.text[: behavior.stall_after_chars] if stalls else reply.text

        chunk = _ChunkMaker(recorded.model)
        async for piece in self._paced_pieces(text, behavior.pace, started):
            await response.write(_sse(chunk.delta(piece)))
        if stalls or self._stopping.is_set():
            await self._stall(request)
            return response

        self.replies.append(SentReply(recorded.model, time.monotonic()))
        await response.write(_sse(chunk.finish(reply.finish_reason)))
        if recorded.include_usage and not behavior.omit_usage:
            await response.write(_sse(chunk.usage(reply.usage)))
        await response.write(_sse("[DONE]"))
        await response.write_eof()
        return response

    async def _paced_pieces(
        self, text: str, pace: Pace, started: float
    ) -> AsyncIterator[dict[str, str]]:
        """The stream's deltas, each released when the pace says it is due."""
        if await self._pause_until(started, pace.ttft_s):
            return
        yield {"role": "assistant", "content": ""}
        size = CHUNK_TOKENS * CHARS_PER_TOKEN
        for index, start in enumerate(range(0, len(text), size)):
            due = pace.offset_s(index * CHUNK_TOKENS)
            if await self._pause_until(started, due):
                return
            yield {"content": text[start : start + size]}

    async def _pause_until(self, started: float, offset_s: float) -> bool:
        """Wait until `started + offset_s`; True if the server began stopping."""
        delay = started + offset_s - time.monotonic()
        try:
            await asyncio.wait_for(self._stopping.wait(), timeout=max(delay, 0))
        except TimeoutError:
            return False
        return True

    async def _stall(self, request: web.Request) -> None:
        """Hold the connection open, silent, until the server stops.

        If the client hangs up first, aiohttp cancels this handler.
        """
        await self._stopping.wait()
        if request.transport is not None:
            request.transport.abort()


class _ChunkMaker:
    """Builds the `chat.completion.chunk` objects of one streamed reply."""

    def __init__(self, model: str) -> None:
        self._base = {
            "id": f"chatcmpl-{uuid.uuid4().hex}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
        }

    def delta(self, delta: dict[str, str]) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "finish_reason": None}
        return {**self._base, "choices": [choice]}

    def finish(self, reason: str) -> dict[str, Any]:
        choice = {"index": 0, "delta": {}, "finish_reason": reason}
        return {**self._base, "choices": [choice]}

    def usage(self, usage: dict[str, int]) -> dict[str, Any]:
        return {**self._base, "choices": [], "usage": usage}
