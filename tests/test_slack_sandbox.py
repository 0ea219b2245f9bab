"""The local Slack sandbox, driven through the real slack_sdk client."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs

import aiohttp
import pytest
from aiohttp import web
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from bot.sandbox.printer import render_thread
from bot.sandbox.slack_api import SandboxMessage, SlackSandbox
from bot.sandbox.slack_client import send_event, send_slash_command

SECRET = "signing-secret-test"
USER_TS = "1796300000.000100"  # older than any ts the sandbox hands out
DELETED_TS = "1796300000.000200"
UNKNOWN_TS = "1796300000.999900"
IN_DEMO = {"channel": "C0DEMO"}
METADATA = {"event_type": "consult", "event_payload": {"consult_id": "c1"}}
SECTION = {"type": "section", "text": {"type": "mrkdwn", "text": "*Claude*: yes"}}
TOO_LONG = {"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}


@pytest.fixture
async def sandbox() -> AsyncIterator[SlackSandbox]:
    async with SlackSandbox(private_channels={"C0SECRET"}) as slack:
        slack.post_user_message("C0DEMO", "Postgres or SQLite?", ts=USER_TS)
        deleted = slack.post_user_message("C0DEMO", "never mind", ts=DELETED_TS)
        deleted.deleted = True
        yield slack


@pytest.fixture
def client(sandbox: SlackSandbox) -> AsyncWebClient:
    return AsyncWebClient(token="xoxb-test", base_url=sandbox.api_url)


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as http:
        yield http


@pytest.fixture
async def app_endpoint() -> AsyncIterator[tuple[str, list[web.Request], list[str]]]:
    """A stand-in for the app's /slack/events: keeps each request and its body."""
    requests: list[web.Request] = []
    bodies: list[str] = []

    async def keep(request: web.Request) -> web.Response:
        requests.append(request)
        bodies.append(await request.text())
        return web.Response(text="")

    app = web.Application()
    app.router.add_post("/slack/events", keep)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    yield f"http://{host}:{port}/slack/events", requests, bodies
    await runner.cleanup()


@pytest.mark.parametrize(
    ("include_all_metadata", "expected_metadata"),
    [(True, METADATA), (False, None)],
)
async def test_post_update_replies_round_trip(
    sandbox: SlackSandbox,
    client: AsyncWebClient,
    include_all_metadata: bool,
    expected_metadata: dict[str, Any] | None,
) -> None:
    root = await client.chat_postMessage(channel="C0DEMO", text="Consulting…")
    reply = await client.chat_postMessage(
        channel="C0DEMO",
        thread_ts=root["ts"],
        text="Claude: y",
        blocks=[SECTION],
        metadata=METADATA,
    )
    for text in ("Claude: ye", "Claude: yes"):
        await client.chat_update(channel="C0DEMO", ts=reply["ts"], text=text)
    replies = await client.conversations_replies(
        channel="C0DEMO", ts=root["ts"], include_all_metadata=include_all_metadata
    )

    shown = replies["messages"]
    assert [m["text"] for m in shown] == ["Consulting…", "Claude: yes"]
    assert shown[1]["blocks"] == [SECTION]
    assert shown[1]["thread_ts"] == root["ts"]
    assert shown[1].get("metadata") == expected_metadata
    assert float(USER_TS) < float(root["ts"]) < float(reply["ts"])
    stored = sandbox.thread("C0DEMO", root["ts"])
    assert stored[1].versions == ["Claude: y", "Claude: ye", "Claude: yes"]
    assert stored[1].user == "UQUORUM"
    assert [call.method for call in sandbox.calls][-2:] == [
        "chat.update",
        "conversations.replies",
    ]


@pytest.mark.parametrize(
    ("method", "kwargs", "error"),
    [
        ("auth_test", {"token": "xoxb-wrong"}, "invalid_auth"),
        ("chat_postMessage", {"channel": "C0NOPE", "text": "x"}, "channel_not_found"),
        ("chat_postMessage", {"channel": "C0SECRET", "text": "x"}, "not_in_channel"),
        (
            "chat_update",
            {**IN_DEMO, "ts": UNKNOWN_TS, "text": "x"},
            "message_not_found",
        ),
        ("chat_update", {**IN_DEMO, "ts": USER_TS, "text": "x"}, "cant_update_message"),
        (
            "chat_postMessage",
            {**IN_DEMO, "thread_ts": DELETED_TS, "text": "x"},
            "thread_not_found",
        ),
        (
            "chat_postMessage",
            {**IN_DEMO, "thread_ts": UNKNOWN_TS, "text": "x"},
            "thread_not_found",
        ),
        (
            "chat_postMessage",
            {**IN_DEMO, "thread_ts": "soon", "text": "x"},
            "invalid_thread_ts",
        ),
        (
            "chat_postMessage",
            {**IN_DEMO, "text": "x", "blocks": [TOO_LONG]},
            "invalid_blocks",
        ),
        ("chat_postMessage", {**IN_DEMO, "text": "x" * 40_001}, "msg_too_long"),
        ("conversations_replies", {**IN_DEMO, "ts": DELETED_TS}, "thread_not_found"),
        ("users_info", {"user": "U0NOBODY"}, "user_not_found"),
        ("api_call", {"api_method": "chat.nope"}, "unknown_method"),
    ],
)
async def test_errors(
    sandbox: SlackSandbox,
    client: AsyncWebClient,
    method: str,
    kwargs: dict[str, Any],
    error: str,
) -> None:
    with pytest.raises(SlackApiError) as raised:
        await getattr(client, method)(**kwargs)

    assert raised.value.response["error"] == error
    assert sandbox.calls[-1].error == error
    assert "token" not in sandbox.calls[-1].args


@pytest.mark.parametrize("encoding", ["json", "form", "query"])
async def test_accepts_every_body_encoding(
    sandbox: SlackSandbox, session: aiohttp.ClientSession, encoding: str
) -> None:
    args = {
        "channel": "C0DEMO",
        "text": "hi",
        "blocks": json.dumps([SECTION]),
        "metadata": json.dumps(METADATA),
    }
    url = f"{sandbox.api_url}chat.postMessage"
    bearer = {"Authorization": "Bearer xoxb-test"}
    sent = {
        "json": {"json": {**args, "blocks": [SECTION]}, "headers": bearer},
        "form": {"data": args, "headers": bearer},
        "query": {"params": {**args, "token": "xoxb-test"}},
    }[encoding]

    async with session.post(url, **sent) as response:
        reply = await response.json()

    assert reply["ok"], reply
    posted = sandbox.messages("C0DEMO")[-1]
    assert (posted.text, posted.blocks, posted.metadata) == ("hi", [SECTION], METADATA)


async def test_side_effects_are_recorded(
    sandbox: SlackSandbox, client: AsyncWebClient
) -> None:
    posted = await client.chat_postMessage(channel="C0DEMO", text="answer")
    await client.reactions_add(channel="C0DEMO", timestamp=USER_TS, name="eyes")
    await client.chat_postEphemeral(channel="C0DEMO", user="U0ASKER", text="only you")
    await client.chat_delete(channel="C0DEMO", ts=posted["ts"])
    me = await client.auth_test()
    dana = await client.users_info(user="U0ASKER")

    assert sandbox.messages("C0DEMO")[0].reactions == ["eyes"]
    assert [(e.user, e.text) for e in sandbox.ephemerals] == [("U0ASKER", "only you")]
    assert sandbox.messages("C0DEMO")[-1].deleted
    assert (me["user_id"], me["bot_id"]) == ("UQUORUM", "BQUORUM")
    assert dana["user"]["profile"]["display_name"] == "dana"


async def test_wait_for_wakes_on_a_call(
    sandbox: SlackSandbox, client: AsyncWebClient
) -> None:
    checked = asyncio.Event()

    def says_done(message: SandboxMessage) -> bool:
        checked.set()
        return message.text == "done"

    waiter = asyncio.create_task(sandbox.wait_for_message(says_done, timeout=1.0))
    await asyncio.wait_for(checked.wait(), timeout=1.0)
    await client.chat_postMessage(channel="C0DEMO", text="done")

    assert (await waiter).text == "done"


async def test_wait_for_times_out_naming_what_it_awaited(
    sandbox: SlackSandbox, client: AsyncWebClient
) -> None:
    await client.auth_test()

    with pytest.raises(TimeoutError, match="a synthesis reply.*the last: auth.test"):
        await sandbox.wait_for(lambda _: None, timeout=0.05, what="a synthesis reply")


async def test_response_url_posts_are_recorded(
    sandbox: SlackSandbox, session: aiohttp.ClientSession
) -> None:
    url = sandbox.new_response_url()

    async with session.post(url, json={"text": "working on it"}) as response:
        body = await response.text()

    assert body == "ok"
    assert sandbox.responses == [{"text": "working on it", "url": url}]


@pytest.mark.parametrize(
    ("secret", "age_s", "valid"),
    [(SECRET, 0, True), ("another-secret", 0, False), (SECRET, 600, False)],
)
async def test_slash_command_is_signed_like_slack(
    session: aiohttp.ClientSession,
    app_endpoint: tuple[str, list[web.Request], list[str]],
    secret: str,
    age_s: int,
    valid: bool,
) -> None:
    url, requests, bodies = app_endpoint

    reply = await send_slash_command(
        session,
        url,
        secret,
        text="Postgres or SQLite?",
        response_url="http://127.0.0.1:1/response/1",
        timestamp=int(time.time()) - age_s,
    )

    verifier = SignatureVerifier(SECRET)
    assert verifier.is_valid_request(bodies[0], dict(requests[0].headers)) is valid
    form = parse_qs(bodies[0])
    assert (form["command"], form["text"]) == (["/consult"], ["Postgres or SQLite?"])
    assert reply.status == 200


async def test_event_is_an_event_callback_with_retry_headers(
    session: aiohttp.ClientSession,
    app_endpoint: tuple[str, list[web.Request], list[str]],
) -> None:
    url, requests, bodies = app_endpoint
    event = {"type": "app_mention", "user": "U0ASKER", "text": "<@UQUORUM> hi"}

    await send_event(
        session, url, SECRET, event, event_id="Ev01", retry_num=1, retry_reason="x"
    )

    headers = requests[0].headers
    envelope = json.loads(bodies[0])
    assert SignatureVerifier(SECRET).is_valid_request(bodies[0], dict(headers))
    assert (headers["X-Slack-Retry-Num"], headers["X-Slack-Retry-Reason"]) == ("1", "x")
    assert (envelope["type"], envelope["event_id"]) == ("event_callback", "Ev01")
    assert envelope["event"] == event


def _bot(
    ts: str,
    text: str = "",
    blocks: list[dict[str, Any]] | None = None,
    *,
    deleted: bool = False,
) -> SandboxMessage:
    return SandboxMessage(
        "C0DEMO",
        ts,
        "1.000100",
        "UQUORUM",
        text,
        blocks,
        bot_id="BQUORUM",
        deleted=deleted,
    )


QUESTION = SandboxMessage(
    "C0DEMO",
    "1.000100",
    None,
    "U0ASKER",
    "Postgres or <https://sqlite.org|SQLite>? cc <@U0LEE> &amp; <!here> &lt;3",
)
LONG = "word " * 30
CODE = "x = 1  # " + "long comment " * 10


@pytest.mark.parametrize(
    ("messages", "expected"),
    [
        (
            [QUESTION],
            "dana\nPostgres or SQLite (https://sqlite.org)? cc @lee & @here <3\n",
        ),
        (
            [
                QUESTION,
                _bot(
                    "1.000200",
                    blocks=[
                        {
                            "type": "header",
                            "text": {"type": "plain_text", "text": "Panel"},
                        },
                        {
                            "type": "section",
                            "text": {"type": "mrkdwn", "text": "Use <@U0ASKER>'s idea"},
                            "fields": [
                                {"type": "mrkdwn", "text": "*Models*\n3"},
                                {"type": "mrkdwn", "text": "*Cost*\n$0.02"},
                            ],
                        },
                        {"type": "divider"},
                        {
                            "type": "context",
                            "elements": [
                                {"type": "mrkdwn", "text": "claude"},
                                {"type": "plain_text", "text": "4.1 s"},
                            ],
                        },
                    ],
                ),
                _bot("1.000300", text="bye"),
            ],
            "dana\n"
            "Postgres or SQLite (https://sqlite.org)? cc @lee & @here <3\n"
            "\n"
            "│ Quorum\n"
            "│ Panel\n"
            "│ ═════\n"
            "│ Use @dana's idea\n"
            "│ Models: 3\n"
            "│ Cost: $0.02\n"
            f"│ {'─' * 40}\n"
            "│ claude · 4.1 s\n"
            "\n"
            "│ Quorum\n"
            "│ bye\n",
        ),
        (
            [
                _bot(
                    "1.000200",
                    blocks=[
                        {"type": "markdown", "text": f"- {LONG}\n```\n{CODE}\n```"}
                    ],
                )
            ],
            f"Quorum\n- {'word ' * 18}word\n  {'word ' * 10}word\n```\n{CODE}\n```\n",
        ),
        (
            [QUESTION, _bot("1.000200", text="gone", deleted=True)],
            "dana\n"
            "Postgres or SQLite (https://sqlite.org)? cc @lee & @here <3\n"
            "\n"
            "│ Quorum\n"
            "│ (message deleted)\n",
        ),
    ],
    ids=["mrkdwn", "blocks", "wrap-but-not-code", "deleted"],
)
def test_render_thread(messages: list[SandboxMessage], expected: str) -> None:
    assert (
        render_thread(messages, names={"U0ASKER": "dana", "U0LEE": "lee"}) == expected
    )
