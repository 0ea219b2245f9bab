"""What a consult would cost at most, worked out before any model is called.

Per model: prompt tokens (litellm's token counter, over the very messages the
model would get) times the input price, plus `max_tokens` times the output
price. The synthesis model reads every answer, so each panel model's
`max_tokens` is added to its prompt, which is counted with an empty answer
under each letter. Retries and the fallback synthesis model are not included
(under a cap they run only in what the ceiling leaves; see `bot.synthesis`).
A model with no known price makes the total unknown, never $0.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from string import ascii_uppercase

from bot import prompts
from bot.llm import configured_litellm
from bot.panel import ModelSpec, Stance

CHARS_PER_TOKEN = 4  # the fallback when litellm cannot count for a model


@dataclass(frozen=True, slots=True)
class CostPart:
    label: str
    micros: int | None  # None: the model has no known price


@dataclass(frozen=True, slots=True)
class CostEstimate:
    parts: tuple[CostPart, ...]

    @property
    def micros(self) -> int | None:
        """The total in micro-dollars, or None when any part is unpriced."""
        if self.unpriced:
            return None
        return sum(part.micros or 0 for part in self.parts)

    @property
    def unpriced(self) -> list[str]:
        return [part.label for part in self.parts if part.micros is None]


@dataclass(frozen=True, slots=True)
class Ceiling:
    """The most one consult may cost, reserved before any call.

    `answers` holds each model asked now, by alias; `synthesis` is its first
    attempt (0 when the consult has no synthesis).
    """

    answers: dict[str, int]
    synthesis: int = 0

    @property
    def micros(self) -> int:
        return sum(self.answers.values()) + self.synthesis


@dataclass(frozen=True, slots=True)
class Unpriced:
    """Models a consult may call that have no known price."""

    models: list[ModelSpec]


def estimate_consult(
    question: str, models: list[ModelSpec], synthesis: ModelSpec | None
) -> CostEstimate:
    """The most a consult of `models`, then `synthesis` (if any), would cost."""
    messages = prompts.panelist_messages(question)
    parts = [estimate_call(spec, messages) for spec in models]
    if synthesis is not None and len(models) >= 2:
        parts.append(estimate_synthesis(question, models, synthesis))
    return CostEstimate(tuple(parts))


def consult_ceiling(
    question: str,
    asked: Sequence[tuple[ModelSpec, list[dict[str, str]]]],
    lineup: Sequence[ModelSpec],
    synthesis: Sequence[ModelSpec],
    stances: Mapping[str, Stance] | None = None,
) -> Ceiling | Unpriced:
    """The ceiling of a consult that asks `asked` (each model and its messages).

    `lineup` is every model whose answer the synthesis reads (reused ones
    too); `synthesis` the synthesis models in the order tried, empty for none.
    """
    unpriced = [spec for spec, _ in asked if spec.price() is None]
    unpriced += [s for s in synthesis if s.price() is None and s not in unpriced]
    if unpriced:
        return Unpriced(unpriced)
    answers = {spec.alias: _priced(estimate_call(spec, m)) for spec, m in asked}
    judge = 0
    if synthesis:
        judge = _priced(estimate_synthesis(question, lineup, synthesis[0], stances))
    return Ceiling(answers=answers, synthesis=judge)


def estimate_synthesis(
    question: str,
    lineup: Sequence[ModelSpec],
    synthesis: ModelSpec,
    stances: Mapping[str, Stance] | None = None,
) -> CostPart:
    """One synthesis attempt over the longest answers `lineup` could give."""
    letters = list(ascii_uppercase[: len(lineup)])
    seats = zip(letters, lineup, strict=True)
    by_letter = {ltr: stances[spec.alias] for ltr, spec in seats} if stances else None
    messages = prompts.synthesis_messages(
        question, [(letter, "") for letter in letters], by_letter
    )
    room = sum(spec.max_tokens for spec in lineup)
    return estimate_call(synthesis, messages, extra_prompt=room)


def estimate_call(
    spec: ModelSpec, messages: list[dict[str, str]], *, extra_prompt: int = 0
) -> CostPart:
    """One call's most: its prompt as counted, plus `extra_prompt` tokens."""
    price = spec.price()
    if price is None:
        return CostPart(spec.label, None)
    prompt_tokens = count_prompt_tokens(spec, messages) + extra_prompt
    return CostPart(spec.label, price.cost_micros(prompt_tokens, spec.max_tokens))


def _priced(part: CostPart) -> int:
    if part.micros is None:
        raise ValueError(f"{part.label} has no price")
    return part.micros


def count_prompt_tokens(spec: ModelSpec, messages: list[dict[str, str]]) -> int:
    litellm = configured_litellm()
    try:
        return int(litellm.token_counter(model=spec.model, messages=messages))
    except Exception:  # no tokenizer for this model: count characters instead
        chars = sum(len(message["content"]) for message in messages)
        return math.ceil(chars / CHARS_PER_TOKEN)
