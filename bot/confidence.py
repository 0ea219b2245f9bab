"""Confidence, computed from how the answers actually group.

The rule, for a panel of N models asked (failed models count in N, so a
failure can only lower confidence):

1. Variable: at least one answer says it is unsure. Agreement among answers
   that hedge means little, so the level names who was unsure and why.
2. High: N >= 3, every model answered, and all answers share one verdict.
3. Medium: the largest group of agreeing answers holds at least 2 answers
   and more than half of N. A two-model panel that agrees lands here: two
   answers cannot rule out a shared blind spot.
4. Low: anything else (all differ, no majority, or too few answers).

The single tier has no synthesis and so no level.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Level(StrEnum):
    HIGH = "High"
    MEDIUM = "Medium"
    LOW = "Low"
    VARIABLE = "Variable"


@dataclass(frozen=True, slots=True)
class Confidence:
    level: Level
    basis: str

    def __str__(self) -> str:
        return f"{self.level}: {self.basis}"


def rate_confidence(
    asked: int,
    groups: list[list[str]],
    uncertain: dict[str, str] | None = None,
) -> Confidence:
    """Rate a panel of `asked` models whose answers fall into `groups`.

    `groups` lists the names of the answers that share a verdict, one list per
    verdict; `uncertain` maps the name of each unsure answer to its reason.
    """
    answered = sum(len(group) for group in groups)
    if asked < 1 or answered > asked:
        raise ValueError(f"{answered} answers cannot come from {asked} models asked")
    missing = asked - answered
    largest = max(groups, key=len) if groups else []

    if uncertain:
        return Confidence(Level.VARIABLE, _uncertain_basis(uncertain))
    if asked >= 3 and len(largest) == asked:
        return Confidence(Level.HIGH, f"{asked} of {asked} agree")
    if len(largest) >= 2 and len(largest) * 2 > asked:
        return Confidence(
            Level.MEDIUM, _majority_basis(largest, groups, asked, missing)
        )
    return Confidence(Level.LOW, _low_basis(groups, answered, asked))


def _uncertain_basis(uncertain: dict[str, str]) -> str:
    parts = [f"{name} is unsure ({reason})" for name, reason in uncertain.items()]
    return "; ".join(parts)


def _majority_basis(
    largest: list[str], groups: list[list[str]], asked: int, missing: int
) -> str:
    basis = f"{len(largest)} of {asked} agree"
    dissenters = [name for group in groups if group is not largest for name in group]
    if dissenters:
        basis += (
            f"; {_join(dissenters)} {'dissent' if len(dissenters) > 1 else 'dissents'}"
        )
    if missing:
        basis += f"; {missing} did not answer"
    return basis


def _low_basis(groups: list[list[str]], answered: int, asked: int) -> str:
    if answered == 0:
        return f"none of {asked} answered"
    if answered == 1:
        return f"only 1 of {asked} answered; nothing to compare"
    if len(groups) == answered:
        basis = f"all {answered} differ"
    else:
        basis = f"no majority: at most {max(len(g) for g in groups)} of {asked} agree"
    if answered < asked:
        basis += f"; {asked - answered} did not answer"
    return basis


def _join(names: list[str]) -> str:
    if len(names) <= 2:
        return " and ".join(names)
    return ", ".join(names[:-1]) + f" and {names[-1]}"
