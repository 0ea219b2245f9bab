"""Block Kit for every message Quorum posts. The one place Slack layout lives."""

from __future__ import annotations

import math
import re
from typing import Any

from bot.confidence import Confidence, Level
from bot.consult import ConsultRequest, ConsultResult, EscalationHint
from bot.estimate import CostEstimate
from bot.fanout import AnswerFailed, AnswerFinished
from bot.panel import ModelSpec, Stance
from bot.slack.text import neutralize_mentions, safe_mrkdwn
from bot.synthesis import DebateReport, Synthesis, SynthesisDegraded, SynthesisReport

Block = dict[str, Any]

BADGES = {
    Level.HIGH: ":large_green_circle:",
    Level.MEDIUM: ":large_yellow_circle:",
    Level.LOW: ":red_circle:",
    Level.VARIABLE: ":large_purple_circle:",
    Level.NOT_RATED: ":white_circle:",
}

# Slack reads "<…>" in message text as a link or mention, so the usage texts
# write their placeholders escaped.
USAGE = (
    "Ask the panel a question: `/consult &lt;question&gt;`\n"
    "For example: `/consult Should we use Redis or PostgreSQL for session storage "
    "in a high-availability web app?`\n"
    "Pick a tier with a first word: `single`, `dual` or `full`. "
    "Start with `debate:` for a debate; `/consult help` shows more."
)

HELP = """\
*Quorum asks a panel of AI models the same question, blind and at once, then \
compares their answers.*

`/consult &lt;question&gt;`: the panel file's default tier.
`/consult single|dual|full &lt;question&gt;`: one model, two, or the whole panel. \
The single tier posts the answer with no synthesis.
`/consult debate: &lt;proposal&gt;`: each model argues an assigned stance (for, \
against, neutral); the synthesis says when the proposal is worth it, when to \
avoid it, and any middle path.
`/consult budget`: what this channel has spent today, its daily cap and \
the last consults, only to you.
`/consult help`: this message.
In a thread, the same words work after a mention: `@Quorum full …`, \
`@Quorum debate: …`.

Examples:
• `/consult Should we use Redis or PostgreSQL for session storage?`
• `/consult dual Is a 30 s connection timeout sane for our payment client?`
• `/consult single What does SO_REUSEPORT do?`
• `/consult debate: Should we migrate our monolith to microservices?`

A first word Quorum does not know is part of the question. The synthesis \
shows a confidence level computed from how the answers group: *High* (all of \
3 or more independent answers agree), *Medium* (a majority agrees), *Low* (no \
majority), *Variable* (an answer says it is unsure); a debate is not rated, \
because its stances were assigned."""

NO_DEBATE = (
    "This panel cannot hold a debate: it needs a `[debate]` table in the panel "
    "file, or at least two models in the full tier."
)

STANCE_TAGS: dict[Stance, str] = {
    "for": "argues *for* (assigned)",
    "against": "argues *against* (assigned)",
    "neutral": "*neutral* (assigned)",
}


def _context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}


def _section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def root_blocks(
    request: ConsultRequest,
    models: list[ModelSpec],
    status: str,
    stances: dict[str, Stance] | None = None,
) -> list[Block]:
    if request.debate:
        seats = " · ".join(
            f"{(stances or {}).get(spec.alias, '?').capitalize()}: "
            f"{safe_mrkdwn(spec.label)}"
            for spec in models
        )
        asked = "asked the panel to debate"
        about = f"*Debate* · {seats}"
    else:
        panel = ", ".join(safe_mrkdwn(spec.label) for spec in models)
        asked = _ASKED[request.kind]
        about = f"Tier: *{request.tier}* · Panel: {panel}"
    return [
        _section(f"<@{request.asker}> {asked}:\n>{_quote(request.question)}"),
        _context(f"{about} · {status}"),
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


def question_part_blocks(part: str, number: int, parts: int) -> list[Block]:
    """Part of a question too long to quote in full in the root message."""
    counter = f" (part {number} of {parts})" if parts > 1 else ""
    return [
        _context(f"*The whole question*{counter}"),
        {"type": "markdown", "text": neutralize_mentions(part)},
    ]


def answer_blocks(
    label: str,
    body: str,
    status: str,
    part: int,
    parts: int,
    stance: Stance | None = None,
) -> list[Block]:
    """One message of a model's answer; long answers span several parts."""
    title = answer_title(label, stance)
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


def answer_title(label: str, stance: Stance | None = None) -> str:
    """The model's label, and in a debate the stance it was given."""
    title = f"*{safe_mrkdwn(label)}*"
    return f"{title} · {STANCE_TAGS[stance]}" if stance else title


def failure_blocks(failure: AnswerFailed, stance: Stance | None = None) -> list[Block]:
    return [
        _context(f"{answer_title(failure.label, stance)} · :warning: did not answer"),
        _section(
            f"{safe_mrkdwn(failure.label)} failed: {safe_mrkdwn(failure.reason)}."
        ),
    ]


def format_cost(micros: int | None) -> str:
    if micros is None:
        return "cost unknown"
    return format_usd(micros)


def format_usd(micros: int) -> str:
    """Exact to the micro-dollar, at least two decimals: $0.0006, $1.50, $0.015391.

    Exact, so the costs shown in a thread add up to the total shown.
    """
    dollars, rest = divmod(micros, 1_000_000)
    cents = f"{rest:06d}".rstrip("0").ljust(2, "0")
    return f"${dollars:,}.{cents}"


def synthesis_blocks(result: ConsultResult) -> list[Block]:
    synthesis = result.synthesis
    report = synthesis.report if isinstance(synthesis, Synthesis) else None
    if isinstance(report, DebateReport):
        blocks = _debate_blocks(result, synthesis, report)  # type: ignore[arg-type]
    elif isinstance(report, SynthesisReport):
        blocks = _report_blocks(result, synthesis, report)  # type: ignore[arg-type]
    elif isinstance(synthesis, SynthesisDegraded):
        blocks = _degraded_blocks(result, synthesis)
    else:
        blocks = []
    if result.escalation is not None:
        blocks.append(_section(escalation_text(result.escalation)))
    notes = [_context(f"_{safe_mrkdwn(note)}_") for note in result.notes]
    return blocks + notes + [{"type": "divider"}, _context(footer_text(result))]


def synthesis_text(result: ConsultResult) -> str:
    if result.confidence and isinstance(result.synthesis, Synthesis):
        kind = " of the debate" if result.request.debate else ""
        return neutralize_mentions(f"Synthesis{kind} · {result.confidence}")
    return "Synthesis unavailable"


def _header(text: str) -> Block:
    return {"type": "header", "text": {"type": "plain_text", "text": text}}


def _list_section(title: str, items: list[str]) -> list[Block]:
    """A titled bullet list; nothing at all when there are no items."""
    if not items:
        return []
    return [_section(f"*{title}*\n" + "\n".join(f"• {i}" for i in items))]


def _report_blocks(
    result: ConsultResult, synthesis: Synthesis, report: SynthesisReport
) -> list[Block]:
    names = _letter_names(result, synthesis)
    blocks: list[Block] = [
        _header("Synthesis"),
        _section(confidence_line(result.confidence)),
    ]
    sections = [
        ("Verdicts", _verdicts(report, names)),
        ("Where they agree", [_named(p, names) for p in report.agreement]),
        (
            "Where they disagree",
            [_disagreement(d, names) for d in report.disagreements],
        ),
        (
            "Only one of them saw",
            _credited(names, [(u.answer, u.insight) for u in report.unique_insights]),
        ),
    ]
    for title, items in sections:
        blocks += _list_section(title, items)
    return blocks + _closing(report, names)


def _verdicts(report: SynthesisReport, names: dict[str, str]) -> list[str]:
    """Each bottom line and who held it, when the disagreements leave a view out.

    The synthesis model is asked to keep every minority view; this makes sure
    one it left out of `disagreements` still shows, with who held it.
    """
    groups = report.verdict_groups
    largest = max(len(group.answers) for group in groups)
    minority = {a for g in groups if len(g.answers) < largest for a in g.answers}
    if len(groups) > 1 and len(minority) == 0:  # an even split: every view counts
        minority = {a for g in groups for a in g.answers}
    placed = {a for d in report.disagreements for p in d.positions for a in p.answers}
    if minority <= placed:
        return []
    lines = []
    for group in sorted(groups, key=lambda g: -len(g.answers)):
        holders = " and ".join(names[letter] for letter in group.answers)
        note = " (minority view)" if len(group.answers) < largest else ""
        lines.append(f"{holders}{note}: {_named(group.verdict, names)}")
    return lines


def _debate_blocks(
    result: ConsultResult, synthesis: Synthesis, report: DebateReport
) -> list[Block]:
    names = _letter_names(result, synthesis)
    blocks: list[Block] = [
        _header("Synthesis of the debate"),
        _section(confidence_line(result.confidence)),
    ]
    sides = [
        f"{names[side.answer]}, {side.stance}: {_named(side.case, names)}"
        for side in report.sides
    ]
    blocks += _list_section("The sides", sides)
    blocks += _list_section(
        "Worth it if", [_named(c, names) for c in report.worth_it_if]
    )
    blocks += _list_section("Avoid if", [_named(c, names) for c in report.avoid_if])
    if report.middle_path:
        middle = _named(report.middle_path, names)
        blocks.append(_section(f"*A middle path*\n{middle}"))
    sections = [
        (
            "Fatal flaws raised",
            _credited(names, [(f.answer, f.flaw) for f in report.fatal_flaws]),
        ),
        (
            "Granted against its own stance",
            _credited(names, [(c.answer, c.point) for c in report.concessions]),
        ),
    ]
    for title, items in sections:
        blocks += _list_section(title, items)
    return blocks + _closing(report, names)


def _credited(names: dict[str, str], points: list[tuple[str, str]]) -> list[str]:
    """Points each raised by one answer, as "Label: point"."""
    return [f"{names[letter]}: {_named(point, names)}" for letter, point in points]


def _closing(
    report: SynthesisReport | DebateReport, names: dict[str, str]
) -> list[Block]:
    """What both kinds of synthesis end with: who was unsure, and what to do."""
    unsure = _credited(names, [(u.answer, u.reason) for u in report.uncertain_answers])
    action = _named(report.recommended_action, names)
    return _list_section("Unsure", unsure) + [
        _section(f"*Recommended next step*\n{action}")
    ]


def escalation_text(hint: EscalationHint) -> str:
    """How to ask the full tier, and what it would cost."""
    panel = ", ".join(safe_mrkdwn(label) for label in hint.models)
    return (
        f":arrow_up: *Ask the full panel?* {hint.reason.capitalize()}. "
        f"React with :{hint.reaction}: to any message in this thread, or send "
        f"`/consult full &lt;question&gt;`, to ask {panel}. "
        f"{estimate_text(hint.estimate)}"
    )


def estimate_text(estimate: CostEstimate) -> str:
    if estimate.micros is None:
        unpriced = ", ".join(safe_mrkdwn(label) for label in estimate.unpriced)
        return f"Its cost is unknown: no price is set for {unpriced}."
    dollars = math.ceil(estimate.micros / 100) / 10_000  # rounded up: a ceiling
    return f"A full consult costs at most about ${dollars:.4f}."


def confidence_line(confidence: Confidence | None) -> str:
    if confidence is None:
        return "*Confidence:* not rated"
    badge = BADGES[confidence.level]
    return f"{badge} *{confidence.level}*: {safe_mrkdwn(confidence.basis)}"


def _degraded_blocks(
    result: ConsultResult, synthesis: SynthesisDegraded
) -> list[Block]:
    if result.confidence is not None:  # fewer than two answers: nothing to compare
        lines = [
            f":warning: *No synthesis.* {safe_mrkdwn(synthesis.reason)}.",
            confidence_line(result.confidence),
        ]
    else:
        lines = [
            ":warning: *Synthesis unavailable.* "
            f"{safe_mrkdwn(synthesis.reason)}. No confidence level is given; "
            "read the answers above."
        ]
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
        judge = safe_mrkdwn(result.synthesis.model_label)
        bits.append(
            f"synthesis by {judge} ({format_cost(result.synthesis.cost_micros)})"
        )
    for failure in result.failures:
        reason = safe_mrkdwn(failure.reason)
        bits.append(f":warning: {safe_mrkdwn(failure.label)} failed ({reason})")
    if result.reused:
        labels = {spec.alias: spec.label for spec in result.models}
        reused = ", ".join(safe_mrkdwn(labels[a]) for a in result.reused)
        bits.append(f"reused earlier answers of {reused} (not charged again)")
    bits.append(f"{result.wall_s:.1f} s")
    bits.append(_cost_text(result))
    return " · ".join(bits)


def _cost_text(result: ConsultResult) -> str:
    """The consult's cost; an unknown part is never shown as $0."""
    unpriced = ", ".join(safe_mrkdwn(label) for label in result.unpriced)
    if not result.unpriced:
        return format_cost(result.known_cost_micros)
    if len(result.unpriced) == len(result.cost_parts):
        return f"cost unknown (no price for {unpriced})"
    return f"{format_cost(result.known_cost_micros)} + unknown cost of {unpriced}"


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
