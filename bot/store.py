"""Redis: the connection, and every key Quorum writes, each defined once here.

All state another process could need lives in Redis (see DESIGN.md). Every key
starts with `quorum:`. Keys that belong to a channel carry the Redis Cluster
hash tag `{T:C}`, written `{<team id>:<channel id>}`, so all of one channel's
keys share a slot and a Lua script may touch any of them on a cluster.

| key | type | TTL | holds |
|---|---|---|---|
| `quorum:event:<event_id>` | string | 1 h | claim on one Slack event |
| `quorum:{T:C}:message:<ts>` | string | 1 h | claim: one consult per message |
| `quorum:{T:C}:escalation:<thread_ts>:<turn>` | string | thread | claim: escalated |
| `quorum:{T:C}:thread:<thread_ts>` | hash | thread, renewed | the conversation |
| `quorum:{T:C}:budget:<date>` | hash | its day + 2 days | spend and holds |
| `quorum:{T:C}:ledger` | list | 30 days, renewed | the last consults |

A claim's value names who took it (`host:pid`), for whoever debugs a lost
event. "thread" is the thread TTL: 7 days unless the settings say otherwise;
every write to a conversation starts it again. The conversation hash has these
fields, each value a JSON object of a `bot.memory` model:

| field | holds |
|---|---|
| `turns` | how many turns the thread has (an integer, not JSON) |
| `turn:<i>` | turn `i` (from 0): question, tier, asker, kind, turns trimmed |
| `turn:<i>:answer:<alias>` | one model's answer: text, tokens, cost, status |
| `turn:<i>:synthesis` | its synthesis: summary, verdict lines, confidence |

One field per answer lets two processes add answers to the same turn at once
without reading each other's writes first. Why the claims live as long as
they do is in `bot.dedupe`.

A channel's budget for one day is one hash, named by the local date in the
panel file's `[budget] timezone` (`2025-03-09`); it expires two days after
that day ends, so a consult that straddles midnight still settles into it:

| field | holds |
|---|---|
| `spent` | micro-dollars settled that day (an integer) |
| `hold:<id>` | one running consult's reservation: `<micro-dollars> <expiry ms>` |

A hold's expiry is on Redis's clock; every reservation prunes the expired
ones, so a process that dies mid-consult gives its hold back. The ledger
holds the channel's last 10 consults, newest first, as JSON (`bot.budget`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from urllib.parse import urlsplit

import fakeredis
from pydantic import BaseModel, ConfigDict, Field
from redis import exceptions as redis_errors
from redis.asyncio import Redis

from bot.errors import ConfigError, StoreUnavailable, store_error

logger = logging.getLogger(__name__)

PREFIX = "quorum"
LOCAL_REDIS_URL = "redis://127.0.0.1:6379/0"
PROBE_TIMEOUT_S = 0.5  # how long a local Redis gets to answer before the fallback
CONNECT_TIMEOUT_S = 5.0
COMMAND_TIMEOUT_S = 5.0  # no Quorum command blocks; a slower reply means trouble

EVENT_CLAIM_TTL = timedelta(hours=1)
MESSAGE_CLAIM_TTL = timedelta(hours=1)
THREAD_TTL = timedelta(days=7)
BUDGET_GRACE = timedelta(days=2)  # how long a day's budget outlives the day
LEDGER_TTL = timedelta(days=30)
LEDGER_LENGTH = 10

# Slack ids and timestamps: letters, digits, dots ("1700000000.000100").
# Anything else could forge a hash tag or another key's shape.
_ID = r"^[A-Za-z0-9._-]+$"
_ID_RE = re.compile(_ID)


class ThreadRef(BaseModel):
    """One Slack thread: the workspace, the channel and the thread's root ts."""

    model_config = ConfigDict(frozen=True)

    team: str = Field(pattern=_ID)
    channel: str = Field(pattern=_ID)
    thread_ts: str = Field(pattern=_ID)


def channel_tag(team: str, channel: str) -> str:
    """The prefix, with hash tag, that every key of one channel starts with."""
    return f"{PREFIX}:{{{_id(team)}:{_id(channel)}}}"


def event_key(event_id: str) -> str:
    return f"{PREFIX}:event:{_id(event_id)}"


def message_key(team: str, channel: str, ts: str) -> str:
    return f"{channel_tag(team, channel)}:message:{_id(ts)}"


def escalation_key(thread: ThreadRef, turn: int) -> str:
    if turn < 0:
        raise ValueError(f"turn must be 0 or more, not {turn}")
    return f"{_thread_tag(thread)}:escalation:{thread.thread_ts}:{turn}"


def thread_key(thread: ThreadRef) -> str:
    return f"{_thread_tag(thread)}:thread:{thread.thread_ts}"


def budget_key(team: str, channel: str, day: date) -> str:
    """One channel's spend and holds on one local day."""
    return f"{channel_tag(team, channel)}:budget:{day.isoformat()}"


def ledger_key(team: str, channel: str) -> str:
    """One channel's last consults, newest first."""
    return f"{channel_tag(team, channel)}:ledger"


def _thread_tag(thread: ThreadRef) -> str:
    return channel_tag(thread.team, thread.channel)


def _id(part: str) -> str:
    if not _ID_RE.fullmatch(part):
        raise ValueError(f"not a Slack id or timestamp: {part!r}")
    return part


@dataclass(frozen=True, slots=True)
class Store:
    """The Redis client every module shares, and where it points.

    `embedded` is True for the in-process fallback: nothing persists and only
    one process may use it.
    """

    redis: Redis
    embedded: bool
    url: str | None = None

    def describe(self) -> str:
        """Where the store is, for logs; never shows a password."""
        if self.embedded:
            return "embedded in-process store (nothing persists)"
        return f"Redis at {redacted_url(self.url or '')}"

    async def ping(self) -> None:
        """Raise `StoreUnavailable` unless Redis answers."""
        with store_errors():
            await self.redis.ping()

    async def aclose(self) -> None:
        await self.redis.aclose()


async def open_store(
    redis_url: str | None,
    *,
    local_url: str = LOCAL_REDIS_URL,
    probe_timeout_s: float = PROBE_TIMEOUT_S,
) -> Store:
    """Connect to `redis_url`, else a local Redis, else an embedded store.

    A configured URL that does not answer raises `StoreUnavailable`: several
    processes must never fall back to private stores without a word. Without
    one, a Redis on `local_url` is used when it answers within
    `probe_timeout_s`, and the embedded store otherwise, with one warning.
    """
    if redis_url:
        return await _connect(redis_url, CONNECT_TIMEOUT_S)
    try:
        return await _connect(local_url, probe_timeout_s)
    except StoreUnavailable:
        return _embedded(local_url)


async def _connect(url: str, connect_timeout_s: float) -> Store:
    try:
        client = Redis.from_url(
            url,
            decode_responses=True,
            socket_connect_timeout=connect_timeout_s,
            socket_timeout=COMMAND_TIMEOUT_S,
        )
    except ValueError as exc:
        raise ConfigError(f"REDIS_URL: {exc}") from None
    try:
        with store_errors():
            await client.ping()
    except StoreUnavailable:
        await client.aclose()
        raise
    store = Store(redis=client, embedded=False, url=url)
    logger.info("store connected to %s", store.describe())
    return store


def _embedded(local_url: str) -> Store:
    logger.warning(
        "REDIS_URL is unset and no Redis answers at %s: using an embedded "
        "in-process store. Nothing persists across restarts, and only one "
        "process may run; set REDIS_URL for anything else.",
        redacted_url(local_url),
    )
    client = fakeredis.FakeAsyncRedis(
        server=fakeredis.FakeServer(version=(7,)), decode_responses=True
    )
    return Store(redis=client, embedded=True)


@contextmanager
def store_errors() -> Iterator[None]:
    """Raise `StoreUnavailable` for any redis-py error inside the block."""
    try:
        yield
    except (redis_errors.RedisError, OSError) as exc:
        raise store_error(exc) from exc


def redacted_url(url: str) -> str:
    """`url` without its password or query (which may carry one)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    if parts.password is not None:
        host = f"{parts.username or ''}:***@{host}"
    elif parts.username:
        host = f"{parts.username}@{host}"
    return f"{parts.scheme}://{host}{parts.path}"
