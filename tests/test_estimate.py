"""The most a consult would cost, before any model is called."""

import math

import pytest

from bot.consult import ConsultRequest, EscalationHint, plan_consult
from bot.estimate import (
    Ceiling,
    CostEstimate,
    CostPart,
    Unpriced,
    consult_ceiling,
    estimate_consult,
)
from bot.fanout import AnswerFinished
from bot.llm import configured_litellm
from bot.panel import SynthesisSpec, parse_panel
from bot.prompts import panelist_messages, synthesis_messages
from bot.slack.blocks import escalation_text

QUESTION = "Should our telemetry pipeline use RabbitMQ or Kafka?"
PANEL = parse_panel(
    """
[models.a]
model = "openai/quorum-est-a"
label = "Ada"
api_base = "http://127.0.0.1:9/v1"
input_cost_per_mtok = 1.0
output_cost_per_mtok = 4.0
max_tokens = 100

[models.b]
model = "openai/quorum-est-b"
label = "Bo"
api_base = "http://127.0.0.1:9/v1"
input_cost_per_mtok = 2.0
output_cost_per_mtok = 8.0
max_tokens = 200

[models.house]
model = "openai/quorum-est-unpriced"
label = "House"
api_base = "http://127.0.0.1:9/v1"

[models.judge]
model = "openai/quorum-est-judge"
label = "Judge"
api_base = "http://127.0.0.1:9/v1"
input_cost_per_mtok = 0.5
output_cost_per_mtok = 2.0
max_tokens = 300

[tiers]
single = ["a"]
dual = ["a", "b"]
full = ["a", "b", "house"]

[synthesis]
model = "judge"
""",
    source="tests",
)


def tokens(model: str, messages: list[dict[str, str]]) -> int:
    return configured_litellm().token_counter(model=model, messages=messages)


def panelist_micros(alias: str) -> int:
    spec = PANEL.models[alias]
    prompt = tokens(spec.model, panelist_messages(QUESTION))
    price_in, price_out = spec.input_cost_per_mtok, spec.output_cost_per_mtok
    return math.ceil(prompt * price_in + spec.max_tokens * price_out)


def judge_micros(answer_room: int, letters: str = "AB") -> int:
    # the synthesis prompt with an empty answer under each letter in use
    empty = synthesis_messages(QUESTION, [(letter, "") for letter in letters])
    prompt = tokens("openai/quorum-est-judge", empty)
    return math.ceil((prompt + answer_room) * 0.5 + 300 * 2.0)


def test_each_model_is_its_prompt_plus_its_longest_answer():
    estimate = estimate_consult(QUESTION, PANEL.tier("dual"), PANEL.models["judge"])

    assert estimate.parts == (
        CostPart("Ada", panelist_micros("a")),
        CostPart("Bo", panelist_micros("b")),
        CostPart("Judge", judge_micros(100 + 200)),  # it reads both answers
    )
    assert estimate.micros == sum(part.micros for part in estimate.parts)
    assert panelist_micros("a") > 100 * 4  # the prompt is counted, not ignored


@pytest.mark.parametrize(
    ("tier", "judge", "labels"),
    [
        ("single", "judge", ["Ada"]),  # one answer: nothing to synthesize
        ("dual", None, ["Ada", "Bo"]),
    ],
)
def test_no_synthesis_is_priced_when_there_is_none(tier, judge, labels):
    synthesis = PANEL.models[judge] if judge else None

    estimate = estimate_consult(QUESTION, PANEL.tier(tier), synthesis)

    assert [part.label for part in estimate.parts] == labels


def test_an_unpriced_model_makes_the_estimate_unknown_not_zero():
    estimate = estimate_consult(QUESTION, PANEL.tier("full"), PANEL.models["judge"])

    assert estimate.micros is None
    assert estimate.unpriced == ["House"]
    assert CostPart("Ada", panelist_micros("a")) in estimate.parts


@pytest.mark.parametrize(
    ("estimate", "reaction", "text"),
    [
        (
            CostEstimate((CostPart("Ada", 41_000), CostPart("Judge", 2_345))),
            "scales",
            ":arrow_up: *Ask the full panel?* The answers disagree. React with "
            ":scales: to any message in this thread, or send `/consult full "
            "&lt;question&gt;`, to ask Ada, Bo. A full consult costs at most "
            "about $0.0434.",
        ),
        (
            CostEstimate((CostPart("Ada", 41_000), CostPart("House", None))),
            "arrow_double_up",
            ":arrow_up: *Ask the full panel?* The answers disagree. React with "
            ":arrow_double_up: to any message in this thread, or send `/consult "
            "full &lt;question&gt;`, to ask Ada, Bo. Its cost is unknown: no "
            "price is set for House.",
        ),
    ],
)
def test_the_hint_names_the_reaction_and_the_cost(estimate, reaction, text):
    hint = EscalationHint("the answers disagree", reaction, ["Ada", "Bo"], estimate)

    assert escalation_text(hint) == text


# Ceilings: what a consult holds against its channel's cap before any call.


def ceiling_of(tier, *, panel=PANEL, messages=None, reused=()):
    request = ConsultRequest(QUESTION, tier, "U0ASKER", "T0", "C0")
    plan = plan_consult(request, panel, messages=messages, reused=reused)
    return consult_ceiling(QUESTION, plan.asked, plan.models, plan.synthesis_models)


def test_a_ceiling_holds_each_model_asked_and_one_synthesis():
    assert ceiling_of("dual") == Ceiling(
        answers={"a": panelist_micros("a"), "b": panelist_micros("b")},
        synthesis=judge_micros(100 + 200),
    )
    assert ceiling_of("single") == Ceiling(answers={"a": panelist_micros("a")})


def test_an_escalation_holds_only_the_models_it_asks():
    earlier = AnswerFinished("a", "Ada", "Kafka.", 50, 10, 90, 1.0)

    ceiling = ceiling_of("dual", reused=[earlier])

    # Bo alone is asked; the synthesis still reads both answers
    assert ceiling == Ceiling(
        answers={"b": panelist_micros("b")}, synthesis=judge_micros(100 + 200)
    )


def test_a_follow_up_is_held_at_its_own_longer_prompt():
    history = [
        {"role": "system", "content": "You are one of several consultants."},
        {"role": "user", "content": "Earlier: " + "what about retention? " * 200},
        {"role": "user", "content": QUESTION},
    ]

    ceiling = ceiling_of("single", messages={"a": history})

    prompt = tokens("openai/quorum-est-a", history)
    assert ceiling.answers == {"a": math.ceil(prompt * 1.0 + 100 * 4.0)}
    assert ceiling.answers["a"] > panelist_micros("a")


@pytest.mark.parametrize(
    ("tier", "fallback", "unpriced"),
    [
        ("full", None, ["House"]),  # a panelist
        ("dual", "house", ["House"]),  # the synthesis fallback may be called too
        ("single", "house", []),  # one model: no synthesis, so no fallback
    ],
)
def test_every_unpriced_model_a_consult_may_call_is_named(tier, fallback, unpriced):
    panel = PANEL.model_copy(
        update={"synthesis": SynthesisSpec(model="judge", fallback=fallback)}
    )

    ceiling = ceiling_of(tier, panel=panel)

    names = [s.label for s in ceiling.models] if isinstance(ceiling, Unpriced) else []
    assert names == unpriced
