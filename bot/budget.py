"""Daily cost caps per channel, kept in Redis: reserve before a consult, settle after.

The panel file's `[budget]` table sets the caps: `daily_cap_usd` for every
channel, `[budget.channels]` for some, 0 meaning no cap. A day runs from
midnight to midnight in `timezone` (an IANA name), so it lasts 23 or 25 hours
when the clocks change. Amounts are integer micro-dollars everywhere.

A channel's day is one Redis hash (layout in `bot.store`): the spend settled
so far and one field per consult still running, its hold. One Lua script
reserves: it drops the holds past their expiry (Redis's clock), checks spent
+ held + the new amount against the cap, and adds the hold, all atomically,
so however many processes reserve at once the holds never exceed the cap.
Another script settles: it swaps a hold for what the consult really cost and
adds the consult to the channel's ledger. A process that dies mid-consult
never settles; its hold expires and the room comes back.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot.store import (
    BUDGET_GRACE,
    LEDGER_LENGTH,
    LEDGER_TTL,
    Store,
    budget_key,
    ledger_key,
    store_errors,
)

logger = logging.getLogger(__name__)

MICROS_PER_USD = 1_000_000
# Lua counts in doubles: exact for integers below 2**53 micro-dollars (about
# $9 billion), so a cap, and a day's spend, stay far below that.
MAX_CAP_USD = 1_000_000
SNIPPET_CHARS = 80
_CHANNEL_ID = re.compile(r"^[A-Za-z0-9._-]+$")


def usd_to_micros(usd: float | int | str | Decimal) -> int:
    """Dollars as exact integer micro-dollars: 0.1 is 100000, never 99999."""
    exact = Decimal(str(usd)) * MICROS_PER_USD
    return int(exact.to_integral_value(rounding=ROUND_HALF_UP))


class BudgetSpec(BaseModel):
    """The `[budget]` table of the panel file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    daily_cap_usd: float = Field(default=0, ge=0, le=MAX_CAP_USD)
    timezone: str = "UTC"
    channels: dict[str, float] = Field(default_factory=dict)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone '{name}'; use an IANA name such as "
                "'America/New_York'"
            ) from None
        return name

    @field_validator("channels")
    @classmethod
    def _channel_caps(cls, caps: dict[str, float]) -> dict[str, float]:
        for channel, usd in caps.items():
            if not _CHANNEL_ID.fullmatch(channel):
                raise ValueError(
                    f"'{channel}' is not a channel id; use the id Slack shows "
                    "in the channel's details, like C0123ABCD"
                )
            if not 0 <= usd <= MAX_CAP_USD:
                raise ValueError(
                    f"the cap of {channel} must be between 0 and {MAX_CAP_USD} USD"
                )
        return caps

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def cap_micros(self, channel: str) -> int:
        """The channel's daily cap; 0 means no cap.

        A positive cap too small to count is a micro-dollar, never "no cap".
        """
        usd = self.channels.get(channel, self.daily_cap_usd)
        return max(usd_to_micros(usd), 1) if usd > 0 else 0


@dataclass(frozen=True, slots=True)
class BudgetDay:
    """One budget day: a local date, from its first instant to the next date's."""

    date: date
    starts_at: datetime  # aware, in the budget's zone
    resets_at: datetime  # aware, in the budget's zone

    @property
    def length(self) -> timedelta:
        # in UTC: between two times of one zone, Python subtracts wall clocks
        return self.resets_at.astimezone(UTC) - self.starts_at.astimezone(UTC)

    def left(self, now: datetime) -> timedelta:
        """How long until the day resets."""
        return self.resets_at.astimezone(UTC) - now.astimezone(UTC)


def budget_day(now: datetime, zone: ZoneInfo) -> BudgetDay:
    """The budget day `now` (an aware datetime) falls in, in `zone`."""
    if now.tzinfo is None:
        raise ValueError("budget_day needs an aware datetime")
    today = now.astimezone(zone).date()
    return BudgetDay(
        date=today,
        starts_at=_first_instant(today, zone),
        resets_at=_first_instant(today + timedelta(days=1), zone),
    )


def _first_instant(day: date, zone: ZoneInfo) -> datetime:
    # Local midnight, read with the offset in force before any change at that
    # moment: where the clocks skip midnight, that is the instant they jump.
    midnight = datetime.combine(day, time(0), tzinfo=zone)
    return midnight.astimezone(UTC).astimezone(zone)


@dataclass(frozen=True, slots=True)
class ChannelDay:
    """Whose budget, and which day of it."""

    team: str
    channel: str
    day: BudgetDay

    @property
    def key(self) -> str:
        return budget_key(self.team, self.channel, self.day.date)

    @property
    def expires_at(self) -> int:
        """When the day's hash may go, in Unix seconds."""
        return int((self.day.resets_at + BUDGET_GRACE).timestamp())


@dataclass(frozen=True, slots=True)
class Hold:
    """Room reserved for one consult; settle it once, or let it expire."""

    where: ChannelDay
    hold_id: str
    micros: int
    expires_at_ms: int  # on Redis's clock


@dataclass(frozen=True, slots=True)
class OverCap:
    """The reservation did not fit: what was spent and held, and what was asked."""

    spent: int
    held: int
    cap: int
    asked: int

    @property
    def room(self) -> int:
        return max(self.cap - self.spent - self.held, 0)


class LedgerEntry(BaseModel):
    """One settled consult, as `/consult budget` lists it."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    at: datetime
    kind: str  # consult, followup, escalation
    tier: str  # single, dual, full, debate
    question: str  # the opening words only
    charged_micros: int = Field(ge=0)
    exact: bool = True  # False: some usage was unknown, so its ceiling was charged


@dataclass(frozen=True, slots=True)
class BudgetStatus:
    """A channel's day as it stands: settled spend, holds of running consults."""

    spent: int
    held: int
    running: int
    recent: list[LedgerEntry]


def snippet(question: str, limit: int = SNIPPET_CHARS) -> str:
    """The question's opening words, on one line."""
    flat = " ".join(question.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


async def reserve_spend(
    store: Store,
    where: ChannelDay,
    *,
    micros: int,
    cap_micros: int,
    hold_ttl: timedelta,
) -> Hold | OverCap:
    """Hold `micros` of the channel's day if spent + held + micros fits the cap.

    A cap of 0 always fits. The hold lets itself go after `hold_ttl` unless it
    is settled first.
    """
    if micros < 0 or cap_micros < 0:
        raise ValueError("amounts are never negative")
    ttl_ms = int(hold_ttl.total_seconds() * 1000)
    if ttl_ms < 1:
        raise ValueError(f"a hold must last at least a millisecond, not {hold_ttl}")
    hold_id = uuid.uuid4().hex
    args = [cap_micros, micros, hold_id, ttl_ms, where.expires_at]
    script = store.redis.register_script(_RESERVE)
    with store_errors():
        fits, spent, held, expiry = await script(keys=[where.key], args=args)
    if not fits:
        logger.info(
            "budget refused spent=%d held=%d asked=%d cap=%d",
            spent,
            held,
            micros,
            cap_micros,
        )
        return OverCap(spent=int(spent), held=int(held), cap=cap_micros, asked=micros)
    return Hold(where=where, hold_id=hold_id, micros=micros, expires_at_ms=int(expiry))


async def settle_spend(
    store: Store,
    where: ChannelDay,
    entry: LedgerEntry,
    *,
    hold: Hold | None = None,
) -> int:
    """Record what a consult cost and let its hold go; return the day's spend."""
    args = [
        hold.hold_id if hold else "",
        entry.charged_micros,
        where.expires_at,
        entry.model_dump_json(),
        LEDGER_LENGTH,
        int(LEDGER_TTL.total_seconds()),
    ]
    keys = [where.key, ledger_key(where.team, where.channel)]
    script = store.redis.register_script(_SETTLE)
    with store_errors():
        spent, released = await script(keys=keys, args=args)
    if hold is not None and not released:
        logger.warning(
            "budget hold expired before its consult settled; raise the hold TTL "
            "hold=%s charged=%d",
            hold.hold_id,
            entry.charged_micros,
        )
    return int(spent)


async def release_hold(store: Store, hold: Hold) -> None:
    """Give a hold back, charging nothing: its consult never asked a model."""
    with store_errors():
        await store.redis.hdel(hold.where.key, f"hold:{hold.hold_id}")


async def read_budget(store: Store, where: ChannelDay) -> BudgetStatus:
    """The channel's day and its last consults, in one round trip."""
    pipe = store.redis.pipeline(transaction=False)
    pipe.hgetall(where.key)
    pipe.lrange(ledger_key(where.team, where.channel), 0, LEDGER_LENGTH - 1)
    pipe.time()
    with store_errors():
        fields, entries, (seconds, micros) = await pipe.execute()
    now_ms = seconds * 1000 + micros // 1000
    holds = _live_holds(fields, now_ms)
    return BudgetStatus(
        spent=int(fields.get("spent", 0)),
        held=sum(holds),
        running=len(holds),
        recent=[LedgerEntry.model_validate_json(entry) for entry in entries],
    )


def _live_holds(fields: Mapping[str, str], now_ms: int) -> list[int]:
    holds = []
    for name, value in fields.items():
        if name.startswith("hold:"):
            micros, expiry = value.split(" ")
            if int(expiry) > now_ms:
                holds.append(int(micros))
    return holds


# KEYS[1]: the day's budget hash. ARGV: the cap (0: none), the amount, the hold
# id, the hold's TTL in ms, when the hash expires (Unix s). Returns {fits,
# spent, held by others, the hold's expiry in ms (or now, when refused)}.
_RESERVE = """
local key = KEYS[1]
local cap = tonumber(ARGV[1])
local amount = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local spent = 0
local held = 0
local fields = redis.call('HGETALL', key)
for i = 1, #fields, 2 do
  local name = fields[i]
  if name == 'spent' then
    spent = tonumber(fields[i + 1])
  elseif string.sub(name, 1, 5) == 'hold:' then
    local micros, expiry = string.match(fields[i + 1], '^(%d+) (%d+)$')
    if tonumber(expiry) <= now then
      redis.call('HDEL', key, name)
    else
      held = held + tonumber(micros)
    end
  end
end
if cap > 0 and spent + held + amount > cap then
  return {0, spent, held, now}
end
local expiry = now + tonumber(ARGV[4])
local hold = ARGV[2] .. ' ' .. string.format('%d', expiry)
redis.call('HSET', key, 'hold:' .. ARGV[3], hold)
redis.call('EXPIREAT', key, ARGV[5])
return {1, spent, held, expiry}
"""

# KEYS[1]: the day's budget hash. KEYS[2]: the channel's ledger. ARGV: the hold
# id ('' for none), the charge, when the hash expires (Unix s), the ledger
# entry, the ledger's length and TTL (s). Returns {spent, hold released}.
_SETTLE = """
local released = 0
if ARGV[1] ~= '' then
  released = redis.call('HDEL', KEYS[1], 'hold:' .. ARGV[1])
end
local spent = redis.call('HINCRBY', KEYS[1], 'spent', ARGV[2])
redis.call('EXPIREAT', KEYS[1], ARGV[3])
redis.call('LPUSH', KEYS[2], ARGV[4])
redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[5]) - 1)
redis.call('EXPIRE', KEYS[2], ARGV[6])
return {spent, released}
"""
