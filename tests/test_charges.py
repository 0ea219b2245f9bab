"""What a consult is charged: known costs, and the ceiling wherever one is unknown."""

from __future__ import annotations

import pytest

from bot.charges import Charge, consult_charge, synthesis_allowance
from bot.estimate import Ceiling
from bot.fanout import AnswerFailed, AnswerFinished
from bot.sandbox.demo import demo_panel
from bot.sandbox.model_server import Behavior, ModelServer, Pace
from bot.sandbox.scripts import DEMO_BOOK, SYNTHESIS_MODEL
from bot.synthesis import NO_ROOM, SynthesisDegraded, synthesize

CEILING = Ceiling(answers={"ada": 1_000, "bo": 2_000}, synthesis=3_000)


def finished(alias: str, cost: int | None) -> AnswerFinished:
    """An answer; `cost` None is a stream whose usage never reached us."""
    return AnswerFinished(
        alias=alias,
        label=alias.title(),
        text="Use Redis.",
        prompt_tokens=None if cost is None else 120,
        completion_tokens=None if cost is None else 40,
        cost_micros=cost,
        latency_s=1.0,
    )


def failed(alias: str, kind: str, partial: str = "") -> AnswerFailed:
    return AnswerFailed(alias, alias.title(), "it failed", kind, 1.0, partial)


@pytest.mark.parametrize(
    ("answers", "failures", "synthesis", "charge"),
    [
        # every cost known: exactly what the providers reported
        ([finished("ada", 400), finished("bo", 700)], [], 900, Charge(2_000, True)),
        # a usage-less stream is charged its ceiling, never $0
        ([finished("ada", None), finished("bo", 700)], [], 900, Charge(2_600, False)),
        # refused before any work (HTTP 500, no text): $0 for that model
        (
            [finished("ada", 400)],
            [failed("bo", "provider_error")],
            900,
            Charge(1_300, True),
        ),
        (
            [finished("ada", 400)],
            [failed("bo", "rate_limited")],
            900,
            Charge(1_300, True),
        ),
        # it may have been billed: timed out, stalled, or streamed some text
        ([finished("ada", 400)], [failed("bo", "timeout")], 900, Charge(3_300, False)),
        ([finished("ada", 400)], [failed("bo", "stalled")], 900, Charge(3_300, False)),
        (
            [finished("ada", 400)],
            [failed("bo", "provider_error", partial="Use Re")],
            900,
            Charge(3_300, False),
        ),
        # a model with no outcome at all (the consult was cut short)
        ([finished("ada", 400)], [], 900, Charge(3_300, False)),
        # no synthesis, and a synthesis of unknown cost: all the ceiling has left
        ([finished("ada", 400), finished("bo", 700)], [], 0, Charge(1_100, True)),
        ([finished("ada", 400), finished("bo", 700)], [], None, Charge(6_000, False)),
        # answers dearer than their ceiling leave the synthesis at least its own
        (
            [finished("ada", 2_500), finished("bo", 2_900)],
            [],
            None,
            Charge(8_400, False),
        ),
    ],
)
def test_a_consult_is_charged_what_it_cost_or_its_ceiling(
    answers, failures, synthesis, charge
):
    assert consult_charge(CEILING, answers, failures, synthesis) == charge


def test_one_model_with_no_usage_is_charged_its_whole_reservation():
    single = Ceiling(answers={"ada": 1_234})

    charge = consult_charge(single, [finished("ada", None)], [], 0)

    assert charge == Charge(single.micros, exact=False)


@pytest.mark.parametrize(
    ("answers", "failures", "allowance"),
    [
        ([finished("ada", 400), finished("bo", 700)], [], 4_900),
        ([finished("ada", None), finished("bo", 700)], [], 4_300),
        ([finished("ada", 400)], [failed("bo", "provider_error")], 5_600),
        ([finished("ada", 400)], [failed("bo", "timeout")], 3_600),
    ],
)
def test_the_synthesis_may_spend_what_the_answers_left(answers, failures, allowance):
    assert synthesis_allowance(CEILING, answers, failures) == allowance


# The synthesis model answers prose, so its first reply is invalid and a retry
# is wanted; the allowance decides whether it is made.
INSTANT = Pace(ttft_s=0.0, tokens_per_s=1_000_000)
PROSE = {SYNTHESIS_MODEL: Behavior(INSTANT, reply="Redis, clearly.")}


@pytest.mark.parametrize(
    ("allowance", "requests", "no_room"),
    [
        (None, 2, False),  # no cap: the retry runs
        (10**9, 2, False),  # room to spare
        (0, 1, True),  # the answers used it all: no retry
        (5, 1, True),  # less than a retry could cost
    ],
)
async def test_a_synthesis_retry_runs_only_within_the_allowance(
    allowance, requests, no_room
):
    answers = [finished("swift", 400), finished("steady", 700)]
    async with ModelServer(DEMO_BOOK, PROSE, default=Behavior(INSTANT)) as models:
        panel = demo_panel(models.base_url)
        outcome = await synthesize(
            DEMO_BOOK["sessions"].question,
            answers,
            panel.synthesis_models,
            allowance_micros=allowance,
        )

    assert isinstance(outcome, SynthesisDegraded)
    assert models.request_count(SYNTHESIS_MODEL) == requests
    assert (NO_ROOM in outcome.reason) is no_room
    assert outcome.cost_micros is not None and outcome.cost_micros > 0
