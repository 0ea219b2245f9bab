"""Spotting an answer that says it is unsure, in code, without asking a model.

The synthesis model reports unsure answers too; this check reads the answer
text itself, so a synthesis that misses a hedge cannot hide it. It looks for
first-person admissions only ("I'm not sure", "I can't answer this reliably",
"it depends on facts I don't have"): stating the conditions an answer depends
on ("it depends on your load") is an answer, not uncertainty.
"""

from __future__ import annotations

import re

_NOT = r"(?:do not|don't|cannot|can't|can not)"
_HEDGES = [
    r"\bI(?:'m| am) (?:not (?:entirely |fully |completely )?(?:sure|certain)"
    r"|unsure|uncertain)\b",
    rf"\bI {_NOT} (?:know|be sure|be certain)\b(?! of\b)",
    rf"\bI {_NOT} (?:answer|judge|say|recommend|predict)\b[^.?!\n]{{0,60}}?"
    r"(?:\breliably\b|\bwith (?:any )?confidence\b|\bfor (?:certain|sure)\b"
    r"|\bwithout knowing\b)",
    rf"\bdepends on [^.?!\n]{{0,40}}?\bI {_NOT} (?:have|know)\b",
    rf"\bI {_NOT} have (?:enough |the )?(?:information|facts|details|data)\b",
    r"\bI have no (?:information|knowledge|data)\b",
    r"\b(?:hard|impossible) to say\b",
]
_HEDGE = re.compile("|".join(f"(?:{h})" for h in _HEDGES), re.IGNORECASE)
_SENTENCE_END = re.compile(r"[.?!](?=\s)|\n")
_MARKUP = re.compile(r"[*_`#>]+")
QUOTE_CHARS = 120


def find_hedge(text: str) -> str | None:
    """The sentence in which `text` says it is unsure, or None if it never does."""
    plain = _MARKUP.sub("", text.replace("\u2019", "'"))
    match = _HEDGE.search(plain)
    if match is None:
        return None
    return _quote(_sentence_around(plain, match.start(), match.end()))


def _sentence_around(text: str, start: int, end: int) -> str:
    ends_before = [m.end() for m in _SENTENCE_END.finditer(text, 0, start)]
    after = _SENTENCE_END.search(text, end)
    begin = ends_before[-1] if ends_before else 0
    return text[begin : after.end() if after else len(text)].strip()


def _quote(sentence: str) -> str:
    if len(sentence) <= QUOTE_CHARS:
        return sentence
    return sentence[: QUOTE_CHARS - 1].rstrip() + "…"
