"""Slack's Web API rate limits, as the sandbox enforces them.

Slack limits each method per workspace (its tiers: chat.update is Tier 3,
about 50 calls a minute) and a few per channel as well (chat.postMessage:
about one message a second in a channel, short bursts allowed). A call over a
limit gets HTTP 429, `{"ok": false, "error": "ratelimited"}` and a
`Retry-After` header in whole seconds; it does not count against the limit.

The sandbox counts calls in a sliding window, which is stricter than the
token buckets Quorum's scheduler keeps: a client that only just keeps to its
own idea of the limit still meets an occasional 429 and must honour it.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Limit:
    """At most `calls` calls in any `per_s` seconds, per channel if `per_channel`."""

    calls: int
    per_s: float
    per_channel: bool = False


Limits = Mapping[str, Limit]  # Web API method name -> its limit

# What Slack documents. The demo and most tests use GENEROUS_LIMITS; tests of
# rate limiting pass their own, tighter ones.
SLACK_LIMITS: Limits = {
    "chat.postMessage": Limit(calls=5, per_s=5.0, per_channel=True),
    "chat.update": Limit(calls=50, per_s=60.0),
}
GENEROUS_LIMITS: Limits = {
    "chat.postMessage": Limit(calls=20, per_s=1.0, per_channel=True),
    "chat.update": Limit(calls=600, per_s=60.0),
}


class RateLimiter:
    """Admits or refuses calls by method (and channel); counts what it refused."""

    def __init__(
        self, limits: Limits, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limits = dict(limits)
        self.refused: dict[str, int] = {}
        self._clock = clock
        self._admitted: dict[tuple[str, str], deque[float]] = {}

    def admit(self, method: str, channel: str | None) -> int | None:
        """None if the call may go ahead, else the Retry-After in whole seconds."""
        limit = self.limits.get(method)
        if limit is None:
            return None
        key = (method, str(channel or "") if limit.per_channel else "")
        window = self._admitted.setdefault(key, deque())
        now = self._clock()
        while window and window[0] <= now - limit.per_s:
            window.popleft()
        if len(window) < limit.calls:
            window.append(now)
            return None
        self.refused[method] = self.refused.get(method, 0) + 1
        return max(1, math.ceil(window[0] + limit.per_s - now))
