"""What a consult is charged against its channel's cap, once it has run.

The consult reserved its ceiling (`bot.estimate.Ceiling`); what it is charged
is what each part really cost, from the usage the provider reported times the
model's price. A part whose cost is unknown is charged its ceiling, never $0:

- an answer whose usage is missing: at our level, an `AnswerFinished` with
  `cost_micros` None. litellm counts the tokens itself when a stream carries
  no usage, so this is a stream that reached us with no usage at all;
- a model that failed after it may have been billed: it streamed some text,
  or it timed out or stalled (a silent model may still be thinking, at a
  price). A model refused outright (an HTTP error, no connection) costs $0;
- a synthesis whose cost is unknown is charged all the ceiling has left.

So the charge never exceeds the ceiling unless a provider counted more
tokens than litellm's counter did.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.estimate import Ceiling
from bot.fanout import AnswerFailed, AnswerFinished

# Failures after which the provider may have billed tokens nobody reported.
BILLED_FAILURES = frozenset({"timeout", "stalled"})


@dataclass(frozen=True, slots=True)
class Charge:
    """What a consult costs its channel; `exact` False: some part was unknown."""

    micros: int
    exact: bool


def answers_charge(
    ceiling: Ceiling,
    answers: Sequence[AnswerFinished],
    failures: Sequence[AnswerFailed],
) -> Charge:
    """What the models asked cost: known costs, else each one's ceiling."""
    done = {answer.alias: answer for answer in answers}
    failed = {failure.alias: failure for failure in failures}
    total, exact = 0, True
    for alias, most in ceiling.answers.items():
        answer = done.get(alias)
        if answer is not None and answer.cost_micros is not None:
            total += answer.cost_micros
        elif alias in failed and not _maybe_billed(failed[alias]):
            continue
        else:
            total, exact = total + most, False
    return Charge(total, exact)


def synthesis_allowance(
    ceiling: Ceiling,
    answers: Sequence[AnswerFinished],
    failures: Sequence[AnswerFailed],
) -> int:
    """What the synthesis may spend: the ceiling less what the answers cost."""
    return ceiling.micros - answers_charge(ceiling, answers, failures).micros


def consult_charge(
    ceiling: Ceiling,
    answers: Sequence[AnswerFinished],
    failures: Sequence[AnswerFailed],
    synthesis_micros: int | None,
) -> Charge:
    """The whole consult: `answers` are the ones asked now (not reused ones).

    `synthesis_micros` is what the synthesis cost: 0 when there was none,
    None when its cost is unknown.
    """
    asked = answers_charge(ceiling, answers, failures)
    if synthesis_micros is not None:
        return Charge(asked.micros + synthesis_micros, asked.exact)
    rest = max(ceiling.synthesis, ceiling.micros - asked.micros)
    return Charge(asked.micros + rest, exact=False)


def _maybe_billed(failure: AnswerFailed) -> bool:
    return bool(failure.partial_text) or failure.kind in BILLED_FAILURES
