"""A consult as one turn of a thread's conversation: new, follow-up, escalation.

The thread's memory lives in Redis (`bot.memory`). A follow-up gives each
model its own earlier answers and the syntheses, trimmed to its window; an
escalation re-asks the latest question of the full tier, reusing the answers
already given. Each of them runs only if the channel's daily cost cap has room
for it, and is charged what it cost (`bot.metering`). Nothing here knows about
Slack.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import timedelta

from bot import memory, prompts
from bot.consult import (
    ConsultPlan,
    ConsultRequest,
    ConsultResult,
    ConsultThread,
    Refused,
    plan_consult,
    run_consult,
)
from bot.dedupe import claim_escalation, release_escalation
from bot.fanout import PanelEvent
from bot.followup import QuestionTooLong, followup_messages
from bot.memory import Conversation
from bot.metering import Alternatives, MeteredThread, OverBudget, Tab, open_tab
from bot.panel import ModelSpec, Panel, Stance, TierName
from bot.store import Store, ThreadRef

logger = logging.getLogger(__name__)

Prompts = dict[str, list[dict[str, str]]]


async def consult_in_thread(
    request: ConsultRequest,
    panel: Panel,
    thread: ConsultThread,
    store: Store,
    *,
    history: Conversation | None = None,
    ttl: timedelta,
) -> ConsultResult | Refused | OverBudget:
    """Ask the panel `request`; with `history`, as a follow-up to that thread.

    `history` is the cached conversation, or one rebuilt from the thread's
    messages (transcript turns not yet saved) for a thread Quorum never saw.
    The consult runs only if the channel's daily cap has room for it.
    """
    prompted = _followup_prompts(request, panel, history, request.tier)
    if isinstance(prompted, Refused):
        return prompted
    messages, trimmed = prompted
    plan = plan_consult(request, panel, messages=messages)

    def alternatives(tier: TierName) -> ConsultPlan | None:
        return _alternative(request, panel, history, tier)

    async def remember(result: ConsultResult) -> None:
        ref = _ref(request, result.thread_ts)
        if ref is None:
            return  # the thread was never opened: nothing to remember
        turn = memory.turn_from_result(result)
        turn = turn.model_copy(update={"trimmed_turns": trimmed})
        unsaved = [
            t for t in (history.turns if history else []) if t.kind == "transcript"
        ]
        if history is not None and unsaved and not await memory.load(store, ref):
            await memory.save_turns(store, ref, [*unsaved, turn], ttl=ttl)
        else:
            await memory.save_turn(store, ref, turn, ttl=ttl)

    notes = [_trim_note(trimmed)] if trimmed else []
    remembering = _RememberFirst(thread, remember)
    return await _metered(request, panel, remembering, store, plan, notes, alternatives)


async def escalate(
    ref: ThreadRef,
    asker: str,
    panel: Panel,
    thread: ConsultThread,
    store: Store,
    *,
    ttl: timedelta,
) -> ConsultResult | Refused | OverBudget | None:
    """Ask the full tier the thread's latest question, once per question.

    Only the models that have not answered it are asked, and only they (and
    the new synthesis) are held against the channel's cap. None: this thread
    is not a consult, or it was escalated already; there is nothing to say.
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
    plan = plan_consult(request, panel, messages=messages, reused=reused)

    async def remember(result: ConsultResult) -> None:
        new_turn = memory.turn_from_result(result)
        new_answers = {a: s for a, s in new_turn.answers.items() if a in missing}
        await memory.update_turn(
            store,
            ref,
            index,
            answers=new_answers,
            synthesis=new_turn.synthesis,
            ttl=ttl,
        )

    notes = [_trim_note(trimmed)] if trimmed else []
    remembering = _RememberFirst(thread, remember)
    outcome = await _metered(request, panel, remembering, store, plan, notes, None)
    if not isinstance(outcome, ConsultResult):
        await release_escalation(store, ref, index)  # let a later reaction retry
    return outcome


class _RememberFirst:
    """A `ConsultThread` that saves the consult to memory before it shows as
    done, so a follow-up or a reaction to the finished thread always finds it."""

    def __init__(
        self,
        inner: ConsultThread,
        remember: Callable[[ConsultResult], Awaitable[None]],
    ) -> None:
        self.inner = inner
        self.remember = remember

    async def open(
        self,
        request: ConsultRequest,
        models: list[ModelSpec],
        *,
        stances: dict[str, Stance] | None = None,
    ) -> str | None:
        return await self.inner.open(request, models, stances=stances)

    async def show(self, event: PanelEvent) -> None:
        await self.inner.show(event)

    async def close(self, result: ConsultResult) -> None:
        try:
            await self.remember(result)
        finally:
            await self.inner.close(result)


async def _metered(
    request: ConsultRequest,
    panel: Panel,
    thread: ConsultThread,
    store: Store,
    plan: ConsultPlan,
    notes: list[str],
    alternatives: Alternatives | None,
) -> ConsultResult | Refused | OverBudget:
    """Run `plan` if the channel's cap has room for it, and charge what it cost."""
    tab = await open_tab(store, panel.budget, request, plan, alternatives=alternatives)
    if not isinstance(tab, Tab):
        return tab
    metered = MeteredThread(thread, store, tab)
    try:
        return await run_consult(
            request,
            panel,
            metered,
            plan=plan,
            notes=notes,
            ceiling=tab.capped_ceiling,
        )
    except BaseException:
        await metered.abandon()
        raise


def _followup_prompts(
    request: ConsultRequest,
    panel: Panel,
    history: Conversation | None,
    tier: TierName,
) -> tuple[Prompts, int] | Refused:
    """Each model's prompt with the thread's history, and the turns left out."""
    messages: Prompts = {}
    trimmed = 0
    if history is None or not history.turns:
        return messages, trimmed
    for spec in panel.tier(tier):
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
    return messages, trimmed


def _alternative(
    request: ConsultRequest,
    panel: Panel,
    history: Conversation | None,
    tier: TierName,
) -> ConsultPlan | None:
    """The same question at another tier, to offer when the cap refuses this one."""
    if request.debate:
        return None  # a debate has one panel; no tier of it is cheaper
    prompted = _followup_prompts(request, panel, history, tier)
    if isinstance(prompted, Refused):
        return None
    messages, _ = prompted
    return plan_consult(replace(request, tier=tier), panel, messages=messages)


def _history_prompts(
    earlier: Conversation, panel: Panel, aliases: list[str], question: str
) -> tuple[Prompts, int]:
    if not earlier.turns:
        return {}, 0
    messages: Prompts = {}
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
