import json
import random

import pytest

from bot.fanout import AnswerFinished
from bot.synthesis import assign_letters, parse_debate_report, parse_report

VALID = {
    "verdict_groups": [
        {"verdict": "Use Redis", "answers": ["A", "B"]},
        {"verdict": "Use PostgreSQL", "answers": ["C"]},
    ],
    "agreement": ["Sessions need a TTL"],
    "disagreements": [
        {
            "topic": "store",
            "positions": [
                {"answers": ["A", "B"], "view": "Redis"},
                {"answers": ["C"], "view": "PostgreSQL"},
            ],
        }
    ],
    "unique_insights": [{"answer": "C", "insight": "ACID matters for carts"}],
    "uncertain_answers": [],
    "recommended_action": "Check whether sessions must be transactional.",
}


def _with(**changes):
    return json.dumps({**VALID, **changes})


def test_a_valid_reply_parses():
    report = parse_report(json.dumps(VALID), {"A", "B", "C"})

    assert [g.answers for g in report.verdict_groups] == [["A", "B"], ["C"]]


def test_json_in_a_code_fence_is_accepted():
    reply = "```json\n" + json.dumps(VALID) + "\n```"

    assert parse_report(reply, {"A", "B", "C"}).recommended_action.startswith("Check")


@pytest.mark.parametrize(
    ("reply", "problem"),
    [
        ("I think Redis is best.", "the reply holds no JSON object"),
        ("{not json}", "invalid JSON"),
        (
            _with(verdict_groups=[{"verdict": "Redis", "answers": ["A", "B"]}]),
            "verdict_groups leaves out answers ['C']",
        ),
        (
            _with(
                verdict_groups=[
                    {"verdict": "Redis", "answers": ["A", "B", "C"]},
                    {"verdict": "PG", "answers": ["C"]},
                ]
            ),
            "an answer appears in more than one verdict group",
        ),
        (
            _with(unique_insights=[{"answer": "D", "insight": "x"}]),
            "unknown answer letters ['D']",
        ),
        (_with(recommended_action=""), "recommended_action"),
        (_with(verdict_groups=[]), "verdict_groups"),
    ],
)
def test_an_unusable_reply_says_what_is_wrong(reply, problem):
    with pytest.raises(ValueError) as caught:
        parse_report(reply, {"A", "B", "C"})

    assert problem in str(caught.value)


def _answer(alias: str) -> AnswerFinished:
    return AnswerFinished(alias, alias.title(), f"{alias} says", 1, 1, 1, 0.1)


def test_letters_follow_a_shuffled_order_and_every_answer_comes_first_sometimes():
    answers = [_answer(a) for a in ("swift", "steady", "deep")]
    rng = random.Random(7)

    firsts = {assign_letters(answers, rng)[0][1].alias for _ in range(60)}

    assert firsts == {"swift", "steady", "deep"}
    lettered = assign_letters(answers, rng)
    assert [letter for letter, _ in lettered] == ["A", "B", "C"]
    assert sorted(a.alias for _, a in lettered) == ["deep", "steady", "swift"]


STANCES = {"A": "against", "B": "neutral", "C": "for"}
DEBATE = {
    "sides": [
        {"answer": "A", "stance": "against", "case": "Not now."},
        {"answer": "B", "stance": "neutral", "case": "It turns on team size."},
        {"answer": "C", "stance": "for", "case": "Yes, incrementally."},
    ],
    "worth_it_if": ["Several teams block each other."],
    "avoid_if": ["One team owns the codebase."],
    "middle_path": "Extract one service first.",
    "fatal_flaws": [{"answer": "C", "flaw": "No domain boundaries."}],
    "concessions": [{"answer": "A", "point": "One hot service may be worth it."}],
    "uncertain_answers": [],
    "recommended_action": "Count the teams.",
}


def _debate_with(**changes):
    return json.dumps({**DEBATE, **changes})


def test_a_valid_debate_synthesis_parses():
    report = parse_debate_report(json.dumps(DEBATE), STANCES)

    assert [(s.answer, s.stance) for s in report.sides] == [
        ("A", "against"),
        ("B", "neutral"),
        ("C", "for"),
    ]
    assert report.middle_path == "Extract one service first."


@pytest.mark.parametrize(
    ("reply", "problem"),
    [
        ("Both sides have a point.", "the reply holds no JSON object"),
        (_debate_with(sides=DEBATE["sides"][:2]), "sides leaves out answers ['C']"),
        (
            _debate_with(sides=[*DEBATE["sides"], DEBATE["sides"][0]]),
            "an answer appears in sides more than once",
        ),
        (
            _debate_with(
                sides=[
                    {"answer": "A", "stance": "for", "case": "x"},
                    *DEBATE["sides"][1:],
                ]
            ),
            "answer A argued 'against', not 'for'",
        ),
        (
            _debate_with(fatal_flaws=[{"answer": "D", "flaw": "x"}]),
            "unknown answer letters ['D']",
        ),
        (_debate_with(worth_it_if=[]), "worth_it_if"),
        (_debate_with(avoid_if=[]), "avoid_if"),
        (
            _debate_with(sides=[{"answer": "A", "stance": "maybe", "case": "x"}]),
            "sides.0.stance",
        ),
        # an ordinary synthesis is not a debate's
        (json.dumps(VALID), "sides: Field required"),
    ],
)
def test_an_unusable_debate_synthesis_says_what_is_wrong(reply, problem):
    with pytest.raises(ValueError) as caught:
        parse_debate_report(reply, STANCES)

    assert problem in str(caught.value)
