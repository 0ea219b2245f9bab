"""Scripted debates: the model server argues the stance its system prompt gives."""

import itertools
from collections.abc import AsyncIterator

import pytest

from bot.llm import configured_litellm
from bot.panel import STANCES
from bot.prompts import STANCE_SYSTEM, debater_messages, synthesis_messages
from bot.sandbox.debates import DEMO_DEBATES, DebateScript
from bot.sandbox.model_server import Behavior, ModelServer, Pace
from bot.sandbox.scripts import DEMO_BOOK, PANEL_MODELS, SWIFT, unscripted_answer
from bot.synthesis import parse_debate_report

MIGRATION = DEMO_BOOK.debate("migration")
FAST = Behavior(Pace(ttft_s=0.0, tokens_per_s=1_000_000))


@pytest.fixture
async def server() -> AsyncIterator[ModelServer]:
    async with ModelServer(DEMO_BOOK, default=FAST) as running:
        yield running


async def answer(server: ModelServer, model: str, messages: list) -> str:
    response = await configured_litellm().acompletion(
        model=f"openai/{model}",
        api_base=server.base_url,
        api_key="test-key",
        messages=messages,
        max_retries=0,
    )
    return response.choices[0].message.content


@pytest.mark.parametrize(
    ("model", "stance"), list(itertools.product(PANEL_MODELS, STANCES))
)
async def test_any_model_argues_the_stance_its_system_prompt_gives(
    server, model, stance
):
    text = await answer(server, model, debater_messages(MIGRATION.question, stance))

    assert text == MIGRATION.answers[stance]


async def test_a_proposal_with_no_script_gets_the_honest_stand_in(server):
    messages = debater_messages("Should we rewrite it in Rust?", "for")

    assert await answer(server, SWIFT, messages) == unscripted_answer(SWIFT)


def debate_prompt(question: str, seats: list[tuple[str, str, str]]) -> str:
    """The debate synthesis prompt for (letter, stance, text) seats."""
    labelled = [(letter, text) for letter, _, text in seats]
    stances = {letter: stance for letter, stance, _ in seats}
    [_, user] = synthesis_messages(question, labelled, stances)
    return user["content"]


@pytest.mark.parametrize("order", list(itertools.permutations(STANCES)))
def test_the_debate_synthesis_follows_the_letters_in_any_order(order):
    letters = zip("ABC", order, strict=True)
    seats = [(letter, s, MIGRATION.answers[s]) for letter, s in letters]
    stances = {letter: stance for letter, stance, _ in seats}

    reply = DEMO_BOOK.debate_synthesis_for(debate_prompt(MIGRATION.question, seats))
    report = parse_debate_report(reply, stances)

    assert {side.answer: side.stance for side in report.sides} == stances
    assert {flaw.answer for flaw in report.fatal_flaws} == {
        letter for letter, stance in stances.items() if stance == "for"
    }


def test_a_debater_that_failed_vanishes_from_the_synthesis():
    seats = [("A", "neutral", MIGRATION.answers["neutral"])]
    seats.append(("B", "against", MIGRATION.answers["against"]))

    reply = DEMO_BOOK.debate_synthesis_for(debate_prompt(MIGRATION.question, seats))
    report = parse_debate_report(reply, {"A": "neutral", "B": "against"})

    assert [side.answer for side in report.sides] == ["B", "A"]
    assert report.fatal_flaws == []  # only the missing "for" side named any


def test_an_unscripted_debate_gets_an_honest_synthesis():
    seats = [("A", "for", "x"), ("B", "against", "y")]
    question = "Should we rewrite it in Rust?"

    reply = DEMO_BOOK.debate_synthesis_for(debate_prompt(question, seats))
    report = parse_debate_report(reply, {"A": "for", "B": "against"})

    assert [u.answer for u in report.uncertain_answers] == ["A", "B"]
    assert "no script" in report.worth_it_if[0]


@pytest.mark.parametrize("debate", DEMO_DEBATES, ids=lambda d: d.key)
def test_the_debaters_follow_their_stance_prompts(debate: DebateScript):
    assert set(debate.answers) == set(STANCES)
    assert "Fatal flaws" in debate.answers["for"]  # "for" still names them
    assert "Where I concede" in debate.answers["against"]
    assert "This is not an even split" in debate.answers["neutral"]
    for text in debate.answers.values():
        assert text.startswith("**Verdict:")


@pytest.mark.parametrize(
    ("stance", "duty"),
    [
        ("for", "name it plainly as a fatal flaw"),
        ("against", "if the proposal is plainly a good idea, say so"),
        ("neutral", "Neutral does not mean an even split"),
    ],
)
def test_each_stance_prompt_keeps_its_honesty_rule(stance, duty):
    assert duty in STANCE_SYSTEM[stance]
    others = [STANCE_SYSTEM[s] for s in STANCES if s != stance]
    assert all(duty not in text for text in others)
