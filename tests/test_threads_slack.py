"""Thread memory through the real app and a real Redis: exactly-once events,
follow-ups by mention, escalation by reaction."""

import asyncio
import logging
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from slackkit import (
    CHANNEL,
    FAST,
    block_text,
    consult,
    consults_done,
    deliver,
    deliver_to_both,
    is_done,
    mention,
    new_event_id,
    reaction,
)

from bot import memory
from bot.followup import _count_tokens
from bot.sandbox.demo import DemoStack, demo_stack
from bot.sandbox.scripts import DEEP, DEMO_BOOK, STEADY, SWIFT, SYNTHESIS_MODEL
from bot.store import ThreadRef, open_store

SESSIONS = DEMO_BOOK["sessions"]
ONE_FULL_CONSULT = 4  # three panelists and the synthesis


@pytest_asyncio.fixture
async def stack(redis_url: str) -> AsyncIterator[DemoStack]:
    async with demo_stack(behaviors=dict(FAST), redis_url=redis_url) as running:
        yield running


@pytest_asyncio.fixture
async def two_apps(redis_url: str) -> AsyncIterator[DemoStack]:
    async with demo_stack(behaviors=dict(FAST), redis_url=redis_url, apps=2) as running:
        yield running


def synthesis_messages(stack: DemoStack) -> list:
    return [m for m in stack.slack.messages(CHANNEL) if m.text.startswith("Synthesis")]


async def test_one_event_delivered_four_times_at_once_runs_one_consult(stack):
    asked = stack.slack.post_user_message(CHANNEL, f"<@UQUORUM> {SESSIONS.question}")
    event = mention(f"full {SESSIONS.question}", asked.ts)
    event_id = new_event_id()

    replies = await asyncio.gather(
        deliver(stack, event, event_id=event_id),
        deliver(stack, event, event_id=event_id),
        deliver(stack, event, event_id=event_id, retry_num=1),
        deliver(stack, event, event_id=event_id, retry_num=2),
    )
    await consults_done(stack, 1)

    assert [r.status for r in replies] == [200] * 4
    assert stack.models.request_count() == ONE_FULL_CONSULT
    assert len(synthesis_messages(stack)) == 1


async def test_two_app_instances_on_one_redis_run_one_consult(two_apps):
    stack = two_apps
    asked = stack.slack.post_user_message(CHANNEL, f"<@UQUORUM> {SESSIONS.question}")
    event = mention(f"full {SESSIONS.question}", asked.ts)

    await deliver_to_both(stack, event)
    await consults_done(stack, 1)

    assert stack.models.request_count() == ONE_FULL_CONSULT
    assert len(synthesis_messages(stack)) == 1


async def test_a_mention_and_a_message_event_for_one_message_run_one_consult(stack):
    asked = stack.slack.post_user_message(CHANNEL, f"<@UQUORUM> {SESSIONS.question}")
    as_mention = mention(f"full {SESSIONS.question}", asked.ts)
    as_message = {**as_mention, "type": "message", "channel_type": "channel"}

    await asyncio.gather(
        deliver(stack, as_message),
        deliver(stack, as_mention),
        deliver(stack, as_mention),
    )
    await consults_done(stack, 1)

    assert stack.models.request_count() == ONE_FULL_CONSULT


@pytest.mark.parametrize(
    "extra",
    [
        {"bot_id": "B0OTHER"},  # another bot's message
        {"subtype": "message_changed"},  # an edit
        {"subtype": "message_deleted"},
        {"subtype": "bot_message", "bot_id": "B0OTHER"},
        {"user": "UQUORUM"},  # the bot itself (an unfurl of its own answer, say)
    ],
)
async def test_messages_that_are_not_a_person_asking_are_ignored(stack, extra):
    ignored = stack.slack.post_user_message(CHANNEL, "<@UQUORUM> anything")
    asked = stack.slack.post_user_message(CHANNEL, f"<@UQUORUM> {SESSIONS.question}")

    await deliver(stack, mention(f"dual {SESSIONS.question}", ignored.ts, **extra))
    await deliver(stack, mention(f"dual {SESSIONS.question}", asked.ts))
    await consults_done(stack, 1)

    assert stack.models.request_count() == 3  # one dual consult: two and synthesis
    roots = [m for m in stack.slack.messages(CHANNEL) if m.thread_ts == ignored.ts]
    assert roots == []


async def test_escalation_runs_once_and_asks_only_the_missing_model(stack):
    await consult(stack, f"dual {SESSIONS.question}")
    (root,) = await consults_done(stack, 1)
    assert stack.models.request_count(DEEP) == 0

    # two people react at once, and one of them reacts to a reply, twice
    answer = next(m for m in stack.slack.thread(CHANNEL, root.ts) if m.thread_ts)
    await asyncio.gather(
        deliver(stack, reaction(root.ts, user="U0ONE")),
        deliver(stack, reaction(answer.ts, user="U0TWO")),
        deliver(stack, reaction(answer.ts, user="U0TWO")),
    )
    done = await consults_done(stack, 2)

    requests = {m: stack.models.request_count(m) for m in (SWIFT, STEADY, DEEP)}
    assert requests == {SWIFT: 1, STEADY: 1, DEEP: 1}
    assert stack.models.request_count(SYNTHESIS_MODEL) == 2
    escalation = next(m for m in done if m.ts != root.ts)
    assert escalation.thread_ts == root.ts
    assert "escalated" in block_text(escalation)
    assert synthesis_messages(stack)[-1].text == (
        "Synthesis · High: 3 of 3 independent answers agree"
    )

    # once more, after it ran: nothing is asked; the person is told why
    await deliver(stack, reaction(root.ts, user="U0THREE"))
    told = await stack.slack.wait_for(
        lambda s: s.ephemerals[-1] if s.ephemerals else None, 10
    )
    assert told.user == "U0THREE"
    assert "already answered" in told.text
    assert stack.models.request_count() == 3 + 2  # unchanged


async def test_a_reaction_that_is_not_the_escalation_one_does_nothing(stack):
    await consult(stack, f"dual {SESSIONS.question}")
    (root,) = await consults_done(stack, 1)

    await deliver(stack, reaction(root.ts, user="U0ONE", name="thumbsup"))
    await deliver(stack, reaction(root.ts, user="U0ONE"))
    await consults_done(stack, 2)

    assert stack.models.request_count(DEEP) == 1  # only the :scales: one ran


async def test_a_follow_up_gives_each_model_its_own_answer_and_the_synthesis(stack):
    await consult(stack, f"full {SESSIONS.question}")
    (root,) = await consults_done(stack, 1)
    before = len(stack.models.requests)
    follow = stack.slack.post_user_message(
        CHANNEL,
        "<@UQUORUM> What if the sessions hold shopping carts?",
        thread_ts=root.ts,
    )

    await deliver(
        stack,
        mention(
            "What if the sessions hold shopping carts?", follow.ts, thread_ts=root.ts
        ),
    )
    await consults_done(stack, 2)

    asked = {r.model: r for r in stack.models.requests[before:]}
    swift = "\n".join(m["content"] for m in asked[SWIFT].messages)
    assert SESSIONS.answers[SWIFT].strip()[:200] in swift  # its own answer
    assert SESSIONS.answers[STEADY].strip()[:200] not in swift  # not another's
    assert "Confirm whether any session write must be transactional" in swift
    assert (
        asked[SWIFT]
        .messages[-1]["content"]
        .endswith("What if the sessions hold shopping carts?")
    )
    followup_root = [m for m in stack.slack.messages(CHANNEL) if is_done(m)][-1]
    assert followup_root.thread_ts == root.ts


async def test_a_thread_quorum_never_saw_is_read_from_slack(stack):
    root = stack.slack.post_user_message(CHANNEL, "Our login p99 doubled since Friday.")
    stack.slack.post_user_message(
        CHANNEL, "Deploy on Friday bumped the bcrypt cost to 14.", thread_ts=root.ts
    )
    asked = stack.slack.post_user_message(
        CHANNEL, "<@UQUORUM> dual Is the bcrypt change the cause?", thread_ts=root.ts
    )

    await deliver(
        stack,
        mention("dual Is the bcrypt change the cause?", asked.ts, thread_ts=root.ts),
    )
    await consults_done(stack, 1)

    assert stack.slack.calls_to("conversations.replies")
    prompt = "\n".join(m["content"] for m in stack.models.requests[0].messages)
    assert "Our login p99 doubled since Friday." in prompt
    assert "bumped the bcrypt cost to 14" in prompt


async def test_a_long_thread_is_trimmed_oldest_first_to_the_window(stack, redis_url):
    root = stack.slack.post_user_message(CHANNEL, "A long design thread")
    ref = ThreadRef(team="T0DEMO", channel=CHANNEL, thread_ts=root.ts)
    turns = [
        memory.Turn(
            kind="transcript",
            question=f"turn {i}: " + "lorem ipsum " * 400,
            asker="dana",
        )
        for i in range(40)
    ]
    store = await open_store(redis_url)
    await memory.save_turns(store, ref, turns)
    await store.aclose()
    asked = stack.slack.post_user_message(
        CHANNEL, "<@UQUORUM> dual So, Redis?", thread_ts=root.ts
    )

    await deliver(stack, mention("dual So, Redis?", asked.ts, thread_ts=root.ts))
    done = await consults_done(stack, 1)

    smallest = min(spec.window() for spec in stack.panel.tier("dual"))
    for request in stack.models.requests[:2]:
        text = "\n".join(m["content"] for m in request.messages)
        assert "turn 0:" not in text and "turn 39:" in text
        tokens = _count_tokens("openai/" + request.model, request.messages)
        assert tokens <= smallest
    synthesis = [
        m
        for m in stack.slack.thread(CHANNEL, root.ts)
        if m.text.startswith("Synthesis")
    ][-1]
    assert "oldest turns of this thread were left out" in block_text(synthesis)
    assert done


async def test_without_redis_the_embedded_store_runs_and_warns_once(
    monkeypatch, dead_redis_url, caplog
):
    monkeypatch.delenv("REDIS_URL", raising=False)
    caplog.set_level(logging.WARNING, logger="bot.store")

    async with demo_stack(
        behaviors=dict(FAST), local_redis_url=dead_redis_url
    ) as stack:
        await consult(stack, f"dual {SESSIONS.question}")
        await consults_done(stack, 1)
        await consult(stack, f"dual {SESSIONS.question}")
        await consults_done(stack, 2)

    warnings = [r for r in caplog.records if r.name == "bot.store"]
    assert len(warnings) == 1
    assert "Nothing persists" in warnings[0].getMessage()


async def test_a_debate_is_remembered_for_follow_ups(stack, redis_url, caplog):
    caplog.set_level(logging.ERROR)
    proposal = "Should we migrate our monolith to microservices?"

    await consult(stack, f"debate: {proposal}")
    (root,) = await consults_done(stack, 1)

    store = await open_store(redis_url)
    ref = ThreadRef(team="T0DEMO", channel=CHANNEL, thread_ts=root.ts)
    conversation = await memory.load(store, ref)
    await store.aclose()
    synthesis = conversation.turns[0].synthesis
    assert sorted(v.split(":")[0] for v in synthesis.verdicts) == [
        "against",
        "for",
        "neutral",
    ]
    assert "Worth it if:" in synthesis.summary
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
