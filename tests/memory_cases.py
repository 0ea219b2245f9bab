"""Conversations, turns and consult results that the memory tests share."""

from __future__ import annotations

from bot.confidence import rate_confidence
from bot.consult import ConsultRequest, ConsultResult
from bot.fanout import AnswerFailed, AnswerFinished
from bot.memory import StoredAnswer, StoredSynthesis, Turn
from bot.panel import ModelSpec
from bot.synthesis import Synthesis, SynthesisReport

CLAUDE = ModelSpec(alias="claude", model="anthropic/claude-test", label="Claude")
GPT = ModelSpec(alias="gpt", model="openai/gpt-test", label="GPT")
GEMINI = ModelSpec(alias="gemini", model="gemini/gemini-test", label="Gemini")

REDIS_OR_POSTGRES = "Redis or PostgreSQL for session storage?"
CLAUDE_SAYS = "Redis: sessions are short-lived key lookups."
GPT_SAYS = "PostgreSQL: you already run it, and sessions need durability."
SYNTHESIS = StoredSynthesis(
    verdicts=["Redis (Claude)", "PostgreSQL (GPT)"],
    summary="Disagreed on durability: Claude: not needed; GPT: needed\n"
    "Recommended next step: measure the session write rate",
    confidence="Low: all 2 differ",
)


def answer(label: str, text: str, **fields: object) -> StoredAnswer:
    return StoredAnswer.model_validate({"label": label, "text": text, **fields})


def first_turn() -> Turn:
    """A dual-tier consult: Claude and GPT disagree; Gemini was not asked."""
    return Turn(
        question=REDIS_OR_POSTGRES,
        tier="dual",
        asker="U1",
        answers={
            "claude": answer(
                "Claude",
                CLAUDE_SAYS,
                prompt_tokens=120,
                completion_tokens=40,
                cost_micros=256,
            ),
            "gpt": answer("GPT", GPT_SAYS, prompt_tokens=118, completion_tokens=52),
        },
        synthesis=SYNTHESIS,
    )


def consult_result() -> ConsultResult:
    """A full-tier consult: two answers, one failure, a valid synthesis."""
    request = ConsultRequest(
        question=REDIS_OR_POSTGRES, tier="full", asker="U1", team="T1", channel="C1"
    )
    letters = {"A": "gpt", "B": "claude"}
    report = SynthesisReport.model_validate(
        {
            "verdict_groups": [
                {"verdict": "PostgreSQL", "answers": ["A"]},
                {"verdict": "Redis", "answers": ["B"]},
            ],
            "agreement": ["both want sessions to expire"],
            "disagreements": [
                {
                    "topic": "durability",
                    "positions": [
                        {"answers": ["A"], "view": "sessions must survive"},
                        {"answers": ["B"], "view": "losing sessions is fine"},
                    ],
                }
            ],
            "unique_insights": [{"answer": "B", "insight": "answer B notes TTLs"}],
            "uncertain_answers": [],
            "recommended_action": "follow answer A if logins are costly",
        },
        context={"letters": set(letters)},
    )
    return ConsultResult(
        request=request,
        models=[CLAUDE, GPT, GEMINI],
        answers=[
            AnswerFinished("claude", "Claude", CLAUDE_SAYS, 120, 40, 256, 1.5),
            AnswerFinished("gpt", "GPT", GPT_SAYS, 118, 52, None, 2.0, truncated=True),
        ],
        failures=[
            AnswerFailed("gemini", "Gemini", "timed out after 120 s", "timeout", 120.0)
        ],
        synthesis=Synthesis(
            report=report,
            letters=letters,
            model_label="Judge",
            cost_micros=90,
            latency_s=3.0,
        ),
        confidence=rate_confidence(3, [["GPT"], ["Claude"]]),
        wall_s=125.0,
    )
