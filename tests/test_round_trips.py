"""Redis round trips per Slack event, counted on the wire of a real server.

Each flow is the sequence of store calls a handler makes for one event. A
round trip is one write of a request to the socket: a pipeline or a Lua script
is one, however many commands it holds. Scripts are already cached on the
server here; the very first call of each script on a server costs two more
(EVALSHA answered NOSCRIPT, then SCRIPT LOAD).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field

import pytest
import pytest_asyncio
from conftest import RedisSpace
from memory_cases import first_turn
from redis.asyncio import Connection, Redis

from bot import dedupe, memory
from bot.memory import TranscriptLine, Turn, conversation_from_transcript
from bot.store import Store

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
