"""Slack's limits end to end: long answers, a long synthesis, three answers
streaming into one channel under enforced rate limits, and a thread deleted
mid-answer. Signed /consult through the real app, the sandbox's Slack (which
enforces the limits) and litellm's real client against the model server."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re

import pytest
from slack_cases import (
    CHANNEL,
    LABELS,
    SESSIONS,
    UNPACED,
    block_text,
    finished_thread,
    roomy_panel,
    slash_consult,
    status_of,
    watching_logs,
)

from bot.sandbox.demo import demo_stack
from bot.sandbox.model_server import Behavior, Pace, message_text
from bot.sandbox.rate_limits import Limit
from bot.sandbox.scripts import DEEP, STEADY, SWIFT, SYNTHESIS_MODEL
from bot.sandbox.slack_api import MAX_TEXT, SlackSandbox
from bot.sandbox.stress import (
    answer_parts,
    consult_figures,
    long_answer,
    markdown_of,
    unanimous_synthesis,
)
from bot.slack.rate_limits import SlackLimits
from bot.slack.text import escape_mrkdwn, split_message
from bot.slack.writer import DONE_EVENT

TIMEOUT = 60
SYNTH = Behavior(Pace(0.05, 4000), reply=unanimous_synthesis("ABC"))


def assert_answer_in_full(thread, label: str, text: str) -> None:
    parts = answer_parts(thread, label)
    expected = split_message(text)
    assert [markdown_of(part) for part in parts] == expected
    count = len(expected)
    for index, part in enumerate(parts[:-1]):
        assert status_of(part) == f"*{label}* · part {index + 1} · continued below"
        assert part.text.startswith(f"{label} (part {index + 1}): ")
    last = status_of(parts[-1])
    assert "answering" not in last
    if count > 1:
        assert last.startswith(f"*{label}* · part {count} of {count} · ")


def done_roots(slack: SlackSandbox) -> list:
    return [
        m
        for m in slack.messages(CHANNEL)
        if m.metadata and m.metadata.get("event_type") == DONE_EVENT
    ]


def assert_within_limits(slack: SlackSandbox) -> None:
    """Slack refused nothing but for rate limits, and no text ran long."""
    assert {c.error for c in slack.calls} <= {None, "http_429"}
    assert all(len(str(c.args.get("text", ""))) <= MAX_TEXT for c in slack.calls)


async def test_a_15000_character_answer_with_code_arrives_in_full(redis_url):
    text = long_answer("Swift", 15_000)
    behaviors = {SWIFT: Behavior(Pace(0.05, 2000), reply=text)}
    async with demo_stack(
        behaviors=behaviors,
        redis_url=redis_url,
        panel_for=roomy_panel(),
        slack_limits=UNPACED,
    ) as stack:
        await slash_consult(stack, f"single {SESSIONS.question}")
        thread = await finished_thread(stack, TIMEOUT)

    assert len(split_message(text)) == 5
    assert_answer_in_full(thread, LABELS[SWIFT], text)
    assert_within_limits(stack.slack)
    assert len(thread) == 6  # the question and five parts; no synthesis for single


async def test_a_long_synthesis_continues_cleanly_in_further_messages(redis_url):
    reply = unanimous_synthesis("ABC", points=60, point_chars=400)
    points = json.loads(reply)["agreement"]
    behaviors = {
        SWIFT: Behavior(Pace(0.01, 4000)),
        STEADY: Behavior(Pace(0.01, 4000)),
        DEEP: Behavior(Pace(0.01, 4000)),
        SYNTHESIS_MODEL: Behavior(Pace(0.01, 8000), reply=reply),
    }
    async with demo_stack(
        behaviors=behaviors,
        redis_url=redis_url,
        panel_for=roomy_panel(),
        slack_limits=UNPACED,
    ) as stack:
        await slash_consult(stack, f"full {SESSIONS.question}")
        thread = await finished_thread(stack, TIMEOUT)

    synthesis = [m for m in thread if m.text.startswith("Synthesis")]
    assert [m.text for m in synthesis] == [
        "Synthesis · High: 3 of 3 independent answers agree"
    ] + ["Synthesis · High: 3 of 3 independent answers agree (continued)"] * (
        len(synthesis) - 1
    )
    assert len(synthesis) >= 2
    assert thread[-len(synthesis) :] == synthesis  # together, at the end
    shown = "\n".join(block_text(m) for m in synthesis)
    assert [p for p in points if p in shown] == points
    assert shown.index(points[0]) < shown.index(points[-1])
    assert "*Recommended next step*\nFollow the shared plan." in shown
    assert "Panel: Swift (scripted), Steady (scripted), Deep (scripted)" in (
        block_text(synthesis[-1])
    )
    assert_within_limits(stack.slack)


# The sandbox allows 2 posts a second in a channel and 4 updates in any 2 s.
TIGHT = {
    "chat.postMessage": Limit(2, 1.0, per_channel=True),
    "chat.update": Limit(4, 2.0),
}
SCHEDULERS = {
    # keeps to the sandbox's limits: evenly spaced calls, 10% under the rates
    "knows-the-limits": SlackLimits(
        posts_per_s=1.8,
        post_burst=1,
        updates_per_min=108,
        update_burst=1,
        final_reserve=0,
    ),
    # believes it may go ten times faster; only 429s teach it otherwise
    "learns-from-429s": SlackLimits(
        posts_per_s=10, post_burst=10, updates_per_min=1200, update_burst=20
    ),
}


@pytest.mark.parametrize("scheduler", list(SCHEDULERS))
async def test_three_long_answers_and_a_synthesis_under_tight_limits(
    scheduler, redis_url, record_property
):
    answers = {model: long_answer(label, 6_000) for model, label in LABELS.items()}
    behaviors = {
        SWIFT: Behavior(Pace(0.1, 700), reply=answers[SWIFT]),
        STEADY: Behavior(Pace(0.1, 600), reply=answers[STEADY]),
        DEEP: Behavior(Pace(0.1, 500), reply=answers[DEEP]),
        SYNTHESIS_MODEL: SYNTH,
    }
    async with demo_stack(
        behaviors=behaviors,
        slack=SlackSandbox(rate_limits=TIGHT),
        redis_url=redis_url,
        panel_for=roomy_panel(),
        slack_limits=SCHEDULERS[scheduler],
    ) as stack:
        await slash_consult(stack, f"full {SESSIONS.question}")
        thread = await finished_thread(stack, TIMEOUT)
        figures = consult_figures(stack.slack, stack.models, LABELS, SYNTHESIS_MODEL)

    for model, label in LABELS.items():
        assert_answer_in_full(thread, label, answers[model])
    synthesis = thread[-1]
    assert synthesis.text == "Synthesis · High: 3 of 3 independent answers agree"
    assert "*Recommended next step*\nFollow the shared plan." in block_text(synthesis)
    assert_within_limits(stack.slack)
    # three streams of ~2,250 chunks each: intermediate frames were dropped
    assert figures.updates < 60
    if scheduler == "learns-from-429s":
        assert figures.rate_limited > 0

    print(f"\n[{scheduler}] " + "\n".join(figures.lines()))
    record_property("slack_calls", figures.slack_calls)
    record_property("http_429", figures.rate_limited)
    record_property("worst_last_token_to_final_text_s", figures.worst_answer_lag_s)


async def test_a_thread_deleted_mid_answer_stops_the_consult_quietly(redis_url):
    behaviors = {
        SWIFT: Behavior(Pace(0.05, 2000)),
        STEADY: Behavior(Pace(0.05, 2000)),
        DEEP: Behavior(Pace(0.1, 150), reply=long_answer("Deep", 8_000)),
        SYNTHESIS_MODEL: SYNTH,
    }
    with watching_logs() as logs:
        async with demo_stack(
            behaviors=behaviors, redis_url=redis_url, panel_for=roomy_panel()
        ) as stack:
            slack = stack.slack
            await slash_consult(stack, f"full {SESSIONS.question}")
            deep = await slack.wait_for_message(
                lambda m: m.text.startswith(LABELS[DEEP]), TIMEOUT
            )
            slack.delete_thread(CHANNEL, deep.thread_ts)
            deleted_at = len(slack.calls)

            await logs.wait_for("consult stopped: the thread was deleted", TIMEOUT)
            stopped_at = len(slack.calls)
        after_all = slack.calls[deleted_at:]

    # one write found the thread gone; nothing was tried after that
    assert [c.error for c in slack.calls[deleted_at:stopped_at]] in (
        ["message_not_found"],
        ["thread_not_found"],
    )
    assert len(after_all) == stopped_at - deleted_at
    assert stack.models.request_count(SYNTHESIS_MODEL) == 0
    assert DEEP not in {reply.model for reply in stack.models.replies}  # cut off
    assert "Traceback" not in logs.text()
    assert [r for r in logs.records if r.levelno >= 40] == []


async def test_a_19000_character_question_reaches_the_model_whole(redis_url):
    question = SESSIONS.question + " Context: " + ("x < y && y > z; " * 1185).strip()
    assert 19_000 < len(question) <= 20_000
    async with demo_stack(
        behaviors={}, redis_url=redis_url, slack_limits=UNPACED
    ) as stack:
        await slash_consult(stack, f"single {escape_mrkdwn(question)}")
        thread = await finished_thread(stack, TIMEOUT)

    (asked,) = stack.models.requests
    assert message_text(asked.messages[-1]) == question
    root = block_text(thread[0])
    assert escape_mrkdwn(question[:1000]) in root
    assert re.search(r" … \(1[78],\d{3} more characters\)", root)
    assert all(len(b["text"]["text"]) <= 3000 for b in thread[0].blocks if "text" in b)
    # nothing is lost: the whole question follows the root, in parts
    parts = [m for m in thread[1:] if m.text == "The whole question"]
    assert len(parts) > 1
    shown = "".join(
        b["text"] for m in parts for b in m.blocks if b["type"] == "markdown"
    )
    assert "".join(shown.split()) == "".join(question.split())
    assert_within_limits(stack.slack)


async def test_two_consults_in_one_channel_share_its_scheduler(redis_url):
    answers = {model: long_answer(label, 2_000) for model, label in LABELS.items()}
    behaviors = {
        model: Behavior(Pace(0.1, 800), reply=text) for model, text in answers.items()
    }
    behaviors[SYNTHESIS_MODEL] = SYNTH
    # the tight limits at twice the pace, and a scheduler that keeps to them
    twice = {
        method: Limit(limit.calls * 2, limit.per_s, limit.per_channel)
        for method, limit in TIGHT.items()
    }
    keeps = SCHEDULERS["knows-the-limits"]
    keeps = dataclasses.replace(
        keeps,
        posts_per_s=keeps.posts_per_s * 2,
        updates_per_min=keeps.updates_per_min * 2,
    )
    async with demo_stack(
        behaviors=behaviors,
        slack=SlackSandbox(rate_limits=twice),
        redis_url=redis_url,
        panel_for=roomy_panel(),
        slack_limits=keeps,
    ) as stack:
        await asyncio.gather(
            slash_consult(stack, f"full {SESSIONS.question}"),
            slash_consult(stack, f"full {SESSIONS.question}"),
        )
        roots = await stack.slack.wait_for(
            lambda s: done_roots(s) if len(done_roots(s)) == 2 else None,
            TIMEOUT,
            what="both consults to finish",
        )

    for root in roots:
        thread = stack.slack.thread(CHANNEL, root.ts)
        for model, label in LABELS.items():
            assert_answer_in_full(thread, label, answers[model])
        assert thread[-1].text == "Synthesis · High: 3 of 3 independent answers agree"
    # one pace for the channel: two schedulers would each post at the full rate
    assert stack.slack.rate_limited <= 2
    assert_within_limits(stack.slack)
