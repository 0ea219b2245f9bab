"""What a consult would cost at most, worked out before any model is called.

Per model: prompt tokens (litellm's token counter, over the very messages the
model would get) times the input price, plus `max_tokens` times the output
price. The synthesis model reads every answer, so each panel model's
`max_tokens` is added to its prompt. Retries and the fallback synthesis model
are not included. A model with no known price makes the total unknown, never
$0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from bot import prompts
from bot.llm import configured_litellm
from bot.panel import ModelSpec

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


def estimate_consult(
    question: str, models: list[ModelSpec], synthesis: ModelSpec | None
) -> CostEstimate:
    """The most a consult of `models`, then `synthesis` (if any), would cost."""
    messages = prompts.panelist_messages(question)
    parts = [estimate_call(spec, messages) for spec in models]
    if synthesis is not None and len(models) >= 2:
        answers_room = sum(spec.max_tokens for spec in models)
        synthesis_messages = prompts.synthesis_messages(question, [])
        parts.append(
            estimate_call(synthesis, synthesis_messages, extra_prompt=answers_room)
        )
    return CostEstimate(tuple(parts))


def estimate_call(
    spec: ModelSpec, messages: list[dict[str, str]], *, extra_prompt: int = 0
) -> CostPart:
    """One call's most: its prompt as counted, plus `extra_prompt` tokens."""
    price = spec.price()
    if price is None:
        return CostPart(spec.label, None)
    prompt_tokens = count_prompt_tokens(spec, messages) + extra_prompt
    return CostPart(spec.label, price.cost_micros(prompt_tokens, spec.max_tokens))


def count_prompt_tokens(spec: ModelSpec, messages: list[dict[str, str]]) -> int:
    litellm = configured_litellm()
    try:
        return int(litellm.token_counter(model=spec.model, messages=messages))
    except Exception:  # no tokenizer for this model: count characters instead
        chars = sum(len(message["content"]) for message in messages)
        return math.ceil(chars / CHARS_PER_TOKEN)
