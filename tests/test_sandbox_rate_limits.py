"""The sandbox's Slack rate limits, seen through the real slack_sdk client."""

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.sandbox.rate_limits import Limit, RateLimiter
from bot.sandbox.slack_api import SlackSandbox


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("calls", "expected"),
    [
        # (seconds after the start, channel) -> None (admitted) or Retry-After
        ([(0, "C1"), (0.1, "C1"), (0.2, "C1")], [None, None, 2]),
        ([(0, "C1"), (0.1, "C1"), (0.2, "C2")], [None, None, None]),
        ([(0, "C1"), (0.1, "C1"), (2.0, "C1")], [None, None, None]),
        ([(0, "C1"), (1.5, "C1"), (1.9, "C1"), (2.0, "C1")], [None, None, 1, None]),
    ],
)
def test_a_sliding_window_per_channel(calls, expected):
    clock = FakeClock()
    limiter = RateLimiter(
        {"chat.postMessage": Limit(2, 2.0, per_channel=True)}, clock=clock
    )
    start = clock.now

    got = []
    for offset, channel in calls:
        clock.now = start + offset
        got.append(limiter.admit("chat.postMessage", channel))

    assert got == expected
    refused = sum(retry_after is not None for retry_after in expected)
    assert limiter.refused.get("chat.postMessage", 0) == refused


def test_a_workspace_limit_counts_every_channel_and_other_methods_pass():
    clock = FakeClock()
    limiter = RateLimiter({"chat.update": Limit(2, 60.0)}, clock=clock)

    got = [limiter.admit("chat.update", c) for c in ("C1", "C2", "C3")]

    assert got == [None, None, 60]
    assert limiter.admit("reactions.add", "C1") is None


async def test_a_call_over_the_limit_gets_429_with_retry_after():
    limits = {"chat.postMessage": Limit(1, 30.0, per_channel=True)}
    async with SlackSandbox(rate_limits=limits) as slack:
        client = AsyncWebClient(token=slack.token, base_url=slack.api_url)
        await client.chat_postMessage(channel="C0DEMO", text="first")

        with pytest.raises(SlackApiError) as raised:
            await client.chat_postMessage(channel="C0DEMO", text="second")

    response = raised.value.response
    assert (response.status_code, response["error"]) == (429, "ratelimited")
    assert response.headers["Retry-After"] == "30"
    assert [m.text for m in slack.messages("C0DEMO")] == ["first"]
    assert slack.rate_limited == 1
    assert [c.error for c in slack.calls] == [None, "http_429"]
