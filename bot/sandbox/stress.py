"""A consult under stress: long answers, and how Slack took them.

Tests and `bench/slack_limits.py` use these to serve long Markdown answers
from the model server and to read, from the sandbox's record, how many calls
a consult made, how many got HTTP 429, and how long each final text took to
land after the model's last token.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from bot.sandbox.model_server import ModelServer
from bot.sandbox.slack_api import ApiCall, SandboxMessage, SlackSandbox


def long_answer(name: str, chars: int) -> str:
    """Markdown of about `chars` characters: headings, paragraphs, lists and
    fenced code, each paragraph on one line as models send them."""
    sections: list[str] = [f"**Verdict ({name}): it depends on the write path.**"]
    index = 0
    while sum(len(s) + 2 for s in sections) < chars:
        index += 1
        sections.append(f"### {index}. Step {index} of the {name} plan")
        sections.append(
            f"Paragraph {index} of {name}: "
            + " ".join(f"point-{index}-{word}" for word in range(40))
            + "."
        )
        items = (f"- item {index}.{n}: keep & check <this>" for n in range(4))
        sections.append("\n".join(items))
        code = "\n".join(
            f"    total_{line} = compute({index}, {line})  # < {line} && > 0"
            for line in range(12)
        )
        sections.append(f"```python\ndef step_{index}():\n{code}\n```")
    return "\n\n".join(sections)[:chars].rstrip() + "\n\nEnd of answer."


def unanimous_synthesis(letters: str, points: int = 3, point_chars: int = 120) -> str:
    """A synthesis reply in which every answer (A, B, …) shares one verdict.

    It holds whatever letters the prompt used, so a fixed reply fits any order.
    """
    filler = "x" * max(0, point_chars - 30)
    return json.dumps(
        {
            "verdict_groups": [{"verdict": "one plan", "answers": list(letters)}],
            "agreement": [f"Agreed point {n:03d}: {filler}" for n in range(points)],
            "disagreements": [],
            "unique_insights": [],
            "uncertain_answers": [],
            "recommended_action": "Follow the shared plan.",
        }
    )


@dataclass(frozen=True)
class ConsultFigures:
    """One consult as Slack saw it."""

    slack_calls: int
    rate_limited: int  # calls answered HTTP 429
    updates: int
    posts: int
    answer_lag_s: dict[str, float]  # label -> last token to final text
    synthesis_lag_s: float | None  # synthesis reply to synthesis posted

    @property
    def worst_answer_lag_s(self) -> float:
        return max(self.answer_lag_s.values(), default=0.0)

    def lines(self) -> list[str]:
        lags = ", ".join(f"{k} {v:.2f} s" for k, v in self.answer_lag_s.items())
        synthesis = (
            "-" if self.synthesis_lag_s is None else f"{self.synthesis_lag_s:.2f} s"
        )
        return [
            f"Slack calls: {self.slack_calls} ({self.posts} chat.postMessage, "
            f"{self.updates} chat.update), HTTP 429 received: {self.rate_limited}",
            f"last model token to final text: {lags}",
            f"synthesis reply to synthesis posted: {synthesis}",
        ]


def consult_figures(
    slack: SlackSandbox,
    models: ModelServer,
    labels: dict[str, str],
    synthesis_model: str | None = None,
    since: int = 0,
) -> ConsultFigures:
    """Figures for the calls from `since` on; `labels` maps served model -> label."""
    calls = slack.calls[since:]
    lags = {}
    for model, label in labels.items():
        last_token = max(r.finished_at for r in models.replies if r.model == model)
        landed = [c.at for c in calls if c.error is None and _writes_answer(c, label)]
        lags[label] = max(landed) - last_token
    synthesis_lag = None
    if synthesis_model is not None:
        replied = [r.finished_at for r in models.replies if r.model == synthesis_model]
        posted = [
            c.at
            for c in calls
            if c.error is None and str(c.args.get("text", "")).startswith("Synthesis")
        ]
        if replied and posted:
            synthesis_lag = max(posted) - max(replied)
    return ConsultFigures(
        slack_calls=len(calls),
        rate_limited=sum(1 for c in calls if c.error == "http_429"),
        updates=sum(1 for c in calls if c.method == "chat.update"),
        posts=sum(1 for c in calls if c.method == "chat.postMessage"),
        answer_lag_s=lags,
        synthesis_lag_s=synthesis_lag,
    )


def answer_parts(thread: list[SandboxMessage], label: str) -> list[SandboxMessage]:
    """The messages of one model's answer, in thread order."""
    return [m for m in thread if _is_answer_text(m.text, label)]


def markdown_of(message: SandboxMessage) -> str:
    return "".join(b["text"] for b in message.blocks or [] if b["type"] == "markdown")


def _writes_answer(call: ApiCall, label: str) -> bool:
    return _is_answer_text(str(call.args.get("text", "")), label)


def _is_answer_text(text: str, label: str) -> bool:
    return text.startswith((f"{label}: ", f"{label} (part "))
