import pytest

from bot.confidence import Level, rate_confidence


@pytest.mark.parametrize(
    ("asked", "groups", "uncertain", "level", "basis"),
    [
        # the article's table, for a panel of three
        (3, [["A", "B", "C"]], {}, Level.HIGH, "3 of 3 agree"),
        (3, [["A", "B"], ["C"]], {}, Level.MEDIUM, "2 of 3 agree; C dissents"),
        (3, [["A"], ["B"], ["C"]], {}, Level.LOW, "all 3 differ"),
        (
            3,
            [["A", "B", "C"]],
            {"C": "depends on the load profile"},
            Level.VARIABLE,
            "C is unsure (depends on the load profile)",
        ),
        # failures count against agreement
        (3, [["A", "B"]], {}, Level.MEDIUM, "2 of 3 agree; 1 did not answer"),
        (3, [["A"], ["B"]], {}, Level.LOW, "all 2 differ; 1 did not answer"),
        (3, [["A"]], {}, Level.LOW, "only 1 of 3 answered; nothing to compare"),
        (3, [], {}, Level.LOW, "none of 3 answered"),
        # two models: agreement is Medium at best
        (2, [["A", "B"]], {}, Level.MEDIUM, "2 of 2 agree"),
        (2, [["A"], ["B"]], {}, Level.LOW, "all 2 differ"),
        (2, [["A"]], {}, Level.LOW, "only 1 of 2 answered; nothing to compare"),
        # one model
        (1, [["A"]], {}, Level.LOW, "only 1 of 1 answered; nothing to compare"),
        # four and five models: High only when unanimous, Medium on a majority
        (4, [["A", "B", "C", "D"]], {}, Level.HIGH, "4 of 4 agree"),
        (4, [["A", "B", "C"], ["D"]], {}, Level.MEDIUM, "3 of 4 agree; D dissents"),
        (
            4,
            [["A", "B"], ["C", "D"]],
            {},
            Level.LOW,
            "no majority: at most 2 of 4 agree",
        ),
        (
            4,
            [["A", "B"], ["C"], ["D"]],
            {},
            Level.LOW,
            "no majority: at most 2 of 4 agree",
        ),
        (5, [["A", "B", "C", "D", "E"]], {}, Level.HIGH, "5 of 5 agree"),
        (
            5,
            [["A", "B", "C"], ["D"], ["E"]],
            {},
            Level.MEDIUM,
            "3 of 5 agree; D and E dissent",
        ),
        (
            5,
            [["A", "B", "C"], ["D"]],
            {},
            Level.MEDIUM,
            "3 of 5 agree; D dissents; 1 did not answer",
        ),
        (
            5,
            [["A", "B"], ["C", "D"], ["E"]],
            {},
            Level.LOW,
            "no majority: at most 2 of 5 agree",
        ),
    ],
)
def test_confidence_rule(asked, groups, uncertain, level, basis):
    confidence = rate_confidence(asked, groups, uncertain)

    assert (confidence.level, confidence.basis) == (level, basis)


def test_more_answers_than_models_is_a_bug():
    with pytest.raises(ValueError, match="cannot come from"):
        rate_confidence(2, [["A", "B", "C"]])
