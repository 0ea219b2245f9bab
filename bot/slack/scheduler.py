"""One scheduler per channel: every post and edit Quorum makes in a channel.

Slack allows about one chat.postMessage a second in a channel and keeps
chat.update to its Tier 3 (about 50 a minute across the workspace). Three
answers streaming at once would break both, so writers never call these two
methods themselves. They hand the channel's scheduler new messages (posts) and
live messages to bring up to date (edits), and the scheduler decides what goes
out when:

- Posts go out in the order given, paced per channel, and always land.
- An edit names a message and a function that renders it *now*; a newer edit
  of the same message merges into a pending one, so only the latest text is
  ever sent, and a render that changes nothing costs no call.
- Final edits (an answer's last text, a part that is complete, the question's
  done mark) go before intermediate ones, and intermediate ones leave a few
  update tokens for them: intermediate frames are dropped first; final ones
  wait and retry until they land.
- A message is edited at most once per `message_interval_s` while it streams.
- HTTP 429 or a `ratelimited` error pauses that method for its Retry-After,
  and the call goes back in the queue.

slack_sdk's `AsyncRateLimitErrorRetryHandler` sleeps and retries inside the
call: it would re-send a stale frame and hide the 429 from the scheduler. The
app uses `RetryOutsideScheduler` (in `rate_limits`) instead, which leaves these
two methods' 429s to the scheduler and still retries every other method's.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import metrics
from bot.errors import SlackWriteError, ThreadUnavailable, slack_thread_error
from bot.slack.rate_limits import SlackLimits, TokenBucket, retry_after_s

logger = logging.getLogger(__name__)

Payload = dict[str, Any]
Render = Callable[[], Payload]

MAX_TRIES = 30  # a final write that Slack refuses this often is given up, loudly
_TRANSIENT = {"internal_error", "fatal_error", "service_unavailable", "request_timeout"}


class Owner(Protocol):
    """Whoever a write is for: told once when its thread is gone."""

    def lost(self, error: ThreadUnavailable) -> None: ...


@dataclass
class _Job:
    owner: Owner
    render: Render
    final: bool
    order: int
    waiters: list[asyncio.Future[Any]] = field(default_factory=list)
    tries: int = 0
    not_before: float = 0.0

    def settle(self, result: Any = None, error: BaseException | None = None) -> None:
        for waiter in self.waiters:
            if waiter.done():
                continue
            if error is None:
                waiter.set_result(result)
            else:
                waiter.set_exception(error)


@dataclass
class _Post(_Job):
    pass


@dataclass
class _Edit(_Job):
    ts: str = ""


@dataclass
class _Shown:
    owner: Owner
    payload: Payload
    sent_at: float


@dataclass
class SchedulerStats:
    calls: int = 0
    rate_limited: int = 0
    skipped: int = 0  # edits that changed nothing, so cost no call


class ChannelScheduler:
    """Owns every chat.postMessage and chat.update in one channel."""

    def __init__(
        self,
        client: AsyncWebClient,
        channel: str,
        limits: SlackLimits,
        updates: TokenBucket,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.channel = channel
        self.limits = limits
        self.stats = SchedulerStats()
        self._clock = clock
        self._posts_bucket = TokenBucket(limits.posts_per_s, limits.post_burst, clock)
        self._updates_bucket = updates
        self._posts: deque[_Post] = deque()
        self._edits: dict[str, _Edit] = {}
        self._shown: dict[str, _Shown] = {}
        self._order = itertools.count()
        self._wake = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None

    async def post(self, owner: Owner, render: Render) -> Payload:
        """Post a new message once the channel allows; Slack's response."""
        waiter = asyncio.get_running_loop().create_future()
        job = _Post(owner, render, final=True, order=next(self._order))
        job.waiters.append(waiter)
        self._posts.append(job)
        self._kick()
        return await waiter

    def edit(
        self, owner: Owner, ts: str, render: Render, *, final: bool
    ) -> asyncio.Future[Any]:
        """Bring message `ts` up to date; done once it shows this render or a newer.

        A pending edit of the same message takes the newer render instead.
        """
        waiter = asyncio.get_running_loop().create_future()
        waiter.add_done_callback(_quiet)  # a writer that moved on need not look
        pending = self._edits.get(ts)
        if pending is None:
            pending = _Edit(owner, render, final, next(self._order), ts=ts)
            self._edits[ts] = pending
        pending.render = render
        pending.final = pending.final or final
        pending.waiters.append(waiter)
        self._kick()
        return waiter

    def forget(self, owner: Owner) -> None:
        """Drop what the scheduler remembers of `owner`'s messages."""
        for ts in [ts for ts, shown in self._shown.items() if shown.owner is owner]:
            del self._shown[ts]

    def _kick(self) -> None:
        self._wake.set()
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._work())

    async def _work(self) -> None:
        while self._posts or self._edits:
            job, wait = self._next(self._clock())
            if job is None:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), wait)
                except TimeoutError:
                    pass  # something falls due now
                continue
            try:
                await self._send(job)
            except Exception as exc:  # a bug here must not stall the whole channel
                logger.exception("slack write failed channel=%s", self.channel)
                job.settle(error=SlackWriteError(type(exc).__name__))

    def _next(self, now: float) -> tuple[_Job | None, float]:
        """The job to send now, or None and how long until one may go."""
        waits = [3600.0]
        if self._posts:
            head = self._posts[0]
            wait = max(self._posts_bucket.wait_s(now), head.not_before - now)
            if wait <= 0:
                return self._posts.popleft(), 0.0
            waits.append(wait)
        finals = [e for e in self._edits.values() if e.final]
        if finals:
            first = min(finals, key=lambda e: (e.not_before, e.order))
            wait = max(self._updates_bucket.wait_s(now), first.not_before - now)
            if wait <= 0:
                return self._edits.pop(first.ts), 0.0
            waits.append(wait)
        frames = [e for e in self._edits.values() if not e.final]
        if frames:
            first = min(frames, key=self._due)
            need = 1.0 + self.limits.final_reserve
            wait = max(self._updates_bucket.wait_s(now, need), self._due(first) - now)
            if wait <= 0:
                return self._edits.pop(first.ts), 0.0
            waits.append(wait)
        return None, min(waits)

    def _due(self, edit: _Edit) -> float:
        shown = self._shown.get(edit.ts)
        sent_at = shown.sent_at if shown else 0.0
        return max(sent_at + self.limits.message_interval_s, edit.not_before)

    async def _send(self, job: _Job) -> None:
        payload = job.render()
        if isinstance(job, _Edit):
            shown = self._shown.get(job.ts)
            if shown is not None and _shows(shown.payload, payload):
                self.stats.skipped += 1
                job.settle()
                return
            method, bucket = "chat_update", self._updates_bucket
            arguments = {"channel": self.channel, "ts": job.ts, **payload}
        else:
            method, bucket = "chat_postMessage", self._posts_bucket
            arguments = {"channel": self.channel, **payload}
        bucket.take(self._clock())
        job.tries += 1
        self.stats.calls += 1
        try:
            response = await getattr(self.client, method)(**arguments)
        except SlackApiError as exc:
            self._refused(job, bucket, exc)
            return
        except (aiohttp.ClientError, TimeoutError) as exc:
            self._retry_or_fail(job, SlackWriteError(type(exc).__name__))
            return
        data = response.data if hasattr(response, "data") else response
        ts = job.ts if isinstance(job, _Edit) else str(data["ts"])
        self._shown[ts] = _Shown(job.owner, payload, self._clock())
        job.settle(data)

    def _refused(self, job: _Job, bucket: TokenBucket, exc: SlackApiError) -> None:
        response = exc.response
        code = str(response.get("error") or "") if response is not None else ""
        status = getattr(response, "status_code", None)
        if status == 429 or code == "ratelimited":
            retry_after = retry_after_s(getattr(response, "headers", None) or {})
            bucket.pause(self._clock(), retry_after)
            self.stats.rate_limited += 1
            method = "chat.update" if isinstance(job, _Edit) else "chat.postMessage"
            metrics.SLACK_RATE_LIMITED.labels(method).inc()
            logger.info(
                "slack rate limited channel=%s retry_after_s=%.0f",
                self.channel,
                retry_after,
            )
            self._requeue(job, delay=0.0)
            return
        gone = slack_thread_error(code)
        if gone is not None:
            self._abandon(job, gone)
            return
        error = SlackWriteError(code or f"HTTP {status}")
        if code in _TRANSIENT or (status or 0) >= 500:
            self._retry_or_fail(job, error)
            return
        self._fail(job, error)

    def _retry_or_fail(self, job: _Job, error: SlackWriteError) -> None:
        if job.final and job.tries < 4:
            self._requeue(job, delay=2.0**job.tries)
        else:
            self._fail(job, error)

    def _requeue(self, job: _Job, *, delay: float) -> None:
        if job.tries >= MAX_TRIES:
            self._fail(job, SlackWriteError("still rate limited"))
            return
        job.not_before = self._clock() + delay
        if isinstance(job, _Post):
            self._posts.appendleft(job)
            return
        assert isinstance(job, _Edit)
        newer = self._edits.get(job.ts)
        if newer is None:
            self._edits[job.ts] = job
        else:  # the newer render wins; the older one's waiters wait for it
            newer.final = newer.final or job.final
            newer.waiters.extend(job.waiters)

    def _fail(self, job: _Job, error: SlackWriteError) -> None:
        if job.final:
            logger.error(
                "slack write given up channel=%s error=%s tries=%d",
                self.channel,
                error.code,
                job.tries,
            )
            job.settle(error=error)
        else:  # a dropped frame: the next one, or the final one, carries the text
            logger.warning(
                "slack frame dropped channel=%s error=%s", self.channel, error.code
            )
            job.settle()

    def _abandon(self, job: _Job, gone: ThreadUnavailable) -> None:
        """The owner's thread is gone: fail its queued writes and tell it once."""
        owner = job.owner
        dropped = [job] + [p for p in self._posts if p.owner is owner]
        dropped += [e for e in self._edits.values() if e.owner is owner]
        self._posts = deque(p for p in self._posts if p.owner is not owner)
        self._edits = {ts: e for ts, e in self._edits.items() if e.owner is not owner}
        self.forget(owner)
        logger.info(
            "slack thread gone channel=%s reason=%r dropped_writes=%d",
            self.channel,
            gone.reason,
            len(dropped),
        )
        for each in dropped:
            each.settle(error=gone)
        owner.lost(gone)


class ChannelSchedulers:
    """The process's schedulers, one per channel, sharing the workspace's
    chat.update budget. Build one per app and pass it to every writer."""

    def __init__(
        self,
        limits: SlackLimits | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limits = limits or SlackLimits()
        self._clock = clock
        self._updates = TokenBucket(
            self.limits.updates_per_min / 60.0, self.limits.update_burst, clock
        )
        self._channels: dict[str, ChannelScheduler] = {}

    def for_channel(self, client: AsyncWebClient, channel: str) -> ChannelScheduler:
        scheduler = self._channels.get(channel)
        if scheduler is None:
            scheduler = ChannelScheduler(
                client, channel, self.limits, self._updates, self._clock
            )
            self._channels[channel] = scheduler
        scheduler.client = client  # the newest client carries the newest token
        return scheduler


def _shows(shown: Payload, payload: Payload) -> bool:
    """Whether the message as last sent already shows everything in `payload`."""
    return all(shown.get(key) == value for key, value in payload.items())


def _quiet(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()  # marks it seen, so asyncio logs nothing at exit
