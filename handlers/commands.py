"""What a person typed after `/consult` (or after a mention), parsed."""

from __future__ import annotations

from dataclasses import dataclass

from bot.panel import TIER_NAMES, TierName

MAX_QUESTION_CHARS = 20_000


@dataclass(frozen=True, slots=True)
class ConsultCommand:
    question: str
    tier: TierName | None  # None: the panel's default tier


@dataclass(frozen=True, slots=True)
class CommandProblem:
    """Input that gets a short reply instead of a consult."""

    message: str


def parse_consult(text: str) -> ConsultCommand | CommandProblem | None:
    """Parse `[single|dual|full] <question>`; None means "show the usage"."""
    words = text.strip().split(maxsplit=1)
    if not words:
        return None
    tier: TierName | None = None
    question = text.strip()
    if words[0].lower() in TIER_NAMES:
        tier = words[0].lower()  # type: ignore[assignment]
        question = words[1].strip() if len(words) > 1 else ""
    if not question:
        return None
    if len(question) > MAX_QUESTION_CHARS:
        return CommandProblem(
            f"That question is {len(question):,} characters; the limit is "
            f"{MAX_QUESTION_CHARS:,}. Shorten it, or link to the details instead."
        )
    return ConsultCommand(question=question, tier=tier)
