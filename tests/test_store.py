"""The store: where it connects, the embedded fallback, keys and errors."""

from __future__ import annotations

import logging
from datetime import date

import pytest
from redis import exceptions as redis_errors
from redis.crc import key_slot

from bot.errors import ConfigError, StoreUnavailable, store_error
from bot.store import (
    ThreadRef,
    budget_key,
    escalation_key,
    event_key,
    ledger_key,
    message_key,
    open_store,
    redacted_url,
    thread_key,
)

THREAD = ThreadRef(team="T123", channel="C456", thread_ts="1700000000.000100")
DAY = date(2025, 3, 9)


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        (event_key("Ev0ABC"), "quorum:event:Ev0ABC"),
        (message_key("T123", "C456", "17.5"), "quorum:{T123:C456}:message:17.5"),
        (
            escalation_key(THREAD, 2),
            "quorum:{T123:C456}:escalation:1700000000.000100:2",
        ),
        (thread_key(THREAD), "quorum:{T123:C456}:thread:1700000000.000100"),
        (budget_key("T123", "C456", DAY), "quorum:{T123:C456}:budget:2025-03-09"),
        (ledger_key("T123", "C456"), "quorum:{T123:C456}:ledger"),
    ],
)
def test_keys_have_their_documented_shape(key: str, expected: str) -> None:
    assert key == expected


def test_one_channels_keys_share_a_cluster_slot() -> None:
    keys = [
        message_key("T123", "C456", "1.2"),
        escalation_key(THREAD, 0),
        thread_key(THREAD),
        thread_key(THREAD.model_copy(update={"thread_ts": "1800000000.000200"})),
        budget_key("T123", "C456", DAY),
        ledger_key("T123", "C456"),
    ]
    assert len({key_slot(key.encode()) for key in keys}) == 1
    other_channel = message_key("T123", "C457", "1.2")
    assert key_slot(other_channel.encode()) != key_slot(keys[0].encode())


@pytest.mark.parametrize("bad_id", ["", "C4}56", "C{4", "C:4", "C 4", "C4\n", "C4*"])
def test_ids_that_could_forge_a_key_are_refused(bad_id: str) -> None:
    with pytest.raises(ValueError):
        message_key("T123", bad_id, "1.2")
    with pytest.raises(ValueError):
        event_key(bad_id)
    with pytest.raises(ValueError):
        ThreadRef(team="T123", channel=bad_id, thread_ts="1.2")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ("redis://:hunter2@cache:6380/1", "redis://:***@cache:6380/1"),
        (
            "rediss://quorum:hunter2@cache.example/2",
            "rediss://quorum:***@cache.example/2",
        ),
        ("redis://quorum@cache/0", "redis://quorum@cache/0"),
        ("redis://cache/0?password=hunter2&db=3", "redis://cache/0"),
        ("unix:///run/redis.sock?password=hunter2", "unix:///run/redis.sock"),
    ],
)
def test_redacted_url_never_shows_a_password(url: str, shown: str) -> None:
    assert redacted_url(url) == shown


async def test_a_configured_url_connects_to_that_server(redis_url: str) -> None:
    store = await open_store(redis_url)
    try:
        assert not store.embedded
        assert await store.redis.ping() is True
        assert store.describe() == f"Redis at {redacted_url(redis_url)}"
    finally:
        await store.aclose()


async def test_without_a_url_a_local_server_that_answers_is_used(
    redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    store = await open_store(None, local_url=redis_url)
    try:
        assert not store.embedded
        assert caplog.records == []
    finally:
        await store.aclose()


async def test_without_any_server_the_embedded_store_warns_once(
    dead_redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="bot.store")
    store = await open_store(None, local_url=dead_redis_url)
    try:
        assert store.embedded
        assert store.describe() == "embedded in-process store (nothing persists)"
        await store.redis.set("quorum:probe", "1")
        assert await store.redis.get("quorum:probe") == "1"
    finally:
        await store.aclose()
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1
    message = warnings[0].getMessage()
    assert "Nothing persists" in message
    assert "only one process may run" in message
    assert all(r.levelno >= logging.WARNING for r in caplog.records)


async def test_two_embedded_stores_share_nothing(dead_redis_url: str) -> None:
    first = await open_store(None, local_url=dead_redis_url)
    second = await open_store(None, local_url=dead_redis_url)
    try:
        await first.redis.set("quorum:probe", "1")
        assert await second.redis.get("quorum:probe") is None
    finally:
        await first.aclose()
        await second.aclose()


async def test_a_configured_url_that_does_not_answer_is_an_error(
    dead_redis_url: str,
) -> None:
    with pytest.raises(StoreUnavailable) as raised:
        await open_store(dead_redis_url)
    assert raised.value.reason == "cannot reach Redis; is it running?"
    assert isinstance(raised.value.__cause__, redis_errors.ConnectionError)


async def test_a_malformed_url_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="^REDIS_URL: "):
        await open_store("http://cache:6379")


@pytest.mark.parametrize(
    ("script", "keys", "args", "expected"),
    [
        ("return ARGV[1] .. ARGV[2]", [], ["quo", "rum"], "quorum"),
        (
            "redis.call('SET', KEYS[1], ARGV[1]); return redis.call('GET', KEYS[1])",
            ["quorum:lua"],
            ["7"],
            "7",
        ),
        (
            "return redis.call('INCRBY', KEYS[1], ARGV[1]) * 2",
            ["quorum:counter"],
            ["21"],
            42,
        ),
        ("return cjson.decode(ARGV[1])['n'] + 1", [], ['{"n": 2}'], 3),
        ("return {1, 'two', {3}}", [], [], [1, "two", [3]]),
    ],
)
async def test_the_embedded_store_runs_lua(
    dead_redis_url: str,
    script: str,
    keys: list[str],
    args: list[str],
    expected: object,
) -> None:
    store = await open_store(None, local_url=dead_redis_url)
    try:
        assert store.embedded
        assert await store.redis.eval(script, len(keys), *keys, *args) == expected
    finally:
        await store.aclose()


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (redis_errors.ConnectionError("refused"), "cannot reach Redis; is it running?"),
        (ConnectionRefusedError(111, "refused"), "cannot reach Redis; is it running?"),
        (redis_errors.TimeoutError("slow"), "Redis did not answer in time"),
        (
            redis_errors.AuthenticationError("invalid password"),
            "Redis refused the credentials; check REDIS_URL",
        ),
        (
            redis_errors.ReadOnlyError("READONLY You can't write against a replica"),
            "Redis refused a command (READONLY)",
        ),
        (
            redis_errors.ResponseError("OOM command not allowed"),
            "Redis refused a command (OOM)",
        ),
        (redis_errors.ResponseError("something odd"), "Redis refused a command"),
        (redis_errors.DataError("bad value"), "Redis failed (DataError)"),
    ],
)
def test_redis_errors_become_short_reasons(error: Exception, reason: str) -> None:
    assert store_error(error).reason == reason
