"""Redis round trips per Slack event and per consult, on the wire of a real server.

Each flow is the sequence of store calls a handler makes for one event. A
round trip is one write of a request to the socket: a pipeline or a Lua script
is one, however many commands it holds. Scripts are already cached on the
server here; the very first call of each script on a server costs two more
(EVALSHA answered NOSCRIPT, then SCRIPT LOAD).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import pytest_asyncio
from conftest import RedisSpace
from memory_cases import first_turn
from redis.asyncio import Connection, Redis

from bot import budget, dedupe, memory
from bot.budget import BudgetSpec, ChannelDay, Hold, LedgerEntry
from bot.consult import ConsultRequest, ConsultResult
from bot.conversations import consult_in_thread
from bot.memory import TranscriptLine, Turn, conversation_from_transcript
from bot.sandbox.demo import demo_panel
from bot.sandbox.model_server import Behavior, ModelServer, Pace
from bot.sandbox.scripts import DEMO_BOOK
from bot.store import THREAD_TTL, Store

MENTION_TS = "1700000000.000900"
FOLLOW_UP = Turn(question="And for 50k logins a second?", tier="dual", asker="U2")


@dataclass
class Wire:
    """The name of every command written to the socket, one entry a round trip."""

    sent: list[str] = field(default_factory=list)


def _first_command(command: bytes | str | Iterable[bytes]) -> str:
    packed = command if isinstance(command, bytes | str) else b"".join(command)
    text = packed.decode() if isinstance(packed, bytes) else packed
    return text.split("\r\n")[2].upper()  # "*N", "$len", then the name


@pytest_asyncio.fixture
async def wired(redis_url: str, store: Store) -> AsyncIterator[tuple[Store, Wire]]:
    """A store whose connections record what they send; `store` cleans up."""
    wire = Wire()

    class RecordingConnection(Connection):
        async def send_packed_command(
            self, command: bytes | str | Iterable[bytes], check_health: bool = True
        ) -> None:
            wire.sent.append(_first_command(command))
            await super().send_packed_command(command, check_health)

    client = Redis.from_url(
        redis_url, decode_responses=True, connection_class=RecordingConnection
    )
    recorded = Store(redis=client, embedded=False, url=redis_url)
    await client.ping()  # the connection's own hand-shake is not a consult's
    wire.sent.clear()
    try:
        yield recorded, wire
    finally:
        await recorded.aclose()


Flow = Callable[[Store, RedisSpace], Awaitable[None]]


async def new_consult(store: Store, space: RedisSpace) -> None:
    """An @-mention outside a thread: a new consult threaded under it."""
    assert await dedupe.claim_event(store, space.event_id())
    assert await dedupe.claim_message(store, space.team, space.channel, MENTION_TS)
    await memory.save_turn(store, space.thread(MENTION_TS), first_turn())


async def follow_up(store: Store, space: RedisSpace) -> None:
    """An @-mention in a thread Quorum remembers."""
    assert await dedupe.claim_event(store, space.event_id())
    assert await dedupe.claim_message(store, space.team, space.channel, MENTION_TS)
    assert await memory.load(store, space.thread()) is not None
    await memory.save_turn(store, space.thread(), FOLLOW_UP)


async def follow_up_unseen_thread(store: Store, space: RedisSpace) -> None:
    """An @-mention in a thread Quorum never saw: its transcript is saved too."""
    thread = space.thread("1700000055.000100")
    assert await dedupe.claim_event(store, space.event_id())
    assert await dedupe.claim_message(store, space.team, space.channel, MENTION_TS)
    assert await memory.load(store, thread) is None
    lines = [TranscriptLine("Ana", False, "Sessions vanish after deploys.")]
    transcript = conversation_from_transcript(thread, lines).turns
    await memory.save_turns(store, thread, [*transcript, FOLLOW_UP])


async def escalation(store: Store, space: RedisSpace) -> None:
    """A reaction that escalates: reuse cached answers, add the missing ones."""
    assert await dedupe.claim_event(store, space.event_id())
    conversation = await memory.load(store, space.thread())
    assert conversation is not None
    turn = conversation.latest_question()
    assert turn is not None
    assert await dedupe.claim_escalation(store, space.thread(), turn)
    extra = {"gemini": memory.StoredAnswer(label="Gemini", text="Either works.")}
    assert await memory.update_turn(store, space.thread(), turn, answers=extra)


async def repeated_escalation(store: Store, space: RedisSpace) -> None:
    """A second person's reaction on a question already escalated."""
    await escalation(store, space)
    assert await dedupe.claim_event(store, space.event_id(1))
    conversation = await memory.load(store, space.thread())
    assert conversation is not None
    assert not await dedupe.claim_escalation(store, space.thread(), 0)


async def duplicate_delivery(store: Store, space: RedisSpace) -> None:
    """Slack delivers an event already claimed (a retry, another process)."""
    assert await dedupe.claim_event(store, space.event_id())
    assert not await dedupe.claim_event(store, space.event_id())


@pytest.mark.parametrize(
    ("flow", "setup", "expected"),
    [
        (new_consult, False, ["SET", "SET", "EVALSHA"]),
        (follow_up, True, ["SET", "SET", "HGETALL", "EVALSHA"]),
        (follow_up_unseen_thread, False, ["SET", "SET", "HGETALL", "EVALSHA"]),
        (escalation, True, ["SET", "HGETALL", "SET", "EVALSHA"]),
        (
            repeated_escalation,
            True,
            ["SET", "HGETALL", "SET", "EVALSHA", "SET", "HGETALL", "SET"],
        ),
        (duplicate_delivery, False, ["SET", "SET"]),
    ],
    ids=lambda value: getattr(value, "__name__", None),
)
async def test_round_trips_per_event(
    wired: tuple[Store, Wire],
    store: Store,
    redis_space: RedisSpace,
    flow: Flow,
    setup: bool,
    expected: list[str],
) -> None:
    recorded, wire = wired
    if setup:  # the consult that started the thread, through another client
        await memory.save_turn(store, redis_space.thread(), first_turn())
    # make sure the scripts are cached on the server, as in steady state
    await memory.save_turn(store, redis_space.thread("1.1"), first_turn())
    await memory.update_turn(
        store, redis_space.thread("1.1"), 0, synthesis=first_turn().synthesis
    )

    await flow(recorded, redis_space)

    assert wire.sent == expected


# The budget: one Lua script to reserve, one to settle, per consult.

LONG = timedelta(minutes=10)


def _today(space: RedisSpace) -> ChannelDay:
    day = budget.budget_day(datetime.now(UTC), ZoneInfo("UTC"))
    return ChannelDay(space.team, space.channel, day)


def _entry(charged: int) -> LedgerEntry:
    return LedgerEntry(
        at=datetime.now(UTC),
        kind="consult",
        tier="full",
        question="Redis or PostgreSQL?",
        charged_micros=charged,
    )


async def capped_consult(store: Store, space: RedisSpace) -> None:
    """Reserve the ceiling, run, settle what it cost."""
    hold = await budget.reserve_spend(
        store, _today(space), micros=50_000, cap_micros=10**6, hold_ttl=LONG
    )
    assert isinstance(hold, Hold)
    await budget.settle_spend(store, _today(space), _entry(31_000), hold=hold)


async def refused_consult(store: Store, space: RedisSpace) -> None:
    over = await budget.reserve_spend(
        store, _today(space), micros=50_000, cap_micros=40_000, hold_ttl=LONG
    )
    assert not isinstance(over, Hold)


async def uncapped_consult(store: Store, space: RedisSpace) -> None:
    """No cap: nothing is held, what it cost is recorded."""
    await budget.settle_spend(store, _today(space), _entry(31_000))


async def consult_that_never_asked(store: Store, space: RedisSpace) -> None:
    """Held, then the thread could not be opened: the hold is given back."""
    hold = await budget.reserve_spend(
        store, _today(space), micros=50_000, cap_micros=10**6, hold_ttl=LONG
    )
    assert isinstance(hold, Hold)
    await budget.release_hold(store, hold)


async def budget_request(store: Store, space: RedisSpace) -> None:
    """`/consult budget`: the day, the holds' clock and the ledger at once."""
    await budget.read_budget(store, _today(space))


@pytest.mark.parametrize(
    ("flow", "expected"),
    [
        (capped_consult, ["EVALSHA", "EVALSHA"]),
        (refused_consult, ["EVALSHA"]),
        (uncapped_consult, ["EVALSHA"]),
        (consult_that_never_asked, ["EVALSHA", "HDEL"]),
        (budget_request, ["HGETALL"]),  # a pipeline: HGETALL, LRANGE, TIME
    ],
    ids=lambda value: getattr(value, "__name__", None),
)
async def test_round_trips_per_consult_for_its_budget(
    wired: tuple[Store, Wire],
    store: Store,
    redis_space: RedisSpace,
    flow: Flow,
    expected: list[str],
) -> None:
    recorded, wire = wired
    await capped_consult(store, redis_space)  # the scripts are cached, as usual

    await flow(recorded, redis_space)

    assert wire.sent == expected


class _Quiet:
    """A `ConsultThread` that shows nothing and says the thread is this one."""

    async def open(self, request, models, *, stances=None) -> str:
        return MENTION_TS

    async def show(self, event) -> None:
        pass

    async def close(self, result) -> None:
        pass


async def test_a_whole_capped_consult_costs_three_round_trips(
    wired: tuple[Store, Wire], store: Store, redis_space: RedisSpace
) -> None:
    """Through the core, as a handler calls it: hold, settle, remember."""
    recorded, wire = wired
    instant = Behavior(Pace(ttft_s=0.0, tokens_per_s=1_000_000))
    request = ConsultRequest(
        DEMO_BOOK["sessions"].question,
        "full",
        "U0ASKER",
        redis_space.team,
        redis_space.channel,
    )
    async with ModelServer(DEMO_BOOK, default=instant) as models:
        panel = demo_panel(models.base_url).model_copy(
            update={"budget": BudgetSpec(daily_cap_usd=1)}
        )
        warm = await consult_in_thread(request, panel, _Quiet(), store, ttl=THREAD_TTL)
        wire.sent.clear()

        result = await consult_in_thread(
            request, panel, _Quiet(), recorded, ttl=THREAD_TTL
        )

    assert isinstance(warm, ConsultResult) and isinstance(result, ConsultResult)
    assert wire.sent == ["EVALSHA", "EVALSHA", "EVALSHA"]  # reserve, settle, save
