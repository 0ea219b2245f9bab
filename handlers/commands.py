"""What a person typed after `/consult` (or after a mention), parsed.

The syntax, one form per line; a first word the parser does not know is
simply the start of the question:

    help                        the usage, with examples
    budget                      the channel's spend today and its cap
    debate: <proposal>          the debate panel, one assigned stance each
    [single|dual|full] <question>
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.panel import TIER_NAMES, Panel, TierName

MAX_QUESTION_CHARS = 20_000

_FIRST_WORD = re.compile(r"(\S+)\s*(.*)", re.DOTALL)
_DEBATE = re.compile(r"debate:\s*", re.IGNORECASE)
_HELP_WORDS = frozenset({"help", "help?", "?"})
_BUDGET_WORDS = frozenset({"budget", "budget?"})


@dataclass(frozen=True, slots=True)
class ConsultCommand:
    question: str
    tier: TierName | None  # None: the panel's default tier
    debate: bool = False  # True: each model argues the stance the panel file gives it


@dataclass(frozen=True, slots=True)
class HelpRequest:
    """The person asked how to use Quorum; answer with the usage and examples."""


@dataclass(frozen=True, slots=True)
class BudgetRequest:
    """The person asked what this channel has spent today, and its cap."""


@dataclass(frozen=True, slots=True)
class CommandProblem:
    """Input that gets a short reply instead of a consult."""

    message: str


ParsedCommand = ConsultCommand | HelpRequest | BudgetRequest | CommandProblem | None


def parse_consult(text: str) -> ParsedCommand:
    """Parse what follows `/consult` or a mention of the bot.

    None means there is no question: show the short usage.
    """
    text = text.strip()
    if text.lower() in _HELP_WORDS:
        return HelpRequest()
    if text.lower() in _BUDGET_WORDS:
        return BudgetRequest()
    tier, rest = _split_tier(text)
    debate = _DEBATE.match(rest)
    if debate:
        return _debate(tier, rest[debate.end() :].strip())
    if not rest:
        return None
    return _checked(ConsultCommand(question=rest, tier=tier))


def _split_tier(text: str) -> tuple[TierName | None, str]:
    first = _FIRST_WORD.match(text)
    if first and first.group(1).lower() in TIER_NAMES:
        return first.group(1).lower(), first.group(2)  # type: ignore[return-value]
    return None, text


def _debate(tier: TierName | None, proposal: str) -> ConsultCommand | CommandProblem:
    if tier not in (None, "full"):
        return CommandProblem(
            f"A debate always asks the debate panel, one stance per model, so "
            f"`{tier}` does not apply. Try `/consult debate: <proposal>`."
        )
    if not proposal:
        return CommandProblem(
            "Say what to debate after `debate:`, for example "
            "`/consult debate: Should we migrate our monolith to microservices?`"
        )
    return _checked(ConsultCommand(question=proposal, tier="full", debate=True))


def _checked(command: ConsultCommand) -> ConsultCommand | CommandProblem:
    size = len(command.question)
    if size > MAX_QUESTION_CHARS:
        return CommandProblem(
            f"That question is {size:,} characters; the limit is "
            f"{MAX_QUESTION_CHARS:,}. Shorten it, or link to the details instead."
        )
    return command


def reply_without_consult(parsed: ParsedCommand, panel: Panel) -> str | None:
    """The short reply for input that starts no consult; None: run the consult,
    or (for a `BudgetRequest`) read the channel's budget."""
    from bot.slack.blocks import HELP, NO_DEBATE, USAGE

    if parsed is None:
        return USAGE
    if isinstance(parsed, HelpRequest):
        return HELP
    if isinstance(parsed, CommandProblem):
        return parsed.message
    if isinstance(parsed, BudgetRequest):
        return None
    if parsed.debate and not panel.stances():
        return NO_DEBATE
    return None
