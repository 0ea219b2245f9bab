"""/consult end to end: signed requests through the real slack-bolt app, the
local Slack Web API, litellm's real OpenAI client and the scripted model server."""

import json
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from slackkit import (
    FAST,
    TIMEOUT,
    answer_of,
    block_text,
    consult,
    finished_thread,
    markdown_of,
)

from bot.prompts import DEBATE_SYNTHESIS_SYSTEM, STANCE_SYSTEM
from bot.sandbox.demo import DemoStack, demo_stack
from bot.sandbox.model_server import Behavior, Pace
from bot.sandbox.scripts import DEEP, DEMO_BOOK, STEADY, SWIFT, SYNTHESIS_MODEL
from bot.sandbox.slack_api import SlackSandbox

SESSIONS = DEMO_BOOK["sessions"]


@pytest_asyncio.fixture
async def stack(redis_url: str) -> AsyncIterator[DemoStack]:
    slack = SlackSandbox(private_channels={"G0SECRET"})
    async with demo_stack(
        behaviors=dict(FAST), slack=slack, redis_url=redis_url
    ) as running:
        yield running


async def test_full_consult_streams_each_answer_then_a_synthesis(stack):
    reply = await consult(stack, f"full {SESSIONS.question}")

    # the ack came back before any answer was in the thread
    assert (reply.status, reply.body) == (200, "")
    answers_when_acked = [c for c in stack.slack.calls if "thread_ts" in c.args]
    assert answers_when_acked == []

    thread = await finished_thread(stack)
    root, *replies = thread
    assert "<@U0ASKER> asked the panel" in block_text(root)
    assert SESSIONS.question in block_text(root)
    assert "Tier: *full*" in block_text(root)
    assert "High" in block_text(root)

    labels = {SWIFT: "Swift (scripted)", STEADY: "Steady (scripted)"}
    labels[DEEP] = "Deep (scripted)"
    for model, label in labels.items():
        message = answer_of(thread, label)
        assert markdown_of(message) == SESSIONS.answers[model].strip()
        assert f"*{label}*" in block_text(message)

    # Deep's answer grew while it streamed: several versions, each a prefix
    deep = answer_of(thread, labels[DEEP])
    assert len(deep.versions) >= 2
    assert len(stack.slack.calls_to("chat.update")) >= 4

    synthesis = replies[-1]
    assert synthesis.text == "Synthesis · High: 3 of 3 independent answers agree"
    text = block_text(synthesis)
    assert ":large_green_circle: *High*: 3 of 3 independent answers agree" in text
    assert "Panel: Swift (scripted), Steady (scripted), Deep (scripted)" in text
    assert "*Recommended next step*" in text
    assert "Deep (scripted): " in text  # its unique insight is named by model


async def test_the_fast_answers_are_complete_before_the_slow_one(stack):
    await consult(stack, f"full {SESSIONS.question}")
    thread = await finished_thread(stack)

    def completed_at(label: str) -> float:
        ts = answer_of(thread, label).ts
        finals = [
            c.at
            for c in stack.slack.calls
            if c.args.get("ts") == ts and "answering" not in str(c.args.get("blocks"))
        ]
        return finals[0]

    deep_done = completed_at("Deep (scripted)")
    assert completed_at("Swift (scripted)") < deep_done
    assert completed_at("Steady (scripted)") < deep_done


@pytest.mark.parametrize("text", ["", "   ", "full", "  dual  "])
async def test_no_question_gets_the_usage_and_costs_nothing(stack, text):
    reply = await consult(stack, text)

    assert reply.status == 200
    assert "/consult &lt;question&gt;" in reply.body
    assert stack.models.request_count() == 0
    assert stack.slack.calls_to("chat.postMessage") == []


async def test_a_failing_model_is_named_and_lowers_the_confidence(stack):
    stack.models.set_behavior(SWIFT, Behavior(Pace(0.01, 500), fail_status=500))

    await consult(stack, f"full {SESSIONS.question}")
    thread = await finished_thread(stack)

    failure = answer_of(thread, "Swift (scripted)")
    assert "Swift (scripted) failed: provider error (HTTP 500)." in block_text(failure)
    synthesis = thread[-1]
    assert synthesis.text == (
        "Synthesis · Medium: 2 of 3 independent answers agree; 2 of 3 answered"
    )
    assert ":warning: Swift (scripted) failed (provider error (HTTP 500))" in (
        block_text(synthesis)
    )


async def test_a_bad_signature_is_refused_and_starts_nothing(stack):
    reply = await consult(stack, f"full {SESSIONS.question}", secret="not-the-secret")

    assert reply.status == 401
    assert stack.models.request_count() == 0
    assert stack.slack.calls_to("chat.postMessage") == []


async def test_a_channel_the_bot_is_not_in_gets_the_fix_through_response_url(stack):
    reply = await consult(stack, f"full {SESSIONS.question}", channel="G0SECRET")

    assert reply.status == 200
    response = await stack.slack.wait_for(
        lambda s: s.responses[0] if s.responses else None, TIMEOUT
    )
    assert "/invite @Quorum" in response["text"]
    assert response["response_type"] == "ephemeral"
    assert stack.models.request_count() == 0


async def test_a_failed_synthesis_says_so_and_claims_no_confidence(stack):
    # the synthesis model answers prose, not JSON, twice; there is no fallback
    stack.models.set_behavior(
        SYNTHESIS_MODEL, Behavior(Pace(0.01, 2000), reply="Redis, clearly.")
    )

    await consult(stack, f"full {SESSIONS.question}")
    thread = await finished_thread(stack)

    synthesis = thread[-1]
    text = block_text(synthesis)
    assert synthesis.text == "Synthesis unavailable"
    assert (
        ":warning: *Synthesis unavailable.* Synth (scripted): its reply was not "
        in (text)
    )
    assert "No confidence level is given" in text
    for level in ("High", "Medium", "Low", "Variable"):
        assert level not in text
        assert level not in block_text(thread[0])
    assert "• Swift (scripted): Verdict: use Redis for session storage." in text
    assert stack.models.request_count(SYNTHESIS_MODEL) == 2  # one retry, no more


# Debates, help, escalation and the uncertainty check, end to end.

MIGRATION = DEMO_BOOK.debate("migration")
QUEUE = DEMO_BOOK["queue"]
AUTH = DEMO_BOOK["auth"]
LEVELS = ("High", "Medium", "Low", "Variable")


def system_prompts_by_model(stack: DemoStack) -> dict[str, list[str]]:
    prompts_seen: dict[str, list[str]] = {}
    for request in stack.models.requests:
        system = [m["content"] for m in request.messages if m["role"] == "system"]
        prompts_seen.setdefault(request.model, []).extend(system)
    return prompts_seen


async def test_a_debate_gives_each_model_its_own_stance_and_rates_no_agreement(stack):
    reply = await consult(stack, f"debate: {MIGRATION.question}")
    thread = await finished_thread(stack)

    assert (reply.status, reply.body) == (200, "")
    seen = system_prompts_by_model(stack)
    assert seen[SWIFT] == [STANCE_SYSTEM["for"]]
    assert seen[STEADY] == [STANCE_SYSTEM["against"]]
    assert seen[DEEP] == [STANCE_SYSTEM["neutral"]]
    assert seen[SYNTHESIS_MODEL] == [DEBATE_SYNTHESIS_SYSTEM]
    for request in stack.models.requests:
        user = [m["content"] for m in request.messages if m["role"] == "user"]
        if request.model != SYNTHESIS_MODEL:
            assert user == [MIGRATION.question]

    root, *_, synthesis = thread
    assert "asked the panel to debate" in block_text(root)
    assert "*Debate* · For: Swift (scripted) · Against: Steady (scripted)" in (
        block_text(root)
    )
    for label, tag in [
        ("Swift (scripted)", "argues *for* (assigned)"),
        ("Steady (scripted)", "argues *against* (assigned)"),
        ("Deep (scripted)", "*neutral* (assigned)"),
    ]:
        assert f"*{label}* · {tag} · " in block_text(answer_of(thread, label))

    text = block_text(synthesis)
    assert synthesis.text == (
        "Synthesis of the debate · Not rated: "
        "stances were assigned, so agreement is not counted"
    )
    for title in ("*Worth it if*", "*Avoid if*", "*A middle path*"):
        assert title in text
    assert "• Swift (scripted), for: Migrate incrementally" in text
    assert "• Swift (scripted): Without clear domain boundaries" in text  # a flaw
    assert "• Steady (scripted): With more than about 20 to 30 engineers" in text
    assert not any(level in text for level in LEVELS)
    assert "Ask the full panel?" not in text


async def test_a_debate_whose_synthesis_fails_claims_nothing(stack):
    stack.models.set_behavior(
        SYNTHESIS_MODEL, Behavior(Pace(0.01, 2000), reply="Both sides have a point.")
    )

    await consult(stack, f"debate: {MIGRATION.question}")
    thread = await finished_thread(stack)

    text = block_text(thread[-1])
    assert thread[-1].text == "Synthesis unavailable"
    assert "• Steady (scripted): Verdict: don't migrate now." in text
    assert not any(level in text for level in (*LEVELS, "Not rated"))


@pytest.mark.parametrize(
    ("text", "reply"),
    [
        ("help", "`/consult debate: &lt;proposal&gt;`"),
        ("HELP", "In a thread, the same words work after a mention"),
        ("debate:", "Say what to debate after `debate:`"),
        (f"dual debate: {MIGRATION.question}", "`dual` does not apply"),
    ],
)
async def test_help_and_a_bad_debate_are_answered_privately_for_free(
    stack, text, reply
):
    response = await consult(stack, text)

    assert response.status == 200
    assert reply in response.body
    assert stack.models.request_count() == 0
    assert stack.slack.calls_to("chat.postMessage") == []


@pytest.mark.parametrize(
    ("text", "heading", "hint"),
    [
        # dual answers split: Low, and the way up with its price
        (f"dual {QUEUE.question}", "Low: the 2 answers differ", True),
        # dual answers agree: Medium, nothing to escalate
        (f"dual {SESSIONS.question}", "Medium: 2 of 2 independent answers", False),
        # the full tier has no one more to ask
        (f"full {QUEUE.question}", "Medium: 2 of 3 independent answers", False),
        (f"full {AUTH.question}", "Variable: Deep (scripted) is unsure", False),
    ],
)
async def test_a_weak_synthesis_below_the_full_tier_says_how_to_escalate(
    stack, text, heading, hint
):
    await consult(stack, text)
    thread = await finished_thread(stack)

    synthesis = block_text(thread[-1])
    assert thread[-1].text.startswith(f"Synthesis · {heading}")
    assert ("Ask the full panel?" in synthesis) is hint
    if hint:
        assert (
            ":arrow_up: *Ask the full panel?* The answers disagree. React with "
            ":scales: to any message in this thread, or send "
            "`/consult full &lt;question&gt;`, to ask Swift (scripted), "
            "Steady (scripted), Deep (scripted). A full consult costs at most "
            "about $0."
        ) in synthesis


async def test_an_unsure_answer_counts_even_when_the_synthesis_misses_it(stack):
    # a synthesis model that groups the three answers and reports no one unsure
    blind = {
        "verdict_groups": [
            {"verdict": "one cause", "answers": ["A"]},
            {"verdict": "another cause", "answers": ["B"]},
            {"verdict": "a third cause", "answers": ["C"]},
        ],
        "uncertain_answers": [],
        "recommended_action": "Look at the logs.",
    }
    stack.models.set_behavior(
        SYNTHESIS_MODEL, Behavior(Pace(0.01, 2000), reply=json.dumps(blind))
    )

    await consult(stack, f"full {AUTH.question}")
    thread = await finished_thread(stack)

    assert thread[-1].text == (
        "Synthesis · Variable: Deep (scripted) is unsure "
        '(it says "I am not certain of this one.")'
    )
