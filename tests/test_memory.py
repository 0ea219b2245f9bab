"""The conversation cache on a real Redis: round trips, TTLs, concurrent writers."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from datetime import timedelta

import pytest
from conftest import RedisSpace
from memory_cases import (
    CLAUDE_SAYS,
    GPT_SAYS,
    REDIS_OR_POSTGRES,
    answer,
    consult_result,
    first_turn,
)

from bot import memory
from bot.fanout import AnswerFinished
from bot.memory import (
    Conversation,
    StoredSynthesis,
    TranscriptLine,
    Turn,
    conversation_from_transcript,
    missing_aliases,
    reusable_answers,
    turn_from_result,
)
from bot.panel import TierName
from bot.store import Store, open_store, thread_key
from bot.synthesis import SynthesisDegraded

DAY_S = 86_400


async def test_a_saved_turn_loads_as_it_was(
    store: Store, redis_space: RedisSpace
) -> None:
    thread = redis_space.thread()
    assert await memory.load(store, thread) is None

    assert await memory.save_turn(store, thread, first_turn()) == 0

    loaded = await memory.load(store, thread)
    assert loaded == Conversation(thread=thread, turns=[first_turn()])


async def test_turns_append_in_order(store: Store, redis_space: RedisSpace) -> None:
    thread = redis_space.thread()
    second = Turn(question="And for 50k logins a second?", tier="full", asker="U2")
    transcript = conversation_from_transcript(
        thread, [TranscriptLine("Ana", False, "what about Valkey?")]
    ).turns

    assert await memory.save_turn(store, thread, first_turn()) == 0
    assert await memory.save_turns(store, thread, [second, second]) == 1
    assert await memory.save_turns(store, thread, transcript) == 3

    loaded = await memory.load(store, thread)
    assert loaded is not None
    assert loaded.turns == [first_turn(), second, second, *transcript]


@pytest.mark.parametrize(
    ("ttl", "expected_s"),
    [
        (None, 7 * DAY_S),
        (timedelta(days=1), DAY_S),
        (timedelta(days=30), 30 * DAY_S),
    ],
)
async def test_a_conversation_lives_for_the_thread_ttl(
    store: Store, redis_space: RedisSpace, ttl: timedelta | None, expected_s: int
) -> None:
    thread = redis_space.thread()
    options = {} if ttl is None else {"ttl": ttl}
    await memory.save_turn(store, thread, first_turn(), **options)
    assert expected_s - 5 < await store.redis.ttl(thread_key(thread)) <= expected_s

    await store.redis.expire(thread_key(thread), 60)
    extra = {"gemini": answer("Gemini", "Either works.")}
    assert await memory.update_turn(store, thread, 0, answers=extra, **options)
    assert expected_s - 5 < await store.redis.ttl(thread_key(thread)) <= expected_s


async def test_an_update_adds_answers_and_replaces_the_synthesis(
    store: Store, redis_space: RedisSpace
) -> None:
    thread = redis_space.thread()
    await memory.save_turn(store, thread, first_turn())
    gemini = answer("Gemini", "Either works.", cost_micros=12)
    new_synthesis = StoredSynthesis(verdicts=["Redis (Claude, Gemini)"], summary="")

    updated = await memory.update_turn(
        store, thread, 0, answers={"gemini": gemini}, synthesis=new_synthesis
    )

    assert updated is True
    loaded = await memory.load(store, thread)
    assert loaded is not None
    expected = first_turn().model_copy(
        update={
            "answers": {**first_turn().answers, "gemini": gemini},
            "synthesis": new_synthesis,
        }
    )
    assert loaded.turns == [expected]


@pytest.mark.parametrize("index", [1, 7, -1])
async def test_updating_a_turn_that_is_not_there_writes_nothing(
    store: Store, redis_space: RedisSpace, index: int
) -> None:
    thread = redis_space.thread()
    await memory.save_turn(store, thread, first_turn())
    before = await store.redis.hgetall(thread_key(thread))

    gemini = {"gemini": answer("Gemini", "Either works.")}
    assert await memory.update_turn(store, thread, index, answers=gemini) is False
    assert await store.redis.hgetall(thread_key(thread)) == before


async def test_updating_an_expired_thread_does_not_bring_it_back(
    store: Store, redis_space: RedisSpace
) -> None:
    thread = redis_space.thread()
    gemini = {"gemini": answer("Gemini", "Either works.")}
    assert await memory.update_turn(store, thread, 0, answers=gemini) is False
    assert await store.redis.exists(thread_key(thread)) == 0


async def test_concurrent_updates_from_two_clients_lose_nothing(
    store: Store, other_store: Store, redis_space: RedisSpace
) -> None:
    thread = redis_space.thread()
    await memory.save_turn(store, thread, first_turn())
    writers = [(store, f"m{n}") for n in range(20)]
    writers += [(other_store, f"n{n}") for n in range(20)]

    results = await asyncio.gather(
        *(
            memory.update_turn(
                client, thread, 0, answers={alias: answer(alias, f"{alias} says")}
            )
            for client, alias in writers
        )
    )

    assert all(results)
    loaded = await memory.load(other_store, thread)
    assert loaded is not None
    expected = {
        **first_turn().answers,
        **{alias: answer(alias, f"{alias} says") for _, alias in writers},
    }
    assert loaded.turns[0].answers == expected


async def test_concurrent_appends_from_two_clients_get_distinct_turns(
    store: Store, other_store: Store, redis_space: RedisSpace
) -> None:
    thread = redis_space.thread()
    questions = [f"question {n}" for n in range(30)]
    clients = [store, other_store] * 15

    indexes = await asyncio.gather(
        *(
            memory.save_turn(client, thread, Turn(question=q, tier="single"))
            for client, q in zip(clients, questions, strict=True)
        )
    )

    assert sorted(indexes) == list(range(30))
    loaded = await memory.load(store, thread)
    assert loaded is not None
    by_index = dict(zip(indexes, questions, strict=True))
    assert [turn.question for turn in loaded.turns] == [by_index[i] for i in range(30)]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("turn:0", "{not json"),
        ("turn:0", '{"question": 5, "tier": "dual"}'),
        ("turn:0:answer:claude", '{"status": "ok"}'),
        ("turn:0:synthesis", '{"verdicts": []}'),
        ("turns", "two"),
        ("turns", "3"),  # more turns than heads
    ],
)
async def test_an_unreadable_conversation_counts_as_not_cached(
    store: Store,
    redis_space: RedisSpace,
    caplog: pytest.LogCaptureFixture,
    field: str,
    value: str,
) -> None:
    thread = redis_space.thread()
    await memory.save_turn(store, thread, first_turn())
    await store.redis.hset(thread_key(thread), field, value)
    caplog.set_level(logging.WARNING, logger="bot.memory")

    assert await memory.load(store, thread) is None
    assert len(caplog.records) == 1
    assert caplog.records[0].getMessage().startswith("conversation unreadable")


async def test_the_embedded_store_keeps_conversations_too(
    dead_redis_url: str, redis_space: RedisSpace
) -> None:
    store = await open_store(None, local_url=dead_redis_url)
    thread = redis_space.thread()
    try:
        assert store.embedded
        await memory.save_turn(store, thread, first_turn())
        gemini = {"gemini": answer("Gemini", "Either works.")}
        assert await memory.update_turn(store, thread, 0, answers=gemini)
        loaded = await memory.load(store, thread)
    finally:
        await store.aclose()
    assert loaded is not None
    assert loaded.turns[0].answers == {**first_turn().answers, **gemini}


def test_a_finished_consult_becomes_a_turn() -> None:
    turn = turn_from_result(consult_result())

    assert turn.question == REDIS_OR_POSTGRES
    assert (turn.tier, turn.asker, turn.kind) == ("full", "U1", "consult")
    assert list(turn.answers) == ["claude", "gpt", "gemini"]
    assert turn.answers["claude"] == answer(
        "Claude", CLAUDE_SAYS, prompt_tokens=120, completion_tokens=40, cost_micros=256
    )
    assert turn.answers["gpt"] == answer(
        "GPT", GPT_SAYS, prompt_tokens=118, completion_tokens=52, truncated=True
    )
    assert turn.answers["gemini"] == answer(
        "Gemini", "", status="failed", reason="timed out after 120 s"
    )
    assert turn.synthesis == StoredSynthesis(
        verdicts=["PostgreSQL (GPT)", "Redis (Claude)"],
        summary="\n".join(
            [
                "Agreed: both want sessions to expire",
                "Disagreed on durability: GPT: sessions must survive; "
                "Claude: losing sessions is fine",
                "Only Claude saw: Claude notes TTLs",
                "Recommended next step: follow GPT if logins are costly",
            ]
        ),
        confidence="Low: the 2 answers differ; 2 of 3 answered",
    )


@pytest.mark.parametrize(
    ("tier", "synthesis"),
    [
        ("single", None),
        ("full", SynthesisDegraded(reason="no JSON", cost_micros=5, latency_s=1.0)),
    ],
)
def test_a_consult_without_a_synthesis_stores_none(
    tier: TierName, synthesis: SynthesisDegraded | None
) -> None:
    result = consult_result()
    result = replace(
        result,
        request=replace(result.request, tier=tier),
        synthesis=synthesis,
        confidence=None,
    )
    turn = turn_from_result(result)
    assert (turn.tier, turn.synthesis) == (tier, None)


@pytest.mark.parametrize(
    ("lines", "expected"),
    [
        ([], []),
        (
            [
                TranscriptLine("Ana", False, "  Should we shard?  "),
                TranscriptLine("Deploybot", True, "deploy 42 done"),
                TranscriptLine("Ben", False, "   "),
                TranscriptLine("Ben", False, "Not yet."),
            ],
            [
                Turn(kind="transcript", question="Should we shard?", asker="Ana"),
                Turn(
                    kind="transcript",
                    question="deploy 42 done",
                    asker="Deploybot",
                    from_bot=True,
                ),
                Turn(kind="transcript", question="Not yet.", asker="Ben"),
            ],
        ),
    ],
)
def test_a_transcript_becomes_one_turn_per_message(
    redis_space: RedisSpace, lines: list[TranscriptLine], expected: list[Turn]
) -> None:
    thread = redis_space.thread()
    conversation = conversation_from_transcript(thread, lines)
    assert conversation == Conversation(thread=thread, turns=expected)


@pytest.mark.parametrize(
    ("kinds", "expected"),
    [
        ([], None),
        (["transcript", "transcript"], None),
        (["consult"], 0),
        (["transcript", "consult", "transcript"], 1),
        (["consult", "transcript", "consult", "transcript"], 2),
    ],
)
def test_the_latest_question_is_the_last_consult_turn(
    redis_space: RedisSpace, kinds: list[str], expected: int | None
) -> None:
    turns = [Turn.model_validate({"kind": kind, "question": "q"}) for kind in kinds]
    conversation = Conversation(thread=redis_space.thread(), turns=turns)
    assert conversation.latest_question() == expected


def test_an_escalation_reuses_the_good_answers() -> None:
    turn = turn_from_result(consult_result())
    assert reusable_answers(turn) == [
        AnswerFinished("claude", "Claude", CLAUDE_SAYS, 120, 40, 256, 0.0),
        AnswerFinished("gpt", "GPT", GPT_SAYS, 118, 52, None, 0.0, truncated=True),
    ]


@pytest.mark.parametrize(
    ("aliases", "missing"),
    [
        (["claude", "gpt"], []),
        (["claude", "gpt", "gemini"], ["gemini"]),  # gemini failed: ask it again
        (["gemini", "mistral", "claude"], ["gemini", "mistral"]),
        ([], []),
    ],
)
def test_an_escalation_asks_only_the_models_without_a_good_answer(
    aliases: list[str], missing: list[str]
) -> None:
    turn = turn_from_result(consult_result())
    assert missing_aliases(turn, aliases) == missing
