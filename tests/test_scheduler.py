"""The per-channel scheduler against the sandbox's Slack, through slack_sdk."""

import asyncio
import itertools
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.errors import ThreadUnavailable
from bot.sandbox.rate_limits import Limit
from bot.sandbox.slack_api import SlackSandbox
from bot.slack.rate_limits import RetryOutsideScheduler, SlackLimits, TokenBucket
from bot.slack.scheduler import ChannelSchedulers

CHANNEL = "C0DEMO"
TIMEOUT = 20


class Writer:
    """What a scheduler writes for: records that its thread was lost."""

    def __init__(self) -> None:
        self.lost_with: list[ThreadUnavailable] = []

    def lost(self, error: ThreadUnavailable) -> None:
        self.lost_with.append(error)


@pytest.mark.parametrize(
    ("steps", "waits"),
    [
        # (seconds since start, action) -> wait_s before the action
        ([(0, "take"), (0, "take"), (0, "take")], [0, 0, 0.5]),
        ([(0, "take"), (0, "take"), (0.25, "take")], [0, 0, 0.25]),
        ([(0, "pause 3"), (1, "take"), (3, "take"), (3, "take")], [0, 2, 0, 0.5]),
    ],
)
def test_a_token_bucket_paces_and_pauses(steps, waits):
    start = 50.0
    bucket = TokenBucket(rate_per_s=2, burst=2, clock=lambda: start)

    got = []
    for offset, action in steps:
        now = start + offset
        got.append(bucket.wait_s(now))
        if action == "take" and bucket.wait_s(now) == 0:
            bucket.take(now)
        elif action.startswith("pause"):
            bucket.pause(now, float(action.split()[1]))

    assert got == pytest.approx(waits)


@pytest_asyncio.fixture
async def slack() -> AsyncIterator[SlackSandbox]:
    async with SlackSandbox() as sandbox:
        yield sandbox


def client_for(slack: SlackSandbox) -> AsyncWebClient:
    return AsyncWebClient(
        token=slack.token,
        base_url=slack.api_url,
        retry_handlers=[RetryOutsideScheduler(max_retry_count=2)],
    )


def text(value: str):
    return lambda: {"text": value}


async def test_pending_edits_merge_and_only_the_latest_text_is_sent(slack):
    scheduler = ChannelSchedulers().for_channel(client_for(slack), CHANNEL)
    writer = Writer()
    ts = (await scheduler.post(writer, text("v0")))["ts"]

    frames = [scheduler.edit(writer, ts, text(f"v{n}"), final=False) for n in range(50)]
    final = scheduler.edit(writer, ts, text("the end"), final=True)
    async with asyncio.timeout(TIMEOUT):
        await asyncio.gather(final, *frames)

    assert [c.args.get("text") for c in slack.calls] == ["v0", "the end"]
    assert slack.messages(CHANNEL)[0].versions == ["v0", "the end"]


async def test_a_streaming_message_is_edited_about_once_a_second(slack):
    limits = SlackLimits(message_interval_s=0.5)
    scheduler = ChannelSchedulers(limits).for_channel(client_for(slack), CHANNEL)
    writer = Writer()
    ts = (await scheduler.post(writer, text("…")))["ts"]
    shown = {"text": ""}

    for n in range(40):  # a stream: a new word every 50 ms for 2 s
        shown["text"] += f"w{n} "
        scheduler.edit(writer, ts, lambda: dict(shown), final=False)
        await asyncio.sleep(0.05)
    async with asyncio.timeout(TIMEOUT):
        await scheduler.edit(writer, ts, lambda: dict(shown), final=True)

    updates = [c.at for c in slack.calls_to("chat.update")]
    gaps = [later - earlier for earlier, later in itertools.pairwise(updates)]
    assert 3 <= len(updates) <= 6  # not 40
    assert all(gap >= 0.45 for gap in gaps[:-1])  # only the final one may come early
    assert slack.messages(CHANNEL)[0].text == shown["text"]


async def test_final_edits_go_first_and_frames_leave_them_a_reserve(slack):
    limits = SlackLimits(
        posts_per_s=20,
        post_burst=10,
        updates_per_min=240,  # a token every 0.25 s
        update_burst=2,
        final_reserve=1,
        message_interval_s=0,
    )
    scheduler = ChannelSchedulers(limits).for_channel(client_for(slack), CHANNEL)
    writer = Writer()
    a, b, c = [(await scheduler.post(writer, text(n)))["ts"] for n in "abc"]

    frames = [
        scheduler.edit(writer, ts, text(f"frame {ts}"), final=False) for ts in (a, b)
    ]
    final = scheduler.edit(writer, c, text("final"), final=True)
    async with asyncio.timeout(TIMEOUT):
        await asyncio.gather(final, *frames)

    updates = slack.calls_to("chat.update")
    assert [u.args["text"] for u in updates] == ["final", f"frame {a}", f"frame {b}"]
    # one token was left after the final one, but a frame may not take the last
    assert updates[1].at - updates[0].at >= 0.2


async def test_a_429_pauses_the_method_for_its_retry_after_and_every_final_lands():
    # the scheduler believes chat.update is nearly unlimited; the sandbox allows
    # two a second, so it must learn from the 429s
    optimistic = SlackLimits(
        updates_per_min=6000, update_burst=50, message_interval_s=0, post_burst=10
    )
    limits = {"chat.update": Limit(2, 1.0)}
    async with SlackSandbox(rate_limits=limits) as slack:
        scheduler = ChannelSchedulers(optimistic).for_channel(
            client_for(slack), CHANNEL
        )
        writer = Writer()
        posted = [await scheduler.post(writer, text(f"m{n}")) for n in range(6)]

        finals = [
            scheduler.edit(writer, p["ts"], text(f"final {n}"), final=True)
            for n, p in enumerate(posted)
        ]
        async with asyncio.timeout(TIMEOUT):
            await asyncio.gather(*finals)

    assert [m.text for m in slack.messages(CHANNEL)] == [f"final {n}" for n in range(6)]
    updates = slack.calls_to("chat.update")
    assert slack.rate_limited >= 2
    assert scheduler.stats.rate_limited == slack.rate_limited
    for refused, after in itertools.pairwise(updates):
        if refused.error == "http_429":  # Retry-After is 1 s: nothing sooner
            assert after.at - refused.at >= 0.95


async def test_a_deleted_thread_stops_its_writes_after_one_call(slack):
    quick = SlackLimits(posts_per_s=20, post_burst=10)
    scheduler = ChannelSchedulers(quick).for_channel(client_for(slack), CHANNEL)
    writer, bystander = Writer(), Writer()
    root = (await scheduler.post(writer, text("root")))["ts"]
    replies = [
        (await scheduler.post(writer, lambda: {"text": "r", "thread_ts": root}))["ts"]
        for _ in range(3)
    ]
    other = (await scheduler.post(bystander, text("elsewhere")))["ts"]
    slack.delete_thread(CHANNEL, root)
    before = len(slack.calls)

    edits = [scheduler.edit(writer, ts, text("late"), final=True) for ts in replies]
    theirs = scheduler.edit(bystander, other, text("still here"), final=True)
    with pytest.raises(ThreadUnavailable) as raised:
        await asyncio.wait_for(asyncio.gather(*edits), TIMEOUT)
    await asyncio.wait_for(theirs, TIMEOUT)

    assert raised.value.reason == "the thread was deleted"
    assert [(c.method, c.error) for c in slack.calls[before:]] == [
        ("chat.update", "message_not_found"),
        ("chat.update", None),
    ]
    assert [e.reason for e in writer.lost_with] == ["the thread was deleted"]
    assert bystander.lost_with == []
    assert all(edit.done() for edit in edits)


async def test_429s_of_other_methods_are_still_retried_by_slack_sdk():
    limits = {
        "chat.postMessage": Limit(1, 60.0, per_channel=True),
        "reactions.add": Limit(1, 1.0),
    }
    async with SlackSandbox(rate_limits=limits) as slack:
        client = client_for(slack)
        posted = await client.chat_postMessage(channel=CHANNEL, text="one")
        with pytest.raises(SlackApiError):  # left to the scheduler: no retry here
            await client.chat_postMessage(channel=CHANNEL, text="two")
        for name in ("eyes", "scales"):
            await client.reactions_add(
                channel=CHANNEL, timestamp=posted["ts"], name=name
            )

    assert [(c.method, c.error) for c in slack.calls] == [
        ("chat.postMessage", None),
        ("chat.postMessage", "http_429"),
        ("reactions.add", None),
        ("reactions.add", "http_429"),
        ("reactions.add", None),
    ]
