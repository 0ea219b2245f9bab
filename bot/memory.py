"""The conversation cache: what each consult thread asked, and who answered what.

A thread's conversation is one Redis hash (layout and TTL in `bot.store`):
a head per turn and one field per answer, so adding the answers of models
asked later never rewrites, or races with, what is there. Writes are Lua
scripts, one round trip each and atomic across processes.

A turn is either a consult (a question the panel was asked) or one message of
a Slack thread Quorum did not see happen (`conversation_from_transcript`),
which a follow-up in that thread gets as context. How a conversation becomes
one panelist's prompt is in `bot.followup`.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from bot.confidence import Confidence
from bot.consult import ConsultResult
from bot.fanout import AnswerFailed, AnswerFinished
from bot.panel import TierName
from bot.store import THREAD_TTL, Store, ThreadRef, store_errors, thread_key
from bot.synthesis import DebateReport, Synthesis, SynthesisOutcome, name_letters

logger = logging.getLogger(__name__)


class _Stored(BaseModel):
    # extra="ignore": a newer release may add fields an older one still reads
    model_config = ConfigDict(frozen=True, extra="ignore")


class StoredAnswer(_Stored):
    """One model's answer to one turn; `reason` says why a failed one failed."""

    label: str
    status: Literal["ok", "failed"] = "ok"
    text: str = ""  # a failed answer keeps the text it streamed before failing
    reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_micros: int | None = None  # None: unknown, never 0 by default
    truncated: bool = False


class StoredSynthesis(_Stored):
    """A synthesis as plain text, with the models named by their labels."""

    verdicts: list[str] = Field(min_length=1)  # "<verdict> (Label, Label)"
    summary: str
    confidence: str | None = None  # "Medium: 2 of 3 agree"


class Turn(_Stored):
    """One question of a thread and its answers, or one message of a transcript.

    `trimmed_turns` is how many earlier turns some panelist's prompt left out
    to fit its context window (the most for any panelist).
    """

    kind: Literal["consult", "transcript"] = "consult"
    question: str  # for a transcript turn: the message's text
    tier: TierName | None = None  # None for a transcript turn
    asker: str = ""  # a user id; for a transcript turn, the author's name
    from_bot: bool = False  # a transcript message a bot (maybe Quorum) posted
    answers: dict[str, StoredAnswer] = Field(default_factory=dict)  # by alias
    synthesis: StoredSynthesis | None = None
    trimmed_turns: int = Field(default=0, ge=0)


class Conversation(_Stored):
    thread: ThreadRef
    turns: list[Turn]

    def latest_question(self) -> int | None:
        """The index of the last consult turn (what an escalation re-asks)."""
        for index in range(len(self.turns) - 1, -1, -1):
            if self.turns[index].kind == "consult":
                return index
        return None


@dataclass(frozen=True, slots=True)
class TranscriptLine:
    """One message of a Slack thread, as the handler read it."""

    author: str  # display name
    is_bot: bool
    text: str  # already cleaned of Slack markup


async def load(store: Store, thread: ThreadRef) -> Conversation | None:
    """The thread's conversation; None if Quorum has none (or cannot read it)."""
    with store_errors():
        fields = await store.redis.hgetall(thread_key(thread))
    if not fields:
        return None
    try:
        return _conversation(thread, fields)
    except (KeyError, ValueError) as exc:
        # a hash this release cannot read is no use; the caller reads the thread
        logger.warning("conversation unreadable, ignored problem=%r", str(exc)[:200])
        return None


async def save_turn(
    store: Store, thread: ThreadRef, turn: Turn, *, ttl: timedelta = THREAD_TTL
) -> int:
    """Append `turn` to the thread's conversation; return its index."""
    return await save_turns(store, thread, [turn], ttl=ttl)


async def save_turns(
    store: Store,
    thread: ThreadRef,
    turns: Sequence[Turn],
    *,
    ttl: timedelta = THREAD_TTL,
) -> int:
    """Append `turns` in order, atomically; return the index of the first."""
    if not turns:
        raise ValueError("save_turns needs at least one turn")
    args: list[str | int] = [_seconds(ttl)]
    for turn in turns:
        parts = _parts(turn.answers, turn.synthesis)
        head = turn.model_dump_json(exclude={"answers", "synthesis"})
        args += [head, len(parts) // 2, *parts]
    script = store.redis.register_script(_APPEND_TURNS)
    with store_errors():
        return int(await script(keys=[thread_key(thread)], args=args))


async def update_turn(
    store: Store,
    thread: ThreadRef,
    index: int,
    *,
    answers: Mapping[str, StoredAnswer] | None = None,
    synthesis: StoredSynthesis | None = None,
    ttl: timedelta = THREAD_TTL,
) -> bool:
    """Add or replace answers and the synthesis of turn `index`.

    Each answer is its own field, so concurrent updates of different models
    both land. False if the turn does not exist (the thread expired).
    """
    parts = _parts(answers or {}, synthesis)
    if not parts:
        raise ValueError("update_turn needs answers or a synthesis")
    script = store.redis.register_script(_UPDATE_TURN)
    with store_errors():
        updated = await script(
            keys=[thread_key(thread)], args=[_seconds(ttl), index, *parts]
        )
    return bool(updated)


def turn_from_result(result: ConsultResult) -> Turn:
    """The turn a finished consult leaves in the thread's memory."""
    done: dict[str, AnswerFinished | AnswerFailed] = {
        answer.alias: answer for answer in [*result.answers, *result.failures]
    }
    answers = {
        spec.alias: stored_answer(done[spec.alias])
        for spec in result.models
        if spec.alias in done
    }
    request = result.request
    return Turn(
        question=request.question,
        tier=request.tier,
        asker=request.asker,
        answers=answers,
        synthesis=stored_synthesis(result.synthesis, result.answers, result.confidence),
    )


def reusable_answers(turn: Turn) -> list[AnswerFinished]:
    """The turn's good answers, as the fan-out gave them, for a new synthesis.

    Latency is not stored, so it reads 0.
    """
    return [
        AnswerFinished(
            alias=alias,
            label=stored.label,
            text=stored.text,
            prompt_tokens=stored.prompt_tokens,
            completion_tokens=stored.completion_tokens,
            cost_micros=stored.cost_micros,
            latency_s=0.0,
            truncated=stored.truncated,
        )
        for alias, stored in turn.answers.items()
        if stored.status == "ok"
    ]


def missing_aliases(turn: Turn, aliases: Sequence[str]) -> list[str]:
    """Which of `aliases` have no good answer to the turn yet (failed ones count)."""
    return [
        alias
        for alias in aliases
        if alias not in turn.answers or turn.answers[alias].status != "ok"
    ]


def stored_answer(answer: AnswerFinished | AnswerFailed) -> StoredAnswer:
    if isinstance(answer, AnswerFailed):
        return StoredAnswer(
            label=answer.label,
            status="failed",
            text=answer.partial_text,
            reason=answer.reason,
        )
    return StoredAnswer(
        label=answer.label,
        text=answer.text,
        prompt_tokens=answer.prompt_tokens,
        completion_tokens=answer.completion_tokens,
        cost_micros=answer.cost_micros,
        truncated=answer.truncated,
    )


def stored_synthesis(
    synthesis: SynthesisOutcome | None,
    answers: Sequence[AnswerFinished],
    confidence: Confidence | None,
) -> StoredSynthesis | None:
    """The synthesis as plain text; None when there is none (single tier, failed)."""
    if not isinstance(synthesis, Synthesis):
        return None
    labels = {answer.alias: answer.label for answer in answers}
    names = {letter: labels[alias] for letter, alias in synthesis.letters.items()}
    report = synthesis.report
    if isinstance(report, DebateReport):
        return _stored_debate(report, names, confidence)
    verdicts = [
        f"{group.verdict} ({', '.join(names[letter] for letter in group.answers)})"
        for group in report.verdict_groups
    ]
    lines = [f"Agreed: {point}" for point in report.agreement]
    for item in report.disagreements:
        views = "; ".join(
            f"{', '.join(names[a] for a in position.answers)}: {position.view}"
            for position in item.positions
        )
        lines.append(f"Disagreed on {item.topic}: {views}")
    lines += [
        f"Only {names[u.answer]} saw: {u.insight}" for u in report.unique_insights
    ]
    lines += [
        f"{names[u.answer]} was unsure: {u.reason}" for u in report.uncertain_answers
    ]
    lines.append(f"Recommended next step: {report.recommended_action}")
    return StoredSynthesis(
        verdicts=verdicts,
        summary=name_letters("\n".join(lines), names),
        confidence=str(confidence) if confidence else None,
    )


def _stored_debate(
    report: DebateReport, names: dict[str, str], confidence: Confidence | None
) -> StoredSynthesis:
    verdicts = [
        f"{side.stance}: {side.case} ({names[side.answer]})" for side in report.sides
    ]
    lines = [f"Worth it if: {point}" for point in report.worth_it_if]
    lines += [f"Avoid if: {point}" for point in report.avoid_if]
    if report.middle_path:
        lines.append(f"A middle path: {report.middle_path}")
    lines.append(f"Recommended next step: {report.recommended_action}")
    return StoredSynthesis(
        verdicts=verdicts,
        summary=name_letters("\n".join(lines), names),
        confidence=str(confidence) if confidence else None,
    )


def conversation_from_transcript(
    thread: ThreadRef, lines: Sequence[TranscriptLine]
) -> Conversation:
    """A conversation for a thread Quorum never saw, from its messages.

    Each non-empty message becomes a transcript turn, oldest first, so a long
    thread is trimmed message by message like any history. `lines` should
    leave out the message being asked now. Save the turns with `save_turns`
    before the follow-up's own turn, so the next follow-up finds them cached.
    """
    turns = [
        Turn(
            kind="transcript",
            question=line.text.strip(),
            asker=line.author,
            from_bot=line.is_bot,
        )
        for line in lines
        if line.text.strip()
    ]
    return Conversation(thread=thread, turns=turns)


def _conversation(thread: ThreadRef, fields: dict[str, str]) -> Conversation:
    count = int(fields.pop("turns", "0"))
    heads: dict[int, str] = {}
    answers: dict[int, dict[str, StoredAnswer]] = defaultdict(dict)
    syntheses: dict[int, StoredSynthesis] = {}
    for name, value in fields.items():
        _, index, *rest = name.split(":", 3)
        if not rest:
            heads[int(index)] = value
        elif rest[0] == "answer":
            answers[int(index)][rest[1]] = StoredAnswer.model_validate_json(value)
        elif rest == ["synthesis"]:
            syntheses[int(index)] = StoredSynthesis.model_validate_json(value)
    turns = [
        Turn.model_validate_json(heads[i]).model_copy(
            update={"answers": answers[i], "synthesis": syntheses.get(i)}
        )
        for i in range(count)
    ]
    return Conversation(thread=thread, turns=turns)


def _parts(
    answers: Mapping[str, StoredAnswer], synthesis: StoredSynthesis | None
) -> list[str]:
    """Field suffixes and JSON values, alternating, for the scripts below."""
    parts: list[str] = []
    for alias, answer in answers.items():
        parts += [f"answer:{alias}", answer.model_dump_json()]
    if synthesis is not None:
        parts += ["synthesis", synthesis.model_dump_json()]
    return parts


def _seconds(ttl: timedelta) -> int:
    seconds = int(ttl.total_seconds())
    if seconds < 1:
        raise ValueError(f"a thread TTL must be at least a second, not {ttl}")
    return seconds


# KEYS[1]: the conversation hash. ARGV[1]: TTL in seconds. Then, per turn:
# its head JSON, the number of its parts, and each part's field suffix and JSON.
_APPEND_TURNS = """
local key = KEYS[1]
local first = tonumber(redis.call('HGET', key, 'turns') or '0')
local index = first
local at = 2
while at <= #ARGV do
  local field = 'turn:' .. index
  redis.call('HSET', key, field, ARGV[at])
  local parts = tonumber(ARGV[at + 1])
  for part = 1, parts do
    local name = ARGV[at + 2 * part]
    redis.call('HSET', key, field .. ':' .. name, ARGV[at + 2 * part + 1])
  end
  at = at + 2 + 2 * parts
  index = index + 1
end
redis.call('HSET', key, 'turns', index)
redis.call('EXPIRE', key, ARGV[1])
return first
"""

# KEYS[1]: the conversation hash. ARGV[1]: TTL in seconds. ARGV[2]: the turn's
# index. Then field suffixes and JSON values, alternating.
_UPDATE_TURN = """
local key = KEYS[1]
local field = 'turn:' .. ARGV[2]
if redis.call('HEXISTS', key, field) == 0 then
  return 0
end
for at = 3, #ARGV, 2 do
  redis.call('HSET', key, field .. ':' .. ARGV[at], ARGV[at + 1])
end
redis.call('EXPIRE', key, ARGV[1])
return 1
"""
