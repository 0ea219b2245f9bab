"""A consult as one turn of a thread's conversation: new, follow-up, escalation.

The thread's memory lives in Redis (`bot.memory`). A follow-up gives each
model its own earlier answers and the syntheses, trimmed to its window; an
escalation re-asks the latest question of the full tier, reusing the answers
already given. Nothing here knows about Slack.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from bot import memory, prompts
from bot.consult import ConsultRequest, ConsultResult, ConsultThread, run_consult
from bot.dedupe import claim_escalation
from bot.followup import QuestionTooLong, followup_messages
from bot.memory import Conversation
from bot.panel import Panel
from bot.store import Store, ThreadRef

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Refused:
    """The consult did not run; `reason` is short and says what to do."""

    reason: str


async def consult_in_thread(
    request: ConsultRequest,
    panel: Panel,
    thread: ConsultThread,
    store: Store,
    *,
    history: Conversation | None = None,
    ttl: timedelta,
) -> ConsultResult | Refused:
    """Ask the panel `request`; with `history`, as a follow-up to that thread.

    `history` is the cached conversation, or one rebuilt from the thread's
    messages (transcript turns not yet saved) for a thread Quorum never saw.
    """
    messages: dict[str, list[dict[str, str]]] = {}
    trimmed = 0
    if history is not None and history.turns:
        for spec in panel.tier(request.tier):
            prompt = followup_messages(
                history,
                spec,
                request.question,
                system_prompt=prompts.PANELIST_SYSTEM,
                context_window=spec.window(),
                reserve_tokens=spec.max_tokens,
            )
            if isinstance(prompt, QuestionTooLong):
                return Refused(prompt.reason)
            messages[spec.alias] = prompt.messages
            trimmed = max(trimmed, prompt.trimmed_turns)

    notes = [_trim_note(trimmed)] if trimmed else []
    result = await run_consult(request, panel, thread, messages=messages, notes=notes)
    ref = _ref(request, result.thread_ts)
    if ref is None:
        return result  # the thread was never opened: nothing to remember
    turn = memory.turn_from_result(result).model_copy(update={"trimmed_turns": trimmed})
    unsaved = [t for t in (history.turns if history else []) if t.kind == "transcript"]
    if history is not None and unsaved and not await memory.load(store, ref):
        await memory.save_turns(store, ref, [*unsaved, turn], ttl=ttl)
    else:
        await memory.save_turn(store, ref, turn, ttl=ttl)
    return result


async def escalate(
    ref: ThreadRef,
    asker: str,
    panel: Panel,
    thread: ConsultThread,
    store: Store,
    *,
    ttl: timedelta,
) -> ConsultResult | Refused | None:
    """Ask the full tier the thread's latest question, once per question.

    None: this thread is not a consult, or it was escalated already; there is
    nothing to say to anyone.
    """
    conversation = await memory.load(store, ref)
    index = conversation.latest_question() if conversation else None
    if conversation is None or index is None:
        return None
    turn = conversation.turns[index]
    full = [spec.alias for spec in panel.tier("full")]
    missing = memory.missing_aliases(turn, full)
    if not missing:
        return Refused("every model of the full panel has already answered this")
    if not await claim_escalation(store, ref, index, ttl=ttl):
        return None

    reused = [a for a in memory.reusable_answers(turn) if a.alias in full]
    request = ConsultRequest(
        question=turn.question,
        tier="full",
        asker=asker,
        team=ref.team,
        channel=ref.channel,
        thread_ts=ref.thread_ts,
        kind="escalation",
    )
    earlier = Conversation(thread=ref, turns=conversation.turns[:index])
    messages, trimmed = _history_prompts(earlier, panel, missing, turn.question)
    notes = [_trim_note(trimmed)] if trimmed else []
    result = await run_consult(
        request, panel, thread, messages=messages, reused=reused, notes=notes
    )
    new_turn = memory.turn_from_result(result)
    new_answers = {a: s for a, s in new_turn.answers.items() if a in missing}
    await memory.update_turn(
        store, ref, index, answers=new_answers, synthesis=new_turn.synthesis, ttl=ttl
    )
    return result


def _history_prompts(
    earlier: Conversation, panel: Panel, aliases: list[str], question: str
) -> tuple[dict[str, list[dict[str, str]]], int]:
    if not earlier.turns:
        return {}, 0
    messages: dict[str, list[dict[str, str]]] = {}
    trimmed = 0
    for alias in aliases:
        spec = panel.models[alias]
        prompt = followup_messages(
            earlier,
            spec,
            question,
            system_prompt=prompts.PANELIST_SYSTEM,
            context_window=spec.window(),
            reserve_tokens=spec.max_tokens,
        )
        if isinstance(prompt, QuestionTooLong):
            continue  # the plain question is asked instead
        messages[alias] = prompt.messages
        trimmed = max(trimmed, prompt.trimmed_turns)
    return messages, trimmed


def _trim_note(trimmed: int) -> str:
    plural = "s" if trimmed > 1 else ""
    return (
        f"The {trimmed} oldest turn{plural} of this thread were left out to fit "
        "the models' context windows."
    )


def _ref(request: ConsultRequest, thread_ts: str | None) -> ThreadRef | None:
    thread_ts = thread_ts or request.thread_ts
    if thread_ts is None:
        return None
    return ThreadRef(team=request.team, channel=request.channel, thread_ts=thread_ts)
