"""Claims on a real Redis: exactly one winner, across clients, with their TTLs."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
from conftest import RedisSpace
from redis import exceptions as redis_errors
from redis.asyncio import Redis

from bot import dedupe
from bot.errors import StoreUnavailable
from bot.store import Store, escalation_key, event_key, message_key

CONCURRENT_CLAIMS = 50
MESSAGE_TS = "1700000000.000200"


@dataclass(frozen=True)
class ClaimKind:
    """One kind of claim, bound to a test's own ids."""

    name: str
    claim: Callable[[Store, RedisSpace], Awaitable[bool]]
    release: Callable[[Store, RedisSpace], Awaitable[None]]
    key: Callable[[RedisSpace], str]
    ttl: timedelta


KINDS = [
    ClaimKind(
        "event",
        lambda store, space: dedupe.claim_event(store, space.event_id()),
        lambda store, space: dedupe.release_event(store, space.event_id()),
        lambda space: event_key(space.event_id()),
        timedelta(hours=1),
    ),
    ClaimKind(
        "message",
        lambda store, space: dedupe.claim_message(
            store, space.team, space.channel, MESSAGE_TS
        ),
        lambda store, space: dedupe.release_message(
            store, space.team, space.channel, MESSAGE_TS
        ),
        lambda space: message_key(space.team, space.channel, MESSAGE_TS),
        timedelta(hours=1),
    ),
    ClaimKind(
        "escalation",
        lambda store, space: dedupe.claim_escalation(store, space.thread(), 0),
        lambda store, space: dedupe.release_escalation(store, space.thread(), 0),
        lambda space: escalation_key(space.thread(), 0),
        timedelta(days=7),
    ),
]
BY_KIND = pytest.mark.parametrize("kind", KINDS, ids=[kind.name for kind in KINDS])


@BY_KIND
async def test_concurrent_claims_have_exactly_one_winner(
    store: Store, redis_space: RedisSpace, kind: ClaimKind
) -> None:
    results = await asyncio.gather(
        *(kind.claim(store, redis_space) for _ in range(CONCURRENT_CLAIMS))
    )
    assert results.count(True) == 1
    assert len(results) == CONCURRENT_CLAIMS


@BY_KIND
async def test_two_clients_claiming_at_once_have_exactly_one_winner(
    store: Store, other_store: Store, redis_space: RedisSpace, kind: ClaimKind
) -> None:
    half = CONCURRENT_CLAIMS // 2
    results = await asyncio.gather(
        *(kind.claim(store, redis_space) for _ in range(half)),
        *(kind.claim(other_store, redis_space) for _ in range(half)),
    )
    assert results.count(True) == 1
    assert await kind.claim(other_store, redis_space) is False
    assert await kind.claim(store, redis_space) is False


@BY_KIND
async def test_a_claim_lives_as_long_as_documented(
    store: Store, redis_space: RedisSpace, kind: ClaimKind
) -> None:
    assert await kind.claim(store, redis_space) is True
    ttl_ms = await store.redis.pttl(kind.key(redis_space))
    expected_ms = kind.ttl.total_seconds() * 1000
    assert expected_ms - 5_000 < ttl_ms <= expected_ms


@BY_KIND
async def test_a_claim_names_its_owner(
    store: Store, redis_space: RedisSpace, kind: ClaimKind
) -> None:
    await kind.claim(store, redis_space)
    owner = await store.redis.get(kind.key(redis_space))
    assert owner == f"{socket.gethostname()}:{os.getpid()}"


@BY_KIND
async def test_a_released_claim_can_be_claimed_again_from_another_client(
    store: Store, other_store: Store, redis_space: RedisSpace, kind: ClaimKind
) -> None:
    assert await kind.claim(store, redis_space) is True
    await kind.release(store, redis_space)
    assert await kind.claim(other_store, redis_space) is True
    assert await kind.claim(store, redis_space) is False


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (("event", "Ev1"), ("event", "Ev2")),
        (("message", "1.1"), ("message", "1.2")),
        (("message", "1.1"), ("message_other_channel", "1.1")),
        (("escalation", 0), ("escalation", 1)),
        (("escalation", 0), ("escalation_other_thread", 0)),
    ],
)
async def test_different_work_is_claimed_independently(
    store: Store,
    redis_space: RedisSpace,
    first: tuple[str, object],
    second: tuple[str, object],
) -> None:
    space = redis_space
    thread = space.thread()
    other_thread = space.thread("1700000099.000100")
    claims = {
        "event": lambda v: dedupe.claim_event(store, f"{space.event_id()}{v}"),
        "message": lambda v: dedupe.claim_message(store, space.team, "C1", v),
        "message_other_channel": lambda v: dedupe.claim_message(
            store, space.team, "C2", v
        ),
        "escalation": lambda v: dedupe.claim_escalation(store, thread, v),
        "escalation_other_thread": lambda v: dedupe.claim_escalation(
            store, other_thread, v
        ),
    }
    assert await claims[first[0]](first[1]) is True
    assert await claims[second[0]](second[1]) is True
    assert await claims[first[0]](first[1]) is False


async def test_an_escalation_claim_takes_the_thread_ttl_it_is_given(
    store: Store, redis_space: RedisSpace
) -> None:
    thread = redis_space.thread()
    assert await dedupe.claim_escalation(store, thread, 3, ttl=timedelta(days=2))
    ttl_s = await store.redis.ttl(escalation_key(thread, 3))
    assert 2 * 86_400 - 5 < ttl_s <= 2 * 86_400


async def test_a_claim_on_an_unreachable_redis_raises_store_unavailable(
    dead_redis_url: str,
) -> None:
    client = Redis.from_url(dead_redis_url, decode_responses=True)
    store = Store(redis=client, embedded=False, url=dead_redis_url)
    try:
        with pytest.raises(StoreUnavailable) as raised:
            await dedupe.claim_event(store, "Ev0DEAD")
    finally:
        await store.aclose()
    assert raised.value.reason == "cannot reach Redis; is it running?"
    assert isinstance(raised.value.__cause__, redis_errors.ConnectionError)
