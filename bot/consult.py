"""One consult, start to finish: ask the panel, show the answers, synthesize.

The consult writes to a `ConsultThread`: the Slack writer is one, the demo's
and the tests' recorders are others. Nothing here knows about Slack.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Literal, Protocol

from bot import metrics, prompts
from bot.charges import synthesis_allowance
from bot.confidence import Confidence, Level, rate_confidence
from bot.estimate import Ceiling, CostEstimate, estimate_consult
from bot.fanout import (
    AnswerFailed,
    AnswerFinished,
    ModelRequest,
    PanelEvent,
    ask_panel,
)
from bot.logs import set_where
from bot.panel import ConsultLimits, ModelSpec, Panel, Stance, TierName
from bot.synthesis import (
    DebateReport,
    Synthesis,
    SynthesisDegraded,
    SynthesisOutcome,
    SynthesisReport,
    synthesize,
)
from bot.uncertainty import find_hedge

logger = logging.getLogger(__name__)


ConsultKind = Literal["consult", "followup", "escalation"]


@dataclass(frozen=True, slots=True)
class ConsultRequest:
    question: str
    tier: TierName
    asker: str  # the asker's user id
    team: str
    channel: str
    thread_ts: str | None = None  # set: the consult lives in this existing thread
    kind: ConsultKind = "consult"
    debate: bool = False  # each model argues the stance the panel file gives it


@dataclass(frozen=True, slots=True)
class Refused:
    """The consult did not run; `reason` is short and says what to do."""

    reason: str


@dataclass(frozen=True, slots=True)
class ConsultPlan:
    """Who a consult asks and with what, settled before anything is asked."""

    models: list[ModelSpec]  # the lineup, in order; the synthesis reads them all
    stances: dict[str, Stance]  # alias -> stance, in a debate
    requests: list[ModelRequest]  # the models asked now, each with its messages
    reused: list[AnswerFinished]  # answers given earlier (an escalation)
    synthesis_models: list[ModelSpec]  # in the order tried; empty: no synthesis

    @property
    def asked(self) -> list[tuple[ModelSpec, list[dict[str, str]]]]:
        return [(r.spec, r.messages) for r in self.requests]


@dataclass(frozen=True, slots=True)
class EscalationHint:
    """Why and how to ask the full tier, and what that would cost at most."""

    reason: str  # "the answers disagree", "confidence is Low"
    reaction: str  # the emoji name, without colons
    models: list[str]  # the full tier's labels
    estimate: CostEstimate


@dataclass(frozen=True, slots=True)
class ConsultResult:
    request: ConsultRequest
    models: list[ModelSpec]
    answers: list[AnswerFinished]
    failures: list[AnswerFailed]
    synthesis: SynthesisOutcome | None  # None: single tier, nothing to compare
    confidence: Confidence | None
    wall_s: float
    cost_parts: list[tuple[str, int | None]] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)  # aliases answered earlier
    notes: list[str] = field(default_factory=list)  # e.g. history left out
    thread_ts: str | None = None  # the thread the consult was written to
    stances: dict[str, Stance] = field(default_factory=dict)  # alias -> stance
    escalation: EscalationHint | None = None

    @property
    def known_cost_micros(self) -> int:
        return sum(cost for _, cost in self.cost_parts if cost is not None)

    @property
    def unpriced(self) -> list[str]:
        """Labels of the parts whose cost is unknown."""
        return [label for label, cost in self.cost_parts if cost is None]


class ConsultThread(Protocol):
    """Where a consult shows itself, as it happens."""

    async def open(
        self,
        request: ConsultRequest,
        models: list[ModelSpec],
        *,
        stances: dict[str, Stance] | None = None,
    ) -> str | None:
        """Show the question and the models to ask (in a debate, who argues what).

        Return the thread's id (its root message's ts), if it has one.
        """

    async def show(self, event: PanelEvent) -> None:
        """Show one event of one model's answer."""

    async def close(self, result: ConsultResult) -> None:
        """Show the outcome: the synthesis, or why there is none."""


def plan_consult(
    request: ConsultRequest,
    panel: Panel,
    *,
    messages: dict[str, list[dict[str, str]]] | None = None,
    reused: Sequence[AnswerFinished] = (),
) -> ConsultPlan:
    """Who `request` asks, with what.

    `messages` gives a model (by alias) its own prompt, e.g. a follow-up with
    its thread history; others get the plain question. `reused` answers came
    earlier (an escalation): those models are not asked again.
    """
    models, stances = _lineup(request, panel)
    done_before = {answer.alias for answer in reused}
    own = messages or {}
    requests = [
        ModelRequest(
            spec,
            own.get(spec.alias) or _messages(request.question, stances.get(spec.alias)),
        )
        for spec in models
        if spec.alias not in done_before
    ]
    synthesizes = request.tier != "single" and len(models) >= 2
    return ConsultPlan(
        models=models,
        stances=stances,
        requests=requests,
        reused=list(reused),
        synthesis_models=panel.synthesis_models if synthesizes else [],
    )


async def run_consult(
    request: ConsultRequest,
    panel: Panel,
    thread: ConsultThread,
    *,
    plan: ConsultPlan | None = None,
    rng: random.Random | None = None,
    notes: Sequence[str] = (),
    ceiling: Ceiling | None = None,
) -> ConsultResult:
    """Run one consult into `thread`, as `plan` says (by default, the plain one).

    With a `ceiling` (the consult's reservation under a cost cap), a synthesis
    retry or fallback runs only in what the answers left of it.
    """
    started = time.monotonic()
    plan = plan or plan_consult(request, panel)
    set_where(team=request.team, channel=request.channel, thread=request.thread_ts)
    models, stances = plan.models, plan.stances
    opened = await thread.open(
        request, [r.spec for r in plan.requests], stances=stances
    )
    thread_ts = opened or request.thread_ts
    set_where(team=request.team, channel=request.channel, thread=thread_ts)

    left_s = panel.consult.panel_deadline_s - (time.monotonic() - started)
    new_answers, failures = await _collect_answers(
        plan.requests, thread, panel.consult, left_s
    )
    by_alias = {a.alias: a for a in [*plan.reused, *new_answers]}
    answers = [by_alias[spec.alias] for spec in models if spec.alias in by_alias]
    allowance = synthesis_allowance(ceiling, new_answers, failures) if ceiling else None
    synthesis = await _synthesize(request, plan, answers, rng, allowance)
    confidence = _confidence(models, answers, synthesis, stances)
    result = ConsultResult(
        request=request,
        models=models,
        answers=answers,
        failures=failures,
        synthesis=synthesis,
        confidence=confidence,
        wall_s=time.monotonic() - started,
        cost_parts=_cost_parts(new_answers, failures, synthesis),
        reused=[answer.alias for answer in plan.reused],
        notes=list(notes),
        thread_ts=thread_ts,
        stances=stances,
        escalation=_escalation(request, models, panel, synthesis, confidence),
    )
    await thread.close(result)
    _log_consult(result)
    return result


def _lineup(
    request: ConsultRequest, panel: Panel
) -> tuple[list[ModelSpec], dict[str, Stance]]:
    """The models to ask and, in a debate, the stance each argues."""
    if not request.debate:
        return panel.tier(request.tier), {}
    seats = panel.stances()
    return [spec for _, spec in seats], {spec.alias: s for s, spec in seats}


async def _collect_answers(
    requests: list[ModelRequest],
    thread: ConsultThread,
    limits: ConsultLimits,
    deadline_s: float,
) -> tuple[list[AnswerFinished], list[AnswerFailed]]:
    done: dict[str, AnswerFinished | AnswerFailed] = {}
    events = ask_panel(requests, deadline_s=deadline_s, retries=limits.retries)
    async with aclosing(events):  # a thread that stops showing stops the models
        async for event in events:
            await thread.show(event)
            if isinstance(event, AnswerFinished | AnswerFailed):
                done[event.alias] = event
    ordered = [done[r.spec.alias] for r in requests]
    answers = [a for a in ordered if isinstance(a, AnswerFinished)]
    failures = [a for a in ordered if isinstance(a, AnswerFailed)]
    return answers, failures


def _messages(question: str, stance: Stance | None) -> list[dict[str, str]]:
    if stance is None:
        return prompts.panelist_messages(question)
    return prompts.debater_messages(question, stance)


async def _synthesize(
    request: ConsultRequest,
    plan: ConsultPlan,
    answers: list[AnswerFinished],
    rng: random.Random | None,
    allowance: int | None,
) -> SynthesisOutcome | None:
    if not plan.synthesis_models:
        return None  # single tier, or one model: nothing to compare
    if len(answers) < 2:
        answered = "only one model" if answers else "no model"
        return SynthesisDegraded(
            reason=f"{answered} answered, so there is nothing to compare",
            cost_micros=0,
            latency_s=0.0,
        )
    return await synthesize(
        request.question,
        answers,
        plan.synthesis_models,
        rng=rng,
        stances=plan.stances or None,
        allowance_micros=allowance,
    )


def _confidence(
    models: list[ModelSpec],
    answers: list[AnswerFinished],
    synthesis: SynthesisOutcome | None,
    stances: dict[str, Stance],
) -> Confidence | None:
    """Rate the agreement the synthesis found; None when there is nothing to rate."""
    debate = bool(stances)
    if synthesis is None:
        return None
    if isinstance(synthesis, SynthesisDegraded):
        if len(answers) >= 2:
            return None  # answers exist but nobody grouped them: no level to claim
        groups = [[a.label] for a in answers]
        return rate_confidence(
            len(models), groups, _unsure(answers, {}), stances_assigned=debate
        )
    labels = {a.alias: a.label for a in answers}
    name = {letter: labels[alias] for letter, alias in synthesis.letters.items()}
    report = synthesis.report
    if isinstance(report, DebateReport):
        groups = [[name[side.answer]] for side in report.sides]
    else:
        groups = [[name[x] for x in group.answers] for group in report.verdict_groups]
    reported = {name[u.answer]: u.reason for u in report.uncertain_answers}
    uncertain = _unsure(answers, reported)
    return rate_confidence(len(models), groups, uncertain, stances_assigned=debate)


def _unsure(answers: list[AnswerFinished], reported: dict[str, str]) -> dict[str, str]:
    """The synthesis model's unsure answers, plus any hedge it missed in the text."""
    unsure = dict(reported)
    for answer in answers:
        hedge = find_hedge(answer.text)
        if hedge is not None and answer.label not in unsure:
            unsure[answer.label] = f'it says "{hedge}"'
    return unsure


def _escalation(
    request: ConsultRequest,
    models: list[ModelSpec],
    panel: Panel,
    synthesis: SynthesisOutcome | None,
    confidence: Confidence | None,
) -> EscalationHint | None:
    """A hint to ask the full tier, when it has more to say and the result is weak."""
    full = panel.tier("full")
    asked = {spec.alias for spec in models}
    if request.debate or not isinstance(synthesis, Synthesis) or confidence is None:
        return None
    if all(spec.alias in asked for spec in full):
        return None  # the full tier adds no one
    report = synthesis.report
    if isinstance(report, SynthesisReport) and len(report.verdict_groups) > 1:
        reason = "the answers disagree"
    elif confidence.level in (Level.LOW, Level.VARIABLE):
        reason = f"confidence is {confidence.level}"
    else:
        return None
    judge = panel.synthesis_models[0] if panel.synthesis_models else None
    return EscalationHint(
        reason=reason,
        reaction=panel.escalation.reaction,
        models=[spec.label for spec in full],
        estimate=estimate_consult(request.question, full, judge),
    )


def _cost_parts(
    answers: list[AnswerFinished],
    failures: list[AnswerFailed],
    synthesis: SynthesisOutcome | None,
) -> list[tuple[str, int | None]]:
    parts: list[tuple[str, int | None]] = [(a.label, a.cost_micros) for a in answers]
    if isinstance(synthesis, Synthesis):
        parts.append((f"synthesis ({synthesis.model_label})", synthesis.cost_micros))
    elif isinstance(synthesis, SynthesisDegraded) and synthesis.cost_micros != 0:
        parts.append(("synthesis", synthesis.cost_micros))
    return parts


def _log_consult(result: ConsultResult) -> None:
    synthesis = result.synthesis
    outcome = (
        "no_synthesis"
        if synthesis is None
        else "degraded"
        if isinstance(synthesis, SynthesisDegraded)
        else "ok"
    )
    metrics.CONSULTS.labels(result.request.tier, outcome).inc()
    logger.info(
        "consult tier=%s debate=%s models=%d answered=%d failed=%d outcome=%s "
        "confidence=%s wall_s=%.2f cost_usd=%.6f unpriced=%d",
        result.request.tier,
        result.request.debate,
        len(result.models),
        len(result.answers),
        len(result.failures),
        outcome,
        result.confidence.level if result.confidence else "-",
        result.wall_s,
        result.known_cost_micros / 1e6,
        len(result.unpriced),
    )
