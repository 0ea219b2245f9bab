import pytest

from handlers.commands import CommandProblem, ConsultCommand, parse_consult


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Redis or Postgres?", ConsultCommand("Redis or Postgres?", None)),
        (
            "  What if carts live in sessions?  ",
            ConsultCommand("What if carts live in sessions?", None),
        ),
        ("full Redis or Postgres?", ConsultCommand("Redis or Postgres?", "full")),
        ("DUAL Redis or Postgres?", ConsultCommand("Redis or Postgres?", "dual")),
        ("single\nline two", ConsultCommand("line two", "single")),
        ("fully agree?", ConsultCommand("fully agree?", None)),
        ("", None),
        ("   \n ", None),
        ("full", None),
        ("dual   ", None),
    ],
)
def test_consult_text_is_parsed(text, expected):
    assert parse_consult(text) == expected


def test_a_question_over_the_limit_is_refused_with_the_limit():
    problem = parse_consult("x" * 20_001)

    assert problem == CommandProblem(
        "That question is 20,001 characters; the limit is 20,000. "
        "Shorten it, or link to the details instead."
    )
