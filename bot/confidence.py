"""Confidence, computed from how the answers actually group.

The rule, for a panel of N models asked (failed models count in N, so a
failure can only lower confidence), checked in order:

1. Variable: at least one answer says it is unsure, or that the answer
   depends on facts it lacks. Agreement among answers that hedge means
   little, so the level names who was unsure and why.
2. Not rated: the stances were assigned (a debate). Answers told to argue
   for and against agree or differ by design, so agreement is not counted;
   the debate's synthesis gives the conditions under which each side wins.
3. High: N >= 3, every model answered, and all answers share one verdict.
4. Medium: the largest group of agreeing answers holds at least 2 answers
   and more than half of N. A two-model panel that agrees lands here: two
   answers cannot rule out a shared blind spot.
5. Low: anything else (all differ, no majority, or too few answers).

Every basis ends with "k of N answered" when a model failed. The single
tier has no synthesis and so no level.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Level(StrEnum):
    HIGH = "High"
    MEDIUM = "Medium"
    LOW = "Low"
    VARIABLE = "Variable"
    NOT_RATED = "Not rated"


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
    *,
    stances_assigned: bool = False,
) -> Confidence:
    """Rate a panel of `asked` models whose answers fall into `groups`.

    `groups` lists the names of the answers that share a verdict, one list per
    verdict; `uncertain` maps the name of each unsure answer to its reason;
    `stances_assigned` says the answers argued stances they were given.
    """
    answered = sum(len(group) for group in groups)
    if asked < 1 or answered > asked:
        raise ValueError(f"{answered} answers cannot come from {asked} models asked")
    largest = max(groups, key=len) if groups else []

    if uncertain:
        level, basis = Level.VARIABLE, _uncertain_basis(uncertain)
    elif stances_assigned:
        level, basis = Level.NOT_RATED, _debate_basis(answered)
    elif asked >= 3 and len(largest) == asked:
        level, basis = Level.HIGH, f"{asked} of {asked} independent answers agree"
    elif len(largest) >= 2 and len(largest) * 2 > asked:
        level, basis = Level.MEDIUM, _majority_basis(largest, groups, asked)
    else:
        level, basis = Level.LOW, _low_basis(groups, answered, asked)
    if 0 < answered < asked and not (level is Level.LOW and answered < 2):
        basis += f"; {answered} of {asked} answered"
    return Confidence(level, basis)


def _uncertain_basis(uncertain: dict[str, str]) -> str:
    """Who is unsure and why; answers unsure for the same reason share it."""
    by_reason: dict[str, list[str]] = {}
    for name, reason in uncertain.items():
        by_reason.setdefault(reason, []).append(name)
    parts = [
        f"{_join(names)} {'are' if len(names) > 1 else 'is'} unsure ({reason})"
        for reason, names in by_reason.items()
    ]
    return "; ".join(parts)


def _debate_basis(answered: int) -> str:
    if answered == 0:
        return "no debater answered"
    return "stances were assigned, so agreement is not counted"


def _majority_basis(largest: list[str], groups: list[list[str]], asked: int) -> str:
    basis = f"{len(largest)} of {asked} independent answers agree"
    dissenters = [name for group in groups if group is not largest for name in group]
    if dissenters:
        verb = "dissent" if len(dissenters) > 1 else "dissents"
        basis += f"; {_join(dissenters)} {verb}"
    elif asked == 2:
        basis += "; two answers cannot rule out a shared blind spot"
    return basis


def _low_basis(groups: list[list[str]], answered: int, asked: int) -> str:
    if answered == 0:
        return f"none of {asked} answered"
    if answered == 1:
        return f"only 1 of {asked} answered; nothing to compare"
    if len(groups) == answered:
        return "the 2 answers differ" if answered == 2 else f"all {answered} differ"
    return f"no majority: at most {max(len(g) for g in groups)} of {asked} agree"


def _join(names: list[str]) -> str:
    if len(names) <= 2:
        return " and ".join(names)
    return ", ".join(names[:-1]) + f" and {names[-1]}"
