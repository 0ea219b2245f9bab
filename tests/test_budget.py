"""Daily caps: the `[budget]` table, days in a zone, and holds on a real Redis."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio
from conftest import RedisSpace

from bot.budget import (
    ChannelDay,
    Hold,
    LedgerEntry,
    OverCap,
    budget_day,
    read_budget,
    release_hold,
    reserve_spend,
    settle_spend,
    usd_to_micros,
)
from bot.errors import ConfigError
from bot.panel import parse_panel
from bot.store import LEDGER_LENGTH, Store, budget_key, ledger_key, open_store

PANEL = """
[models.swift]
model = "openai/quorum-swift"
input_cost_per_mtok = 0.25
output_cost_per_mtok = 2.0

[tiers]
single = ["swift"]
dual = ["swift"]
full = ["swift"]

[synthesis]
model = "swift"
"""
NOON = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
LONG = timedelta(minutes=10)


def panel_with(budget: str):
    return parse_panel(PANEL + budget, source="quorum.toml")


@pytest.mark.parametrize(
    ("budget", "caps", "zone"),
    [
        ("", {"C0ANY": 0}, "UTC"),
        (
            '[budget]\ndaily_cap_usd = 5\ntimezone = "America/New_York"\n'
            "[budget.channels]\nC0PRICEY = 20\nC0FREE = 0\n",
            {"C0ANY": 5_000_000, "C0PRICEY": 20_000_000, "C0FREE": 0},
            "America/New_York",
        ),
        ("[budget]\ndaily_cap_usd = 0.1\n", {"C0ANY": 100_000}, "UTC"),
        ("[budget.channels]\nC0ONE = 2.5\n", {"C0ONE": 2_500_000, "C0ANY": 0}, "UTC"),
        # too small to count is still a cap, never "no cap"
        ("[budget]\ndaily_cap_usd = 1e-9\n", {"C0ANY": 1}, "UTC"),
    ],
)
def test_caps_come_from_the_panel_file(budget, caps, zone):
    spec = panel_with(budget).budget

    assert {channel: spec.cap_micros(channel) for channel in caps} == caps
    assert spec.zone == ZoneInfo(zone)


@pytest.mark.parametrize(
    ("budget", "message"),
    [
        (
            '[budget]\ntimezone = "Mars/Olympus"\n',
            "quorum.toml: budget.timezone: unknown time zone 'Mars/Olympus'; "
            "use an IANA name such as 'America/New_York'",
        ),
        (
            "[budget]\ndaily_cap_usd = -1\n",
            "quorum.toml: budget.daily_cap_usd: Input should be greater than or "
            "equal to 0",
        ),
        (
            '[budget.channels]\n"#eng" = 5\n',
            "quorum.toml: budget.channels: '#eng' is not a channel id; use the id "
            "Slack shows in the channel's details, like C0123ABCD",
        ),
        (
            "[budget.channels]\nC0ONE = -2\n",
            "quorum.toml: budget.channels: the cap of C0ONE must be between 0 and "
            "1000000 USD",
        ),
        (
            "[budget]\ndayly_cap_usd = 5\n",
            "quorum.toml: unknown key 'budget.dayly_cap_usd' (check the spelling "
            "against the README)",
        ),
    ],
)
def test_a_bad_budget_table_stops_start_up_with_one_line(budget, message):
    with pytest.raises(ConfigError) as raised:
        panel_with(budget)

    assert str(raised.value) == message


@pytest.mark.parametrize(
    ("usd", "micros"),
    [
        (0.1, 100_000),
        (0.2, 200_000),
        (0.3, 300_000),
        ("0.000001", 1),
        ("0.0000005", 1),  # half a micro-dollar rounds up
        ("0.0000004", 0),
        (1_000_000, 1_000_000_000_000),
        (19.99, 19_990_000),
    ],
)
def test_dollars_become_exact_micro_dollars(usd, micros):
    assert usd_to_micros(usd) == micros


NEW_YORK, SANTIAGO = "America/New_York", "America/Santiago"
KOLKATA = "Asia/Kolkata"


@pytest.mark.parametrize(
    ("zone", "now", "day", "resets_at", "hours"),
    [
        # the night before the clocks spring forward (9 March 2025, 02:00 EST)
        (NEW_YORK, "2025-03-09T04:59:59Z", "2025-03-08", "2025-03-09T00:00-05:00", 24),
        (NEW_YORK, "2025-03-09T05:00:00Z", "2025-03-09", "2025-03-10T00:00-04:00", 23),
        (NEW_YORK, "2025-03-09T06:59:59Z", "2025-03-09", "2025-03-10T00:00-04:00", 23),
        (NEW_YORK, "2025-03-09T07:00:00Z", "2025-03-09", "2025-03-10T00:00-04:00", 23),
        (NEW_YORK, "2025-03-10T03:59:59Z", "2025-03-09", "2025-03-10T00:00-04:00", 23),
        (NEW_YORK, "2025-03-10T04:00:00Z", "2025-03-10", "2025-03-11T00:00-04:00", 24),
        # the clocks fall back (2 November 2025, 02:00 EDT): 01:30 happens twice
        (NEW_YORK, "2025-11-02T03:59:59Z", "2025-11-01", "2025-11-02T00:00-04:00", 24),
        (NEW_YORK, "2025-11-02T04:00:00Z", "2025-11-02", "2025-11-03T00:00-05:00", 25),
        (NEW_YORK, "2025-11-02T05:30:00Z", "2025-11-02", "2025-11-03T00:00-05:00", 25),
        (NEW_YORK, "2025-11-02T06:30:00Z", "2025-11-02", "2025-11-03T00:00-05:00", 25),
        (NEW_YORK, "2025-11-03T04:59:59Z", "2025-11-02", "2025-11-03T00:00-05:00", 25),
        (NEW_YORK, "2025-11-03T05:00:00Z", "2025-11-03", "2025-11-04T00:00-05:00", 24),
        # Chile skips midnight itself: 8 September 2024 starts at 01:00
        (SANTIAGO, "2024-09-08T03:59:59Z", "2024-09-07", "2024-09-08T01:00-03:00", 24),
        (SANTIAGO, "2024-09-08T04:00:00Z", "2024-09-08", "2024-09-09T00:00-03:00", 23),
        ("UTC", "2025-03-09T23:59:59Z", "2025-03-09", "2025-03-10T00:00+00:00", 24),
        (
            "Asia/Kolkata",
            "2025-03-09T18:29:59Z",
            "2025-03-09",
            "2025-03-10T00:00+05:30",
            24,
        ),
    ],
)
def test_a_day_runs_midnight_to_midnight_in_its_zone(zone, now, day, resets_at, hours):
    instant = datetime.fromisoformat(now)

    got = budget_day(instant, ZoneInfo(zone))

    assert got.date.isoformat() == day
    assert got.resets_at.isoformat(timespec="minutes") == resets_at
    assert got.length == timedelta(hours=hours)
    assert got.starts_at <= instant < got.resets_at


@pytest.mark.parametrize(
    "zone", [NEW_YORK, SANTIAGO, "Europe/London", "Australia/Lord_Howe", "Pacific/Apia"]
)
def test_every_instant_of_two_years_falls_in_the_day_of_its_date(zone):
    tz = ZoneInfo(zone)
    instant = datetime(2024, 1, 1, tzinfo=UTC)
    while instant < datetime(2026, 1, 1, tzinfo=UTC):
        day = budget_day(instant, tz)
        assert day.date == instant.astimezone(tz).date()
        assert day.starts_at <= instant < day.resets_at, instant
        instant += timedelta(minutes=30)


def test_a_naive_time_is_refused():
    with pytest.raises(ValueError):
        budget_day(datetime(2025, 3, 9, 12, 0), ZoneInfo("UTC"))


# ---- holds on a real Redis ----


def where(space: RedisSpace) -> ChannelDay:
    """Today, in UTC: a day long past would expire its keys at once."""
    today = budget_day(datetime.now(UTC), ZoneInfo("UTC"))
    return ChannelDay(space.team, space.channel, today)


def entry(charged: int, question: str = "Redis or Postgres?") -> LedgerEntry:
    return LedgerEntry(
        at=NOON, kind="consult", tier="full", question=question, charged_micros=charged
    )


async def redis_now_ms(store: Store) -> int:
    seconds, micros = await store.redis.time()
    return seconds * 1000 + micros // 1000


async def until_redis_clock_passes(store: Store, at_ms: int) -> None:
    """Wait on Redis's own clock; each pause is what is left, never longer."""
    async with asyncio.timeout(5):
        while (now := await redis_now_ms(store)) <= at_ms:
            await asyncio.sleep((at_ms - now + 1) / 1000)


@pytest_asyncio.fixture
async def clients(store: Store, redis_url: str) -> AsyncIterator[list[Store]]:
    """Four separate clients of one server, as four processes would have."""
    extra = [await open_store(redis_url) for _ in range(3)]
    try:
        yield [store, *extra]
    finally:
        for client in extra:
            await client.aclose()


CONSULT = 12_345  # one consult's ceiling, micro-dollars
FITS_TEN = 10 * CONSULT + CONSULT // 2


async def test_a_hundred_consults_at_once_on_a_cap_that_fits_ten_hold_ten(
    clients: list[Store], redis_space: RedisSpace
):
    here = where(redis_space)

    holds = await asyncio.gather(
        *(
            reserve_spend(
                clients[i % len(clients)],
                here,
                micros=CONSULT,
                cap_micros=FITS_TEN,
                hold_ttl=LONG,
            )
            for i in range(100)
        )
    )

    granted = [h for h in holds if isinstance(h, Hold)]
    refused = [h for h in holds if isinstance(h, OverCap)]
    assert (len(granted), len(refused)) == (10, 90)
    assert all(r.spent + r.held + r.asked > FITS_TEN for r in refused)
    status = await read_budget(clients[1], here)
    assert (status.held, status.running) == (10 * CONSULT, 10)

    # each settles at its whole ceiling: the most the cap can be asked to take
    spent = await asyncio.gather(
        *(
            settle_spend(clients[i % len(clients)], here, entry(CONSULT), hold=h)
            for i, h in enumerate(granted)
        )
    )
    worst_overshoot = max(spent) - FITS_TEN
    assert worst_overshoot <= 0
    assert max(spent) == 10 * CONSULT
    assert (await read_budget(clients[2], here)).held == 0


async def test_consults_that_settle_while_others_reserve_never_pass_the_cap(
    clients: list[Store], redis_space: RedisSpace
):
    here = where(redis_space)
    draw = random.Random(4)
    charges = [draw.randint(0, CONSULT) for _ in range(100)]
    seen: list[int] = []

    async def one_consult(n: int) -> bool:
        client = clients[n % len(clients)]
        hold = await reserve_spend(
            client, here, micros=CONSULT, cap_micros=FITS_TEN, hold_ttl=LONG
        )
        if isinstance(hold, OverCap):
            seen.append(hold.spent + hold.held)
            return False
        await asyncio.sleep(0)  # let the others in between reserve and settle
        seen.append(await settle_spend(client, here, entry(charges[n]), hold=hold))
        return True

    ran = await asyncio.gather(*(one_consult(n) for n in range(100)))

    status = await read_budget(clients[0], here)
    assert status.held == 0
    assert status.spent == sum(c for c, r in zip(charges, ran, strict=True) if r)
    assert max(seen) <= FITS_TEN  # the worst overshoot seen is zero
    assert sum(ran) >= 10  # settled consults gave back what they did not use


async def test_a_hold_whose_process_died_is_released_after_its_ttl(
    store: Store, other_store: Store, redis_space: RedisSpace
):
    here = where(redis_space)
    dead = await reserve_spend(
        store,
        here,
        micros=CONSULT,
        cap_micros=CONSULT,
        hold_ttl=timedelta(milliseconds=300),
    )
    assert isinstance(dead, Hold)
    # its process never settles; until the hold expires, nothing else fits
    blocked = await reserve_spend(
        other_store, here, micros=1, cap_micros=CONSULT, hold_ttl=LONG
    )
    assert blocked == OverCap(spent=0, held=CONSULT, cap=CONSULT, asked=1)

    await until_redis_clock_passes(other_store, dead.expires_at_ms)

    assert (await read_budget(other_store, here)).held == 0
    later = await reserve_spend(
        other_store, here, micros=CONSULT, cap_micros=CONSULT, hold_ttl=LONG
    )
    assert isinstance(later, Hold)
    fields = await store.redis.hgetall(here.key)
    assert f"hold:{dead.hold_id}" not in fields  # the script pruned it


@pytest.mark.parametrize(
    ("held", "charged", "spent_after"),
    [
        (50_000, 31_234, 31_234),  # the usual: cheaper than the ceiling
        (50_000, 50_000, 50_000),  # usage unknown: the hold stands
        (50_000, 0, 0),  # every model refused before answering
        (50_000, 50_100, 50_100),  # a provider counted more than litellm did
    ],
)
async def test_settling_swaps_the_hold_for_the_charge(
    store: Store, redis_space: RedisSpace, held, charged, spent_after
):
    here = where(redis_space)
    hold = await reserve_spend(
        store, here, micros=held, cap_micros=100_000, hold_ttl=LONG
    )
    assert isinstance(hold, Hold)

    assert await settle_spend(store, here, entry(charged), hold=hold) == spent_after

    status = await read_budget(store, here)
    assert (status.spent, status.held, status.running) == (spent_after, 0, 0)


async def test_a_released_hold_charges_nothing(store: Store, redis_space: RedisSpace):
    here = where(redis_space)
    hold = await reserve_spend(store, here, micros=9, cap_micros=10, hold_ttl=LONG)
    assert isinstance(hold, Hold)

    await release_hold(store, hold)

    status = await read_budget(store, here)
    assert (status.spent, status.held, status.recent) == (0, 0, [])


async def test_a_cap_of_zero_holds_anything(store: Store, redis_space: RedisSpace):
    hold = await reserve_spend(
        store, where(redis_space), micros=10**12, cap_micros=0, hold_ttl=LONG
    )
    assert isinstance(hold, Hold)


async def test_a_thousand_tenths_and_fifths_of_a_dollar_add_up_exactly(
    store: Store, redis_space: RedisSpace
):
    here = where(redis_space)
    tenth, fifth = usd_to_micros(0.1), usd_to_micros(0.2)
    cap = usd_to_micros(300)  # 1000 * (0.1 + 0.2), which floats make 300.0000000000x

    for _ in range(1000):
        for amount in (tenth, fifth):
            hold = await reserve_spend(
                store, here, micros=amount, cap_micros=cap, hold_ttl=LONG
            )
            assert isinstance(hold, Hold)
            await settle_spend(store, here, entry(amount), hold=hold)

    assert (await read_budget(store, here)).spent == 300_000_000
    one_more = await reserve_spend(store, here, micros=1, cap_micros=cap, hold_ttl=LONG)
    assert one_more == OverCap(spent=300_000_000, held=0, cap=cap, asked=1)


async def test_the_ledger_keeps_the_last_consults_newest_first(
    store: Store, redis_space: RedisSpace
):
    here = where(redis_space)
    for n in range(LEDGER_LENGTH + 3):
        await settle_spend(store, here, entry(n, question=f"question {n}"))

    recent = (await read_budget(store, here)).recent

    assert [e.question for e in recent] == [
        f"question {n}" for n in range(LEDGER_LENGTH + 2, 2, -1)
    ]


async def test_the_budget_keys_live_as_long_as_documented(
    store: Store, redis_space: RedisSpace
):
    here = where(redis_space)
    await reserve_spend(store, here, micros=1, cap_micros=0, hold_ttl=LONG)
    await settle_spend(store, here, entry(1))

    day_expiry = await store.redis.expiretime(
        budget_key(here.team, here.channel, here.day.date)
    )
    ledger_ttl = await store.redis.ttl(ledger_key(here.team, here.channel))

    assert day_expiry == int((here.day.resets_at + timedelta(days=2)).timestamp())
    assert 30 * 86_400 - 5 < ledger_ttl <= 30 * 86_400
