"""Follow-up prompts: each panelist's own history, blind, trimmed to its window."""

from __future__ import annotations

import pytest
from memory_cases import (
    CLAUDE,
    CLAUDE_SAYS,
    GEMINI,
    GPT,
    GPT_SAYS,
    REDIS_OR_POSTGRES,
    answer,
    first_turn,
)

from bot.followup import FollowupPrompt, QuestionTooLong, followup_messages
from bot.llm import configured_litellm
from bot.memory import Conversation, TranscriptLine, Turn, conversation_from_transcript
from bot.panel import ModelSpec
from bot.store import ThreadRef

THREAD = ThreadRef(team="T1", channel="C1", thread_ts="1700000000.000100")
SYSTEM = "You are one consultant on a panel."
VALKEY = "What about Valkey?"
LOAD_QUESTION = "And at 50k logins a second?"
GPT_AT_LOAD = "Still PostgreSQL, with a read cache."
GEMINI_AT_LOAD = "Redis Cluster, three shards."
SYNTHESIS_TEXT = (
    "The panel's synthesis of every consultant's answer to that question:\n"
    "Verdicts:\n"
    "- Redis (Claude)\n"
    "- PostgreSQL (GPT)\n"
    "Disagreed on durability: Claude: not needed; GPT: needed\n"
    "Recommended next step: measure the session write rate\n"
    "Confidence: Low: all 2 differ"
)
FOLLOWUP = "A follow-up question in the same conversation; answer it as before:\n"
UNANSWERED = "An earlier question in this conversation, which you did not answer:\n"


def two_turns() -> Conversation:
    """Turn 0: dual tier (Claude, GPT). Turn 1: full tier, Claude failed."""
    second = Turn(
        question=LOAD_QUESTION,
        tier="full",
        answers={
            "claude": answer(
                "Claude", "Redis, bec", status="failed", reason="timed out"
            ),
            "gpt": answer("GPT", GPT_AT_LOAD),
            "gemini": answer("Gemini", GEMINI_AT_LOAD),
        },
    )
    return Conversation(thread=THREAD, turns=[first_turn(), second])


def prompt_for(
    conversation: Conversation,
    spec: ModelSpec,
    question: str = VALKEY,
    *,
    window: int = 100_000,
    reserve: int = 1_000,
) -> FollowupPrompt:
    prompt = followup_messages(
        conversation,
        spec,
        question,
        system_prompt=SYSTEM,
        context_window=window,
        reserve_tokens=reserve,
    )
    assert isinstance(prompt, FollowupPrompt)
    return prompt


def system(text: str = SYSTEM) -> dict[str, str]:
    return {"role": "system", "content": text}


def user(*parts: str) -> dict[str, str]:
    return {"role": "user", "content": "\n\n".join(parts)}


def assistant(text: str) -> dict[str, str]:
    return {"role": "assistant", "content": text}


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (
            CLAUDE,  # answered turn 0; failed turn 1, so it gets no answer of its own
            [
                system(),
                user(REDIS_OR_POSTGRES),
                assistant(CLAUDE_SAYS),
                user(SYNTHESIS_TEXT, UNANSWERED + LOAD_QUESTION, FOLLOWUP + VALKEY),
            ],
        ),
        (
            GPT,  # answered both
            [
                system(),
                user(REDIS_OR_POSTGRES),
                assistant(GPT_SAYS),
                user(SYNTHESIS_TEXT, LOAD_QUESTION),
                assistant(GPT_AT_LOAD),
                user(FOLLOWUP + VALKEY),
            ],
        ),
        (
            GEMINI,  # not asked in turn 0 (dual tier)
            [
                system(),
                user(UNANSWERED + REDIS_OR_POSTGRES, SYNTHESIS_TEXT, LOAD_QUESTION),
                assistant(GEMINI_AT_LOAD),
                user(FOLLOWUP + VALKEY),
            ],
        ),
    ],
    ids=["claude", "gpt", "gemini"],
)
def test_each_panelist_sees_its_own_answers_and_the_syntheses(
    spec: ModelSpec, expected: list[dict[str, str]]
) -> None:
    prompt = prompt_for(two_turns(), spec)
    assert prompt.messages == expected
    assert prompt.trimmed_turns == 0


@pytest.mark.parametrize("spec", [CLAUDE, GPT, GEMINI], ids=lambda s: s.alias)
def test_no_panelist_sees_another_panelists_answer(spec: ModelSpec) -> None:
    conversation = two_turns()
    prompt = prompt_for(conversation, spec)
    text = "\n".join(message["content"] for message in prompt.messages)
    for turn in conversation.turns:
        for alias, stored in turn.answers.items():
            if alias != spec.alias:
                assert stored.text not in text


def test_without_history_the_question_is_asked_as_is() -> None:
    prompt = prompt_for(Conversation(thread=THREAD, turns=[]), CLAUDE)
    assert prompt.messages == [system(), user(VALKEY)]


def test_a_thread_transcript_is_shown_as_an_excerpt() -> None:
    conversation = conversation_from_transcript(
        THREAD,
        [
            TranscriptLine("Ana", False, "Sessions keep vanishing after deploys."),
            TranscriptLine("Deploybot", True, "deploy 42 done"),
        ],
    )
    prompt = prompt_for(conversation, GPT, "Why do they vanish?")
    assert prompt.messages == [
        system(),
        user(
            "Messages from the Slack thread this conversation happens in:\n"
            "Ana: Sessions keep vanishing after deploys.\n"
            "Deploybot (a bot): deploy 42 done",
            FOLLOWUP + "Why do they vanish?",
        ),
    ]


def long_history(turns: int = 40) -> Conversation:
    """`turns` questions, each with answers of about 400 tokens per model."""

    def words(n: int, count: int) -> str:
        return f"Point {n}: " + " ".join(
            f"word{(n * 7 + i) % 50}" for i in range(count)
        )

    return Conversation(
        thread=THREAD,
        turns=[
            Turn(
                question=f"Question {n}? {words(n, 40)}",
                tier="dual",
                answers={
                    "claude": answer("Claude", words(n, 150)),
                    "gpt": answer("GPT", words(n + 100, 150)),
                },
            )
            for n in range(turns)
        ],
    )


@pytest.mark.parametrize(
    ("window", "reserve", "trimmed"),
    [
        (2_000, 500, 37),  # room for 3 of 40 turns
        (3_200, 500, 34),
        (2_000, 1_700, 40),  # room for the question only
        (100_000, 1_000, 0),
    ],
)
def test_a_long_history_is_trimmed_oldest_first_to_fit(
    window: int, reserve: int, trimmed: int
) -> None:
    conversation = long_history()
    prompt = prompt_for(conversation, CLAUDE, window=window, reserve=reserve)

    assert prompt.trimmed_turns == trimmed
    counted = configured_litellm().token_counter(
        model=CLAUDE.model, messages=prompt.messages
    )
    assert prompt.prompt_tokens == counted <= window - reserve
    text = "\n".join(message["content"] for message in prompt.messages)
    kept = [n for n in range(40) if f"Question {n}? " in text]
    assert kept == list(range(trimmed, 40))
    assert prompt.messages[-1]["role"] == "user"
    assert prompt.messages[-1]["content"].endswith(FOLLOWUP + VALKEY)
    if trimmed:
        assert prompt.messages[1]["content"].startswith(
            f"({trimmed} earlier messages of this conversation are left out"
        )


@pytest.mark.parametrize(("window", "reserve"), [(2_000, 500), (3_200, 500)])
def test_trimming_keeps_every_turn_that_fits(window: int, reserve: int) -> None:
    conversation = long_history()
    trimmed = prompt_for(conversation, CLAUDE, window=window, reserve=reserve)
    one_more = Conversation(
        thread=THREAD, turns=conversation.turns[trimmed.trimmed_turns - 1 :]
    )
    again = prompt_for(one_more, CLAUDE, window=window, reserve=reserve)
    assert again.trimmed_turns == 1


def test_a_long_transcript_keeps_its_newest_messages() -> None:
    lines = [
        TranscriptLine(f"Person{n}", False, f"Message {n}: " + "more words " * 30)
        for n in range(200)
    ]
    conversation = conversation_from_transcript(THREAD, lines)
    prompt = prompt_for(conversation, GPT, window=2_000, reserve=500)

    text = prompt.messages[1]["content"]
    kept = [n for n in range(200) if f"Message {n}: " in text]
    assert kept == list(range(prompt.trimmed_turns, 200))
    assert 150 < prompt.trimmed_turns < 200


@pytest.mark.parametrize(
    ("question", "window", "reserve"),
    [
        ("why? " * 400, 2_000, 1_500),
        (VALKEY, 1_000, 1_000),
        (VALKEY, 1_000, 4_000),
    ],
)
def test_a_question_that_cannot_fit_says_so(
    question: str, window: int, reserve: int
) -> None:
    result = followup_messages(
        long_history(3),
        CLAUDE,
        question,
        system_prompt=SYSTEM,
        context_window=window,
        reserve_tokens=reserve,
    )
    assert isinstance(result, QuestionTooLong)
    assert result.limit == window - reserve
    assert result.tokens > result.limit
    assert result.reason == (
        f"the question is too long for Claude: {result.tokens} tokens, and it "
        f"takes at most {max(window - reserve, 0)} besides its answer; "
        "ask a shorter question"
    )
