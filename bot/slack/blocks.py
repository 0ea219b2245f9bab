"""Block Kit for every message Quorum posts. The one place Slack layout lives."""

from __future__ import annotations

import re
from typing import Any

from bot.confidence import Confidence, Level
from bot.consult import ConsultRequest, ConsultResult
from bot.fanout import AnswerFailed, AnswerFinished
from bot.panel import ModelSpec
from bot.slack.text import neutralize_mentions, safe_mrkdwn
from bot.synthesis import Synthesis, SynthesisDegraded

Block = dict[str, Any]

BADGES = {
    Level.HIGH: ":large_green_circle:",
    Level.MEDIUM: ":large_yellow_circle:",
    Level.LOW: ":red_circle:",
    Level.VARIABLE: ":large_purple_circle:",
}

USAGE = (
    "Ask the panel a question: `/consult <question>`\n"
    "For example: `/consult Should we use Redis or PostgreSQL for session storage "
    "in a high-availability web app?`\n"
    "Pick a tier with a first word: `single`, `dual` or `full`."
)


def _context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def _section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def root_blocks(
    request: ConsultRequest, models: list[ModelSpec], status: str
) -> list[Block]:
    panel = ", ".join(safe_mrkdwn(spec.label) for spec in models)
    said = _ASKED[request.kind]
    return [
        _section(f"<@{request.asker}> {said}:\n>{_quote(request.question)}"),
        _context(f"Tier: *{request.tier}* · Panel: {panel} · {status}"),
    ]


_ASKED = {
    "consult": "asked the panel",
    "followup": "asked the panel a follow-up",
    "escalation": "escalated this to the full panel (answers above are reused)",
}


def root_text(request: ConsultRequest) -> str:
    return f"Question for the panel: {neutralize_mentions(request.question)[:300]}"


def _quote(text: str) -> str:
    return safe_mrkdwn(text).replace("\n", "\n>")


def answer_blocks(
    label: str, body: str, status: str, part: int, parts: int
) -> list[Block]:
    """One message of a model's answer; long answers span several parts."""
    title = f"*{safe_mrkdwn(label)}*"
    if parts > 1:
        title += f" ({part} of {parts})"
    blocks = [_context(f"{title} · {status}")]
    if body.strip():
        blocks.append({"type": "markdown", "text": neutralize_mentions(body)})
    return blocks


def answer_status(answer: AnswerFinished | AnswerFailed | None) -> str:
    if answer is None:
        return "_answering…_"
    if isinstance(answer, AnswerFailed):
        kept = " · partial answer kept, incomplete" if answer.partial_text else ""
        return f":warning: failed: {safe_mrkdwn(answer.reason)}{kept}"
    tokens = answer.completion_tokens
    bits = [f"{answer.latency_s:.1f} s"]
    if tokens is not None:
        bits.append(f"{tokens} tokens")
    bits.append(format_cost(answer.cost_micros))
    if answer.truncated:
        bits.append(":warning: cut off at the token limit")
    return " · ".join(bits)


def failure_blocks(failure: AnswerFailed) -> list[Block]:
    return [
        _context(f"*{safe_mrkdwn(failure.label)}* · :warning: did not answer"),
        _section(
            f"{safe_mrkdwn(failure.label)} failed: {safe_mrkdwn(failure.reason)}."
        ),
    ]


def format_cost(micros: int | None) -> str:
    if micros is None:
        return "cost unknown"
    return f"${micros / 1e6:.4f}"


def synthesis_blocks(result: ConsultResult) -> list[Block]:
    synthesis = result.synthesis
    if isinstance(synthesis, Synthesis):
        blocks = _report_blocks(result, synthesis)
    elif isinstance(synthesis, SynthesisDegraded):
        blocks = _degraded_blocks(result, synthesis)
    else:
        blocks = []
    notes = [_context(f"_{safe_mrkdwn(note)}_") for note in result.notes]
    return blocks + notes + [{"type": "divider"}, _context(footer_text(result))]


def synthesis_text(result: ConsultResult) -> str:
    if result.confidence and isinstance(result.synthesis, Synthesis):
        return f"Synthesis · {result.confidence}"
    return "Synthesis unavailable"


def _report_blocks(result: ConsultResult, synthesis: Synthesis) -> list[Block]:
    names = _letter_names(result, synthesis)
    report = synthesis.report
    blocks: list[Block] = [
        {"type": "header", "text": {"type": "plain_text", "text": "Synthesis"}},
        _section(confidence_line(result.confidence)),
    ]
    sections = [
        ("Where they agree", [_named(p, names) for p in report.agreement]),
        (
            "Where they disagree",
            [_disagreement(d, names) for d in report.disagreements],
        ),
        (
            "Only one of them saw",
            [
                f"{names[u.answer]}: {_named(u.insight, names)}"
                for u in report.unique_insights
            ],
        ),
        (
            "Unsure",
            [
                f"{names[u.answer]}: {_named(u.reason, names)}"
                for u in report.uncertain_answers
            ],
        ),
    ]
    for title, items in sections:
        if items:
            blocks.append(_section(f"*{title}*\n" + "\n".join(f"• {i}" for i in items)))
    action = _named(report.recommended_action, names)
    blocks.append(_section(f"*Recommended next step*\n{action}"))
    return blocks


def confidence_line(confidence: Confidence | None) -> str:
    if confidence is None:
        return "*Confidence:* not rated"
    badge = BADGES[confidence.level]
    return f"{badge} *{confidence.level}*: {safe_mrkdwn(confidence.basis)}"


def _degraded_blocks(
    result: ConsultResult, synthesis: SynthesisDegraded
) -> list[Block]:
    lines = [
        ":warning: *Synthesis unavailable.* "
        f"{safe_mrkdwn(synthesis.reason)}. No confidence level is given; "
        "read the answers above."
    ]
    if result.confidence is not None:
        lines.append(confidence_line(result.confidence))
    verdicts = [
        f"• {safe_mrkdwn(a.label)}: {safe_mrkdwn(first_line(a.text))}"
        for a in result.answers
    ]
    blocks = [_section("\n".join(lines))]
    if verdicts:
        blocks.append(_section("*Each answer's opening line*\n" + "\n".join(verdicts)))
    return blocks


def footer_text(result: ConsultResult) -> str:
    asked = ", ".join(safe_mrkdwn(spec.label) for spec in result.models)
    bits = [f"Panel: {asked}"]
    if isinstance(result.synthesis, Synthesis):
        bits.append(f"synthesis by {safe_mrkdwn(result.synthesis.model_label)}")
    for failure in result.failures:
        reason = safe_mrkdwn(failure.reason)
        bits.append(f":warning: {safe_mrkdwn(failure.label)} failed ({reason})")
    if result.reused:
        labels = {spec.alias: spec.label for spec in result.models}
        reused = ", ".join(safe_mrkdwn(labels[a]) for a in result.reused)
        bits.append(f"reused earlier answers of {reused} (not charged again)")
    bits.append(f"{result.wall_s:.1f} s")
    cost = format_cost(result.known_cost_micros)
    if result.unpriced:
        cost += (
            f" + unknown cost of {', '.join(safe_mrkdwn(n) for n in result.unpriced)}"
        )
    bits.append(cost)
    return " · ".join(bits)


def first_line(text: str, limit: int = 200) -> str:
    for line in text.splitlines():
        line = line.strip().lstrip("#>*-_ ").rstrip("*_ ")
        if line:
            return line if len(line) <= limit else line[: limit - 1] + "…"
    return "(empty answer)"


def _letter_names(result: ConsultResult, synthesis: Synthesis) -> dict[str, str]:
    labels = {answer.alias: answer.label for answer in result.answers}
    return {
        letter: safe_mrkdwn(labels[alias])
        for letter, alias in synthesis.letters.items()
    }


_LETTER_REF = re.compile(r"\b([Aa]nswers?) ([A-Z])\b")


def _named(text: str, names: dict[str, str]) -> str:
    """Replace "answer B" in the synthesis's prose with the model's label."""

    def swap(match: re.Match[str]) -> str:
        letter = match.group(2)
        return names.get(letter, match.group(0))

    return _LETTER_REF.sub(swap, safe_mrkdwn(text))


def _disagreement(item: Any, names: dict[str, str]) -> str:
    positions = "".join(
        f"\n    ◦ {' and '.join(names[a] for a in p.answers)}: {_named(p.view, names)}"
        for p in item.positions
    )
    return f"{_named(item.topic, names)}{positions}"
