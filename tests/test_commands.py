"""The `/consult` syntax, which mentions in threads reuse word for word."""

import pytest

from handlers.commands import (
    MAX_QUESTION_CHARS,
    BudgetRequest,
    CommandProblem,
    ConsultCommand,
    HelpRequest,
    parse_consult,
)

Q = "Should we use Redis or PostgreSQL for sessions?"
PROPOSAL = "Should we migrate our monolith to microservices?"


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        # a question with no tier word: the panel's default tier
        (Q, ConsultCommand(Q, None)),
        (f"  {Q}\n", ConsultCommand(Q, None)),
        # tier words, any case, then the question
        (f"single {Q}", ConsultCommand(Q, "single")),
        (f"dual {Q}", ConsultCommand(Q, "dual")),
        (f"FULL {Q}", ConsultCommand(Q, "full")),
        (f"full\n{Q}", ConsultCommand(Q, "full")),
        # only the first word is a tier word; later ones are the question's
        (f"dual full {Q}", ConsultCommand(f"full {Q}", "dual")),
        # unknown words are part of the question, not errors
        ("quick: is UDP ordered?", ConsultCommand("quick: is UDP ordered?", None)),
        ("fully managed Kafka?", ConsultCommand("fully managed Kafka?", None)),
        ("debate whether to use Go", ConsultCommand("debate whether to use Go", None)),
        ("help me pick a queue", ConsultCommand("help me pick a queue", None)),
        ("single-tenant or multi?", ConsultCommand("single-tenant or multi?", None)),
        # a debate: the full panel with stances
        (f"debate: {PROPOSAL}", ConsultCommand(PROPOSAL, "full", debate=True)),
        (f"Debate:{PROPOSAL}", ConsultCommand(PROPOSAL, "full", debate=True)),
        (f"full debate: {PROPOSAL}", ConsultCommand(PROPOSAL, "full", debate=True)),
        (f"debate:\n{PROPOSAL}", ConsultCommand(PROPOSAL, "full", debate=True)),
        # help
        ("help", HelpRequest()),
        ("  HELP ", HelpRequest()),
        ("help?", HelpRequest()),
        # the channel's spend: the word alone; with more words it is a question
        ("budget", BudgetRequest()),
        (" Budget ", BudgetRequest()),
        ("budget?", BudgetRequest()),
        ("budget for Q3 infra?", ConsultCommand("budget for Q3 infra?", None)),
        ("dual budget", ConsultCommand("budget", "dual")),
        # nothing to ask: the short usage
        ("", None),
        ("   ", None),
        ("full", None),
        ("  dual  ", None),
    ],
)
def test_parse_consult(text, parsed):
    assert parse_consult(text) == parsed


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("debate:", "Say what to debate after `debate:`"),
        ("full debate:   ", "Say what to debate after `debate:`"),
        (f"dual debate: {PROPOSAL}", "`dual` does not apply"),
        (f"single debate: {PROPOSAL}", "`single` does not apply"),
        ("x" * (MAX_QUESTION_CHARS + 1), "the limit is 20,000"),
        ("full " + "x" * (MAX_QUESTION_CHARS + 1), "is 20,001 characters"),
        ("debate: " + "x" * (MAX_QUESTION_CHARS + 1), "is 20,001 characters"),
    ],
)
def test_input_that_gets_a_reply_instead_of_a_consult(text, problem):
    parsed = parse_consult(text)

    assert isinstance(parsed, CommandProblem)
    assert problem in parsed.message


def test_a_question_at_the_limit_is_accepted():
    question = "x" * MAX_QUESTION_CHARS

    assert parse_consult(f"dual {question}") == ConsultCommand(question, "dual")
