"""Follow-up prompts: one panelist's view of a thread's history, fit to its window.

Each panelist sees the earlier questions, its own earlier answers and the
earlier syntheses, then the new question. It never sees another panelist's
answer, so the panel stays blind; the syntheses tell it where the panel
stood. A thread's transcript (messages Quorum did not see happen) is shown
as an excerpt of the thread.

History is dropped whole turns at a time, oldest first, until the prompt fits
the model's context window less the tokens reserved for its answer, counted
with litellm's `token_counter` for that model. The new question is never
dropped: if it does not fit on its own, the result is `QuestionTooLong`.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import groupby
from typing import Literal

from bot import prompts
from bot.llm import configured_litellm
from bot.memory import Conversation, StoredSynthesis, Turn
from bot.panel import ModelSpec

Role = Literal["user", "assistant"]
Segment = tuple[Role, str]


@dataclass(frozen=True, slots=True)
class FollowupPrompt:
    """The messages to send one panelist, and how many turns were left out."""

    messages: list[dict[str, str]]
    trimmed_turns: int
    prompt_tokens: int


@dataclass(frozen=True, slots=True)
class QuestionTooLong:
    """Even the new question alone does not fit the model's window."""

    label: str
    tokens: int
    limit: int

    @property
    def reason(self) -> str:
        return (
            f"the question is too long for {self.label}: {self.tokens} tokens, "
            f"and it takes at most {max(self.limit, 0)} besides its answer; "
            "ask a shorter question"
        )


def followup_messages(
    conversation: Conversation,
    spec: ModelSpec,
    question: str,
    *,
    system_prompt: str,
    context_window: int,
    reserve_tokens: int,
) -> FollowupPrompt | QuestionTooLong:
    """The prompt for `spec` to answer `question` after `conversation`.

    `reserve_tokens` is what the answer may take (the model's max_tokens).
    """
    limit = context_window - reserve_tokens
    turns = conversation.turns
    history = _History(system_prompt, turns, spec, question)
    alone = history.count(len(turns))
    if alone > limit:
        return QuestionTooLong(label=spec.label, tokens=alone, limit=limit)

    start = _estimated_start(history, limit - alone)
    tokens = history.count(start)
    while tokens > limit:  # the estimate was short
        start += 1
        tokens = history.count(start)
    while start > 0 and (wider := history.count(start - 1)) <= limit:
        start -= 1  # the estimate was long
        tokens = wider
    return FollowupPrompt(
        messages=history.messages(start),
        trimmed_turns=start,
        prompt_tokens=tokens,
    )


@dataclass(frozen=True, slots=True)
class _History:
    """One panelist's prompt with the oldest `start` turns left out."""

    system_prompt: str
    turns: list[Turn]
    spec: ModelSpec
    question: str

    def messages(self, start: int) -> list[dict[str, str]]:
        kept = self.turns[start:]
        segments: list[Segment] = []
        if start:
            segments.append(("user", prompts.TRIMMED_HISTORY.format(count=start)))
        segments += _history_segments(kept, self.spec.alias)
        if segments:
            segments.append(
                ("user", prompts.FOLLOWUP_QUESTION.format(question=self.question))
            )
        else:
            segments.append(("user", self.question))
        return [{"role": "system", "content": self.system_prompt}, *_merged(segments)]

    def count(self, start: int) -> int:
        return _count_tokens(self.spec.model, self.messages(start))

    def turn_tokens(self, turn: Turn) -> int:
        """About what one turn adds to the prompt."""
        segments = _history_segments([turn], self.spec.alias)
        return _count_tokens(self.spec.model, _merged(segments))


def _estimated_start(history: _History, budget: int) -> int:
    """How many oldest turns to leave out, from each turn's own token count."""
    start = len(history.turns)
    while start > 0:
        cost = history.turn_tokens(history.turns[start - 1])
        if cost > budget:
            break
        budget -= cost
        start -= 1
    return start


def _history_segments(turns: list[Turn], alias: str) -> list[Segment]:
    segments: list[Segment] = []
    for is_transcript, group in groupby(turns, key=lambda t: t.kind == "transcript"):
        if is_transcript:
            lines = "\n".join(_thread_line(turn) for turn in group)
            segments.append(("user", prompts.THREAD_EXCERPT.format(lines=lines)))
        else:
            for turn in group:
                segments += _consult_segments(turn, alias)
    return segments


def _consult_segments(turn: Turn, alias: str) -> list[Segment]:
    own = turn.answers.get(alias)
    if own is not None and own.status == "ok" and own.text.strip():
        segments: list[Segment] = [("user", turn.question), ("assistant", own.text)]
    else:
        unanswered = prompts.EARLIER_UNANSWERED.format(question=turn.question)
        segments = [("user", unanswered)]
    if turn.synthesis is not None:
        segments.append(("user", _synthesis_text(turn.synthesis)))
    return segments


def _synthesis_text(synthesis: StoredSynthesis) -> str:
    return prompts.EARLIER_SYNTHESIS.format(
        verdicts="\n".join(f"- {verdict}" for verdict in synthesis.verdicts),
        summary=synthesis.summary,
        confidence=synthesis.confidence or "not rated",
    )


def _thread_line(turn: Turn) -> str:
    template = prompts.THREAD_BOT_LINE if turn.from_bot else prompts.THREAD_LINE
    return template.format(author=turn.asker, text=turn.question)


def _merged(segments: list[Segment]) -> list[dict[str, str]]:
    """Messages with consecutive same-role segments joined, as providers want."""
    messages: list[dict[str, str]] = []
    for role, text in segments:
        if messages and messages[-1]["role"] == role:
            messages[-1]["content"] += "\n\n" + text
        else:
            messages.append({"role": role, "content": text})
    return messages


def _count_tokens(model: str, messages: list[dict[str, str]]) -> int:
    return int(configured_litellm().token_counter(model=model, messages=messages))
