"""The hedge detector: first-person admissions of doubt, not stated conditions."""

import pytest

from bot.sandbox.debates import DEMO_DEBATES
from bot.sandbox.scripts import DEEP, DEMO_BOOK, SWIFT
from bot.uncertainty import find_hedge


@pytest.mark.parametrize(
    ("text", "hedge"),
    [
        # admissions of doubt, quoted as the sentence that holds them
        (
            "Use Kafka. I'm not sure about the retention.",
            "I'm not sure about the retention.",
        ),
        ("I am not entirely certain.", "I am not entirely certain."),
        ("Honestly, I’m unsure here.", "Honestly, I'm unsure here."),
        ("**I don't know** which is faster.", "I don't know which is faster."),
        ("I cannot say for sure.", "I cannot say for sure."),
        ("I can't answer this reliably.", "I can't answer this reliably."),
        (
            "I can't recommend either without knowing your load.",
            "I can't recommend either without knowing your load.",
        ),
        (
            "It depends on facts I don't have, such as your load.",
            "It depends on facts I don't have, such as your load.",
        ),
        ("I do not have enough information.", "I do not have enough information."),
        (
            "I have no information about version 21.",
            "I have no information about version 21.",
        ),
        (
            "Redis.\nIt is hard to say without numbers.",
            "It is hard to say without numbers.",
        ),
        # conditions, confidence and idioms are not doubt
        ("It depends on your load.", None),
        ("Use Redis unless sessions must be transactional.", None),
        ("Nothing I know of points to a change.", None),
        ("I don't know of a case where this fails.", None),
        ("I can't recommend Kafka strongly enough.", None),
        ("I am sure: use PostgreSQL.", None),
        ("", None),
    ],
)
def test_find_hedge(text, hedge):
    assert find_hedge(text) == hedge


def test_a_long_sentence_is_quoted_short():
    hedge = find_hedge("I am not sure " + "whether this holds " * 20 + "today.")

    assert hedge is not None
    assert len(hedge) == 120
    assert hedge.endswith("…")


@pytest.mark.parametrize(
    ("key", "unsure"),
    [
        ("sessions", set()),
        ("queue", set()),
        ("auth", {DEEP}),
        ("unsure", {SWIFT, DEEP}),
        ("monolith", {DEEP}),
    ],
)
def test_the_scripts_hedge_where_their_synthesis_says_so(key, unsure):
    script = DEMO_BOOK[key]

    found = {model for model, text in script.answers.items() if find_hedge(text)}

    assert found == unsure
    assert {u["answer"] for u in script.synthesis["uncertain_answers"]} == unsure


@pytest.mark.parametrize("debate", DEMO_DEBATES, ids=lambda d: d.key)
def test_the_scripted_debaters_state_conditions_without_hedging(debate):
    assert [s for s, text in debate.answers.items() if find_hedge(text)] == []
