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

from bot import prompts
from bot.confidence import Confidence, rate_confidence
from bot.fanout import (
    AnswerFailed,
    AnswerFinished,
    ModelRequest,
    PanelEvent,
    ask_panel,
)
from bot.logs import set_where
from bot.panel import ConsultLimits, ModelSpec, Panel, TierName
from bot.synthesis import Synthesis, SynthesisDegraded, SynthesisOutcome, synthesize

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
        self, request: ConsultRequest, models: list[ModelSpec]
    ) -> str | None:
        """Show the question and the models to ask; return the thread's id."""

    async def show(self, event: PanelEvent) -> None:
        """Show one event of one model's answer."""

    async def close(self, result: ConsultResult) -> None:
        """Show the outcome: the synthesis, or why there is none."""


async def run_consult(
    request: ConsultRequest,
    panel: Panel,
    thread: ConsultThread,
    *,
    rng: random.Random | None = None,
    messages: dict[str, list[dict[str, str]]] | None = None,
    reused: Sequence[AnswerFinished] = (),
    notes: Sequence[str] = (),
) -> ConsultResult:
    """Run one consult into `thread`.

    `messages` gives a model (by alias) its own prompt, e.g. a follow-up with
    its thread history; others get the plain question. `reused` answers came
    earlier (an escalation): those models are not asked again.
    """
    started = time.monotonic()
    set_where(team=request.team, channel=request.channel, thread=request.thread_ts)
    models = panel.tier(request.tier)
    done_before = {answer.alias: answer for answer in reused}
    to_ask = [spec for spec in models if spec.alias not in done_before]
    thread_ts = await thread.open(request, to_ask) or request.thread_ts
    set_where(team=request.team, channel=request.channel, thread=thread_ts)

    left_s = panel.consult.panel_deadline_s - (time.monotonic() - started)
    new_answers, failures = await _collect_answers(
        request, to_ask, thread, messages, panel.consult, left_s
    )
    by_alias = {a.alias: a for a in [*reused, *new_answers]}
    answers = [by_alias[spec.alias] for spec in models if spec.alias in by_alias]
    synthesis = await _synthesize(request, answers, panel, rng)
    result = ConsultResult(
        request=request,
        models=models,
        answers=answers,
        failures=failures,
        synthesis=synthesis,
        confidence=_confidence(models, answers, synthesis),
        wall_s=time.monotonic() - started,
        cost_parts=_cost_parts(new_answers, failures, synthesis),
        reused=list(done_before),
        notes=list(notes),
        thread_ts=thread_ts,
    )
    await thread.close(result)
    _log_consult(result)
    return result


async def _collect_answers(
    request: ConsultRequest,
    models: list[ModelSpec],
    thread: ConsultThread,
    messages: dict[str, list[dict[str, str]]] | None,
    limits: ConsultLimits,
    deadline_s: float,
) -> tuple[list[AnswerFinished], list[AnswerFailed]]:
    plain = prompts.panelist_messages(request.question)
    requests = [
        ModelRequest(spec, (messages or {}).get(spec.alias, plain)) for spec in models
    ]
    done: dict[str, AnswerFinished | AnswerFailed] = {}
    events = ask_panel(requests, deadline_s=deadline_s, retries=limits.retries)
    async with aclosing(events):  # a thread that stops showing stops the models
        async for event in events:
            await thread.show(event)
            if isinstance(event, AnswerFinished | AnswerFailed):
                done[event.alias] = event
    ordered = [done[spec.alias] for spec in models]
    answers = [a for a in ordered if isinstance(a, AnswerFinished)]
    failures = [a for a in ordered if isinstance(a, AnswerFailed)]
    return answers, failures


async def _synthesize(
    request: ConsultRequest,
    answers: list[AnswerFinished],
    panel: Panel,
    rng: random.Random | None,
) -> SynthesisOutcome | None:
    if request.tier == "single" or len(panel.tier(request.tier)) < 2:
        return None
    if len(answers) < 2:
        answered = "only one model" if answers else "no model"
        return SynthesisDegraded(
            reason=f"{answered} answered, so there is nothing to compare",
            cost_micros=0,
            latency_s=0.0,
        )
    return await synthesize(request.question, answers, panel.synthesis_models, rng=rng)


def _confidence(
    models: list[ModelSpec],
    answers: list[AnswerFinished],
    synthesis: SynthesisOutcome | None,
) -> Confidence | None:
    """Rate the agreement the synthesis found; None when there is nothing to rate."""
    if synthesis is None:
        return None
    if isinstance(synthesis, SynthesisDegraded):
        if len(answers) >= 2:
            return None  # answers exist but nobody grouped them: no level to claim
        return rate_confidence(len(models), [[a.label] for a in answers])
    labels = {a.alias: a.label for a in answers}
    name = {letter: labels[alias] for letter, alias in synthesis.letters.items()}
    groups = [
        [name[letter] for letter in group.answers]
        for group in synthesis.report.verdict_groups
    ]
    uncertain = {name[u.answer]: u.reason for u in synthesis.report.uncertain_answers}
    return rate_confidence(len(models), groups, uncertain)


def _cost_parts(
    answers: list[AnswerFinished],
    failures: list[AnswerFailed],
    synthesis: SynthesisOutcome | None,
) -> list[tuple[str, int | None]]:
    parts: list[tuple[str, int | None]] = [(a.label, a.cost_micros) for a in answers]
    if isinstance(synthesis, Synthesis):
        parts.append((f"synthesis ({synthesis.model_label})", synthesis.cost_micros))
    elif isinstance(synthesis, SynthesisDegraded) and synthesis.cost_micros:
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
    logger.info(
        "consult tier=%s models=%d answered=%d failed=%d outcome=%s confidence=%s "
        "wall_s=%.2f cost_usd=%.6f unpriced=%d",
        result.request.tier,
        len(result.models),
        len(result.answers),
        len(result.failures),
        outcome,
        result.confidence.level if result.confidence else "-",
        result.wall_s,
        result.known_cost_micros / 1e6,
        len(result.unpriced),
    )
