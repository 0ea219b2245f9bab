"""The synthesis: a separate model compares the answers, blind, as JSON.

The answers go to the synthesis model under neutral letters in shuffled order.
Its JSON is validated by pydantic against the letters actually in use; an
invalid reply is retried once, then the fallback model is tried, and if all
fail the result is `SynthesisDegraded`, which says why. Under a channel's
cost cap the first attempt was reserved; a retry or the fallback runs only if
its most fits what the consult's reservation has left (`allowance_micros`).

A debate's answers argued assigned stances, so its synthesis is a different
report (`DebateReport`): the conditions under which each side wins, not
verdict groups.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from string import ascii_uppercase
from typing import TypeVar

from pydantic import (
    BaseModel,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from bot import prompts
from bot.errors import ModelCallError, model_call_error, redact
from bot.estimate import estimate_call
from bot.fanout import AnswerFinished
from bot.llm import configured_litellm
from bot.panel import ModelSpec, Stance

logger = logging.getLogger(__name__)
_R = TypeVar("_R", bound=BaseModel)


class _Report(BaseModel):
    @field_validator("*", mode="before")
    @classmethod
    def _strip(cls, value: object) -> object:
        return value.strip() if isinstance(value, str) else value


class VerdictGroup(_Report):
    verdict: str = Field(min_length=1)
    answers: list[str] = Field(min_length=1)


class Position(_Report):
    answers: list[str] = Field(min_length=1)
    view: str = Field(min_length=1)


class Disagreement(_Report):
    topic: str = Field(min_length=1)
    positions: list[Position] = Field(min_length=1)


class UniqueInsight(_Report):
    answer: str
    insight: str = Field(min_length=1)


class UncertainAnswer(_Report):
    answer: str
    reason: str = Field(min_length=1)


class SynthesisReport(_Report):
    """The synthesis model's reply, checked against the letters in use.

    Validate with `context={"letters": {...}}`.
    """

    verdict_groups: list[VerdictGroup] = Field(min_length=1)
    agreement: list[str] = Field(default_factory=list)
    disagreements: list[Disagreement] = Field(default_factory=list)
    unique_insights: list[UniqueInsight] = Field(default_factory=list)
    uncertain_answers: list[UncertainAnswer] = Field(default_factory=list)
    recommended_action: str = Field(min_length=1)

    @model_validator(mode="after")
    def _letters_are_real(self, info: ValidationInfo) -> SynthesisReport:
        letters: set[str] = (info.context or {}).get("letters", set())
        grouped = [letter for group in self.verdict_groups for letter in group.answers]
        mentioned = grouped + [u.answer for u in self.unique_insights]
        mentioned += [u.answer for u in self.uncertain_answers]
        mentioned += [
            letter
            for item in self.disagreements
            for position in item.positions
            for letter in position.answers
        ]
        unknown = sorted(set(mentioned) - letters)
        if unknown:
            raise ValueError(
                f"unknown answer letters {unknown}; use only {sorted(letters)}"
            )
        if len(grouped) != len(set(grouped)):
            raise ValueError("an answer appears in more than one verdict group")
        if set(grouped) != letters:
            missing = sorted(letters - set(grouped))
            raise ValueError(f"verdict_groups leaves out answers {missing}")
        return self


class DebateSide(_Report):
    answer: str
    stance: Stance
    case: str = Field(min_length=1)


class FatalFlaw(_Report):
    answer: str
    flaw: str = Field(min_length=1)


class Concession(_Report):
    answer: str
    point: str = Field(min_length=1)


class DebateReport(_Report):
    """A debate's synthesis, checked against the letters and stances in use.

    Validate with `context={"stances": {letter: stance}}`.
    """

    sides: list[DebateSide] = Field(min_length=1)
    worth_it_if: list[str] = Field(min_length=1)
    avoid_if: list[str] = Field(min_length=1)
    middle_path: str = ""
    fatal_flaws: list[FatalFlaw] = Field(default_factory=list)
    concessions: list[Concession] = Field(default_factory=list)
    uncertain_answers: list[UncertainAnswer] = Field(default_factory=list)
    recommended_action: str = Field(min_length=1)

    @model_validator(mode="after")
    def _sides_are_real(self, info: ValidationInfo) -> DebateReport:
        stances: dict[str, Stance] = (info.context or {}).get("stances", {})
        sided = [side.answer for side in self.sides]
        mentioned = sided + [f.answer for f in self.fatal_flaws]
        mentioned += [c.answer for c in self.concessions]
        mentioned += [u.answer for u in self.uncertain_answers]
        unknown = sorted(set(mentioned) - set(stances))
        if unknown:
            raise ValueError(
                f"unknown answer letters {unknown}; use only {sorted(stances)}"
            )
        if len(sided) != len(set(sided)):
            raise ValueError("an answer appears in sides more than once")
        if set(sided) != set(stances):
            missing = sorted(set(stances) - set(sided))
            raise ValueError(f"sides leaves out answers {missing}")
        for side in self.sides:
            if side.stance != stances[side.answer]:
                raise ValueError(
                    f"answer {side.answer} argued '{stances[side.answer]}', "
                    f"not '{side.stance}'"
                )
        return self


Report = SynthesisReport | DebateReport


@dataclass(frozen=True, slots=True)
class Synthesis:
    """A valid synthesis, with letters mapped back to the answers' aliases."""

    report: Report
    letters: dict[str, str]  # letter -> alias
    model_label: str
    cost_micros: int | None
    latency_s: float


@dataclass(frozen=True, slots=True)
class SynthesisDegraded:
    """No usable synthesis; `reason` says why in plain words."""

    reason: str
    cost_micros: int | None
    latency_s: float


SynthesisOutcome = Synthesis | SynthesisDegraded

NO_ROOM = "the channel's daily cap leaves no room for another try"


@dataclass(slots=True)
class _Purse:
    """What the synthesis may still spend under a cap; `left` None: no cap.

    The first attempt was reserved with the consult, so it always runs.
    """

    left: int | None
    tries: int = 0
    spent: list[int | None] = field(default_factory=list)

    def admits(self, spec: ModelSpec, messages: list[dict[str, str]]) -> bool:
        self.tries += 1
        if self.left is None or self.tries == 1:
            return True
        most = estimate_call(spec, messages).micros
        return most is not None and most <= self.left

    def pay(self, cost: int | None) -> None:
        self.spent.append(cost)
        if self.left is not None:
            self.left = 0 if cost is None else self.left - cost


def assign_letters(
    answers: list[AnswerFinished], rng: random.Random | None = None
) -> list[tuple[str, AnswerFinished]]:
    """Shuffle the answers and label them A, B, C… in the shuffled order."""
    shuffled = list(answers)
    (rng or random.SystemRandom()).shuffle(shuffled)
    return list(zip(ascii_uppercase, shuffled, strict=False))


async def synthesize(
    question: str,
    answers: list[AnswerFinished],
    models: list[ModelSpec],
    *,
    rng: random.Random | None = None,
    stances: dict[str, Stance] | None = None,
    allowance_micros: int | None = None,
) -> SynthesisOutcome:
    """Ask the synthesis model (then its fallback) to compare `answers`.

    With `stances` (alias -> stance) the answers are a debate's, and the
    result holds a `DebateReport`. `allowance_micros` bounds what retries and
    the fallback may spend (None: no bound).
    """
    started = time.monotonic()
    lettered = assign_letters(answers, rng)
    letters = {letter: answer.alias for letter, answer in lettered}
    by_letter = (
        {letter: stances[alias] for letter, alias in letters.items()}
        if stances
        else None
    )
    messages = prompts.synthesis_messages(
        question, [(letter, answer.text) for letter, answer in lettered], by_letter
    )
    purse = _Purse(allowance_micros)
    problems: list[str] = []
    for spec in models:
        outcome = await _try_model(spec, messages, _parser(letters, by_letter), purse)
        if isinstance(outcome, SynthesisReport | DebateReport):
            return Synthesis(
                report=outcome,
                letters=letters,
                model_label=spec.label,
                cost_micros=_total(purse.spent),
                latency_s=time.monotonic() - started,
            )
        problems.append(f"{spec.label}: {outcome}")
    return SynthesisDegraded(
        reason="; ".join(problems) or "no synthesis model is configured",
        cost_micros=_total(purse.spent),
        latency_s=time.monotonic() - started,
    )


def _parser(
    letters: dict[str, str], stances: dict[str, Stance] | None
) -> Callable[[str], Report]:
    if stances is not None:
        return lambda reply: parse_debate_report(reply, stances)
    return lambda reply: parse_report(reply, set(letters))


async def _try_model(
    spec: ModelSpec,
    messages: list[dict[str, str]],
    parse: Callable[[str], Report],
    purse: _Purse,
) -> Report | str:
    """Two tries at one model: the second shows it what was wrong with the first."""
    conversation = list(messages)
    problem = ""
    for _attempt in range(2):
        if not purse.admits(spec, conversation):
            return NO_ROOM + (f" (its last reply: {problem})" if problem else "")
        try:
            reply = await _complete(spec, conversation, purse)
        except ModelCallError as exc:
            return exc.reason
        try:
            return parse(reply)
        except ValueError as exc:
            problem = str(exc)
            logger.info("synthesis invalid model=%s problem=%r", spec.model, problem)
            conversation = messages + [
                {"role": "assistant", "content": reply},
                {
                    "role": "user",
                    "content": prompts.SYNTHESIS_RETRY.format(problem=problem),
                },
            ]
    return f"its reply was not valid JSON twice ({problem})"


async def _complete(
    spec: ModelSpec, messages: list[dict[str, str]], purse: _Purse
) -> str:
    litellm = configured_litellm()
    started = time.monotonic()
    try:
        async with asyncio.timeout(spec.timeout_s):
            response = await litellm.acompletion(
                model=spec.model,
                messages=messages,
                max_tokens=spec.max_tokens,
                api_base=spec.api_base,
                api_key=spec.api_key(),
                extra_headers=spec.headers or None,
                response_format={"type": "json_object"},
                timeout=spec.timeout_s,
                num_retries=0,
                max_retries=0,
            )
    except TimeoutError:
        purse.pay(None)  # the provider may bill a call it did not finish
        raise ModelCallError(
            f"timed out after {spec.timeout_s:g} s", kind="timeout"
        ) from None
    except Exception as exc:
        error = model_call_error(exc)
        logger.info(
            "synthesis call model=%s outcome=%s detail=%r",
            spec.model,
            error.kind,
            redact(str(exc))[:300],
        )
        raise error from exc
    usage = getattr(response, "usage", None)
    price = spec.price()
    cost = None
    if usage is not None and price is not None:
        cost = price.cost_micros(usage.prompt_tokens or 0, usage.completion_tokens or 0)
    purse.pay(cost)
    logger.info(
        "synthesis call model=%s outcome=ok latency_s=%.2f cost_usd=%s",
        spec.model,
        time.monotonic() - started,
        "unknown" if cost is None else f"{cost / 1e6:.6f}",
    )
    return response.choices[0].message.content or ""


_FENCE = re.compile(r"^```(?:json)?\s*|\s*```$", re.IGNORECASE)


def parse_report(reply: str, letters: set[str]) -> SynthesisReport:
    """Parse and check the synthesis model's reply; ValueError says what is wrong."""
    data = _json_object(reply)
    return _validated(SynthesisReport, data, {"letters": letters})


def parse_debate_report(reply: str, stances: dict[str, Stance]) -> DebateReport:
    """Parse and check a debate synthesis; `stances` maps each letter to its stance."""
    data = _json_object(reply)
    return _validated(DebateReport, data, {"stances": stances})


def _json_object(reply: str) -> object:
    text = _FENCE.sub("", reply.strip())
    start, end = text.find("{"), text.rfind("}")
    if start < 0 or end < start:
        raise ValueError("the reply holds no JSON object")
    try:
        return json.loads(text[start : end + 1])
    except json.JSONDecodeError as exc:
        raise ValueError(f"invalid JSON ({exc.msg} at line {exc.lineno})") from exc


def _validated(model: type[_R], data: object, context: dict) -> _R:
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        message = first["msg"].removeprefix("Value error, ")
        raise ValueError(f"{where or 'reply'}: {message}") from exc


def _total(costs: list[int | None]) -> int | None:
    """The sum, or None when any part is unknown."""
    if any(cost is None for cost in costs):
        return None
    return sum(cost for cost in costs if cost is not None)


_LETTER_REF = re.compile(r"\b([Aa]nswers?) ([A-Z])\b")


def name_letters(text: str, names: dict[str, str]) -> str:
    """Replace "answer B" in a report's prose with `names["B"]`."""

    def swap(match: re.Match[str]) -> str:
        return names.get(match.group(2), match.group(0))

    return _LETTER_REF.sub(swap, text)
