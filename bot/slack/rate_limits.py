"""Slack's rate limits as the app keeps to them.

`SlackLimits` says what the scheduler keeps to, `TokenBucket` paces one
method, and `RetryOutsideScheduler` keeps slack_sdk's own 429 retries for
every method except the two the channel scheduler paces: slack_sdk sleeps and
retries inside the call, which would re-send a stale frame and hide the 429
from the scheduler.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

SCHEDULED_METHODS = ("chat.postMessage", "chat.update")


@dataclass(frozen=True)
class SlackLimits:
    """What the scheduler keeps to; the default rates are Slack's documented ones."""

    posts_per_s: float = 1.0  # chat.postMessage, per channel
    post_burst: int = 4  # Slack grants "generous bursts" above one a second
    updates_per_min: float = 50.0  # chat.update, Tier 3, per workspace
    update_burst: int = 10
    final_reserve: int = 2  # update tokens intermediate frames leave to final edits
    message_interval_s: float = 1.0  # between edits of one streaming message

    def __post_init__(self) -> None:
        if not 0 <= self.final_reserve < self.update_burst:
            raise ValueError("final_reserve must be at least 0 and below update_burst")


class TokenBucket:
    """`rate_per_s` tokens a second up to `burst`; a 429 pauses it."""

    def __init__(
        self, rate_per_s: float, burst: int, clock: Callable[[], float]
    ) -> None:
        self.rate = rate_per_s
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._updated = clock()
        self._paused_until = 0.0

    def wait_s(self, now: float, need: float = 1.0) -> float:
        """Seconds until `need` tokens are there (0: now)."""
        self._refill(now)
        short = max(0.0, need - self._tokens) / self.rate
        return max(short, self._paused_until - now, 0.0)

    def take(self, now: float) -> None:
        self._refill(now)
        self._tokens -= 1

    def pause(self, now: float, seconds: float) -> None:
        """Slack said wait: nothing until then, one token when it ends."""
        self._paused_until = max(self._paused_until, now + seconds)
        self._tokens = 1.0
        self._updated = self._paused_until

    def _refill(self, now: float) -> None:
        if now > self._updated:
            gained = (now - self._updated) * self.rate
            self._tokens = min(float(self.burst), self._tokens + gained)
            self._updated = now


class RetryOutsideScheduler(AsyncRateLimitErrorRetryHandler):
    """slack_sdk's 429 retries, except for the methods the scheduler paces."""

    async def _can_retry_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        if request.url.rstrip("/").rsplit("/", 1)[-1] in SCHEDULED_METHODS:
            return False
        return await super()._can_retry_async(
            state=state, request=request, response=response, error=error
        )


def retry_after_s(headers: dict[str, Any]) -> float:
    for name, value in headers.items():
        if name.lower() == "retry-after":
            value = value[0] if isinstance(value, list) else value
            try:
                return max(0.0, float(value))
            except ValueError:
                break
    return 1.0
