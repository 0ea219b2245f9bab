import pytest

from bot.confidence import Level, rate_confidence

H, M, L, V, N = (
    Level.HIGH,
    Level.MEDIUM,
    Level.LOW,
    Level.VARIABLE,
    Level.NOT_RATED,
)
DEBATE = "stances were assigned, so agreement is not counted"
DEPENDS = {"C": "depends on the load profile"}

# (models asked, verdict groups, unsure answers, stances assigned) -> level, basis
CASES = [
    # one model: nothing to compare
    (1, [["A"]], {}, False, L, "only 1 of 1 answered; nothing to compare"),
    (1, [], {}, False, L, "none of 1 answered"),
    (1, [["A"]], {"A": "no data"}, False, V, "A is unsure (no data)"),
    # two models: agreement is Medium at best, a split is Low
    (
        2,
        [["A", "B"]],
        {},
        False,
        M,
        "2 of 2 independent answers agree; "
        "two answers cannot rule out a shared blind spot",
    ),
    (2, [["A"], ["B"]], {}, False, L, "the 2 answers differ"),
    (2, [["A"]], {}, False, L, "only 1 of 2 answered; nothing to compare"),
    (2, [["A", "B"]], {"B": "no data"}, False, V, "B is unsure (no data)"),
    (2, [["A"], ["B"]], {}, True, N, DEBATE),
    # three models: the article's table
    (3, [["A", "B", "C"]], {}, False, H, "3 of 3 independent answers agree"),
    (
        3,
        [["A", "B"], ["C"]],
        {},
        False,
        M,
        "2 of 3 independent answers agree; C dissents",
    ),
    (3, [["A"], ["B"], ["C"]], {}, False, L, "all 3 differ"),
    (
        3,
        [["A", "B", "C"]],
        DEPENDS,
        False,
        V,
        "C is unsure (depends on the load profile)",
    ),
    # three models, some failed: the failure lowers the count
    (
        3,
        [["A", "B"]],
        {},
        False,
        M,
        "2 of 3 independent answers agree; 2 of 3 answered",
    ),
    (3, [["A"], ["B"]], {}, False, L, "the 2 answers differ; 2 of 3 answered"),
    (3, [["A"]], {}, False, L, "only 1 of 3 answered; nothing to compare"),
    (3, [], {}, False, L, "none of 3 answered"),
    (
        3,
        [["A", "B"]],
        {"A": "no data"},
        False,
        V,
        "A is unsure (no data); 2 of 3 answered",
    ),
    # three models in a debate: never rated on agreement, even when "unanimous"
    (3, [["A"], ["B"], ["C"]], {}, True, N, DEBATE),
    (3, [["A", "B", "C"]], {}, True, N, DEBATE),
    (3, [["A"], ["B"]], {}, True, N, f"{DEBATE}; 2 of 3 answered"),
    (3, [], {}, True, N, "no debater answered"),
    # ...but an unsure debater still makes it Variable
    (
        3,
        [["A"], ["B"], ["C"]],
        DEPENDS,
        True,
        V,
        "C is unsure (depends on the load profile)",
    ),
    # four models: High only when unanimous, Medium on a majority
    (4, [["A", "B", "C", "D"]], {}, False, H, "4 of 4 independent answers agree"),
    (
        4,
        [["A", "B", "C"], ["D"]],
        {},
        False,
        M,
        "3 of 4 independent answers agree; D dissents",
    ),
    (
        4,
        [["A", "B", "C"]],
        {},
        False,
        M,
        "3 of 4 independent answers agree; 3 of 4 answered",
    ),
    (4, [["A", "B"], ["C", "D"]], {}, False, L, "no majority: at most 2 of 4 agree"),
    (
        4,
        [["A", "B"], ["C"], ["D"]],
        {},
        False,
        L,
        "no majority: at most 2 of 4 agree",
    ),
    (
        4,
        [["A", "B"], ["C"]],
        {},
        False,
        L,
        "no majority: at most 2 of 4 agree; 3 of 4 answered",
    ),
    (
        4,
        [["A", "B", "C", "D"]],
        {"B": "x", "D": "y"},
        False,
        V,
        "B is unsure (x); D is unsure (y)",
    ),
    (
        4,
        [["A", "B", "C", "D"]],
        {"A": "no data", "B": "x", "D": "no data"},
        False,
        V,
        "A and D are unsure (no data); B is unsure (x)",
    ),
    # five models
    (5, [["A", "B", "C", "D", "E"]], {}, False, H, "5 of 5 independent answers agree"),
    (
        5,
        [["A", "B", "C", "D"], ["E"]],
        {},
        False,
        M,
        "4 of 5 independent answers agree; E dissents",
    ),
    (
        5,
        [["A", "B", "C"], ["D"], ["E"]],
        {},
        False,
        M,
        "3 of 5 independent answers agree; D and E dissent",
    ),
    (
        5,
        [["A", "B", "C"], ["D"]],
        {},
        False,
        M,
        "3 of 5 independent answers agree; D dissents; 4 of 5 answered",
    ),
    (
        5,
        [["A", "B", "C", "D"]],
        {},
        False,
        M,
        "4 of 5 independent answers agree; 4 of 5 answered",
    ),
    (
        5,
        [["A", "B"], ["C", "D"], ["E"]],
        {},
        False,
        L,
        "no majority: at most 2 of 5 agree",
    ),
    (5, [["A"], ["B"], ["C"], ["D"], ["E"]], {}, False, L, "all 5 differ"),
    (5, [["A", "B"], ["C", "D", "E"]], {}, True, N, DEBATE),
]


@pytest.mark.parametrize(
    ("asked", "groups", "uncertain", "debate", "level", "basis"), CASES
)
def test_confidence_rule(asked, groups, uncertain, debate, level, basis):
    confidence = rate_confidence(asked, groups, uncertain, stances_assigned=debate)

    assert (confidence.level, confidence.basis) == (level, basis)


def test_the_table_covers_every_level_for_one_to_five_models():
    levels = {(asked, level) for asked, *_, level, _ in CASES}

    assert {asked for asked, _ in levels} == {1, 2, 3, 4, 5}
    assert {level for _, level in levels} == set(Level)


def test_more_answers_than_models_is_a_bug():
    with pytest.raises(ValueError, match="cannot come from"):
        rate_confidence(2, [["A", "B", "C"]])
