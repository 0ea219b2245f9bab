"""Scripted answers for the local model server: the demo's questions and outcomes.

Each `Script` holds, for one question, every stand-in model's answer and the
synthesis a careful synthesis model would give. The synthesis template names
models; `ScriptBook.synthesis_for` rewrites it with the letters the real
synthesis prompt used, so the bot's own label mapping is what gets tested.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from bot.sandbox.model_server import Behavior, Pace

SWIFT = "quorum-swift"
STEADY = "quorum-steady"
DEEP = "quorum-deep"
PANEL_MODELS = (SWIFT, STEADY, DEEP)
SYNTHESIS_MODEL = "quorum-synth"

DEMO_BEHAVIORS: dict[str, Behavior] = {
    SWIFT: Behavior(Pace(ttft_s=0.3, tokens_per_s=150)),
    STEADY: Behavior(Pace(ttft_s=0.5, tokens_per_s=100)),
    DEEP: Behavior(Pace(ttft_s=0.8, tokens_per_s=55)),
    SYNTHESIS_MODEL: Behavior(Pace(ttft_s=0.4, tokens_per_s=500)),
}

UNMATCHED_VERDICT = "did not match the script, so the stand-in cannot place it"
NO_SCRIPT_VERDICT = "no answer: no script for this question"
MATCH_PREFIX_CHARS = 200

_ANSWER_BLOCK = re.compile(r'<answer label="([^"]+)">\n(.*?)\n</answer>', re.DOTALL)
_QUESTION = re.compile(r"Question:\n(.*?)(?=\n<answer label=|\nLetters in use:|\Z)", re.S)


@dataclass(frozen=True)
class Script:
    """One scripted question: the answers per served model and their synthesis.

    `synthesis` has the shape `SYNTHESIS_SYSTEM` asks for, with model names
    where the synthesis model would put answer letters.
    """

    key: str
    question: str
    keywords: tuple[str, ...]
    answers: dict[str, str]
    synthesis: dict[str, Any]

    def __post_init__(self) -> None:
        unknown = self.referenced_models() - set(self.answers)
        if unknown:
            raise ValueError(f"script {self.key!r} names unknown models {unknown}")
        grouped = [m for g in self.synthesis["verdict_groups"] for m in g["answers"]]
        if sorted(grouped) != sorted(self.answers):
            raise ValueError(
                f"script {self.key!r}: every model must be in exactly one verdict group"
            )
        if not self.matches(self.question):
            raise ValueError(f"script {self.key!r}: its keywords miss its question")

    def matches(self, text: str) -> bool:
        lowered = text.lower()
        return all(keyword.lower() in lowered for keyword in self.keywords)

    def referenced_models(self) -> set[str]:
        """Every model name the synthesis template refers to."""
        synthesis = self.synthesis
        names = {m for g in synthesis["verdict_groups"] for m in g["answers"]}
        for disagreement in synthesis["disagreements"]:
            names.update(m for p in disagreement["positions"] for m in p["answers"])
        names.update(item["answer"] for item in synthesis["unique_insights"])
        names.update(item["answer"] for item in synthesis["uncertain_answers"])
        return names

    def model_for(self, text: str, exclude: Iterable[str] = ()) -> str | None:
        """The model whose scripted answer `text` is, allowing for trimming."""
        text = text.strip()
        candidates = [m for m in self.answers if m not in set(exclude)]
        for model in candidates:
            if self.answers[model].strip() == text:
                return model
        for model in candidates:
            if text.startswith(self.answers[model].strip()[:MATCH_PREFIX_CHARS]):
                return model
        return None


def unscripted_answer(model: str) -> str:
    """What every stand-in says to a question it has no script for."""
    return (
        "**I can't judge this question.**\n\n"
        f"I am {model}, a local stand-in model that Quorum runs for its offline "
        "demo and tests in place of a real provider. I only serve answers "
        "written in advance for a few demo questions, and I have no script for "
        "this one, so anything more I said would be made up.\n\n"
        "I am unsure of the answer and make no recommendation. For a real "
        "answer, give Quorum real models (set OPENAI_API_KEY, ANTHROPIC_API_KEY "
        "or GEMINI_API_KEY) and ask again."
    )


@dataclass(frozen=True)
class ScriptBook:
    """The scripts a `ModelServer` answers from."""

    scripts: tuple[Script, ...]
    synthesis_model: str = SYNTHESIS_MODEL

    def __post_init__(self) -> None:
        keys = [script.key for script in self.scripts]
        if len(keys) != len(set(keys)):
            raise ValueError(f"script keys must be unique: {keys}")

    def __getitem__(self, key: str) -> Script:
        for script in self.scripts:
            if script.key == key:
                return script
        raise KeyError(key)

    def match(self, text: str) -> Script | None:
        """The script whose keywords all appear in `text` (the most specific)."""
        found = [script for script in self.scripts if script.matches(text)]
        return max(found, key=lambda s: len(s.keywords), default=None)

    def served_models(self) -> list[str]:
        names = {m for script in self.scripts for m in script.answers}
        return sorted(names | {self.synthesis_model})

    def answer_for(self, model: str, user_message: str) -> str:
        script = self.match(user_message)
        if script is None or model not in script.answers:
            return unscripted_answer(model)
        return script.answers[model]

    def synthesis_for(self, user_message: str) -> str:
        """The synthesis JSON for a synthesis prompt, in the prompt's letters."""
        question_match = _QUESTION.search(user_message)
        question = question_match.group(1) if question_match else user_message
        blocks = _ANSWER_BLOCK.findall(user_message)
        script = self.match(question)
        if script is None:
            synthesis = unscripted_synthesis([label for label, _ in blocks])
        else:
            synthesis = relabelled_synthesis(script, blocks)
        return json.dumps(synthesis, indent=2)


def relabelled_synthesis(
    script: Script, blocks: list[tuple[str, str]]
) -> dict[str, Any]:
    """`script.synthesis` with model names replaced by the blocks' letters.

    Models absent from `blocks` vanish, and so do the groups and positions
    they leave empty; an answer the script does not know gets its own group.
    """
    letters: dict[str, str] = {}
    unmatched: list[str] = []
    for label, text in blocks:
        model = script.model_for(text, exclude=letters)
        if model is None:
            unmatched.append(label)
        else:
            letters[model] = label
    order = [label for label, _ in blocks]

    def relabel(models: list[str]) -> list[str]:
        return sorted((letters[m] for m in models if m in letters), key=order.index)

    template = script.synthesis
    groups = [
        {"verdict": g["verdict"], "answers": relabel(g["answers"])}
        for g in template["verdict_groups"]
    ]
    groups += [{"verdict": UNMATCHED_VERDICT, "answers": [u]} for u in unmatched]
    return {
        "verdict_groups": [g for g in groups if g["answers"]],
        # An answer the script cannot place may not share these points.
        "agreement": [] if unmatched else list(template["agreement"]),
        "disagreements": _relabelled_disagreements(template, relabel),
        "unique_insights": [
            {"answer": letters[i["answer"]], "insight": i["insight"]}
            for i in template["unique_insights"]
            if i["answer"] in letters
        ],
        "uncertain_answers": [
            {"answer": letters[u["answer"]], "reason": u["reason"]}
            for u in template["uncertain_answers"]
            if u["answer"] in letters
        ],
        "recommended_action": template["recommended_action"],
    }


def _relabelled_disagreements(template: dict[str, Any], relabel: Any) -> list[Any]:
    disagreements = []
    for disagreement in template["disagreements"]:
        positions = [
            {"answers": relabel(p["answers"]), "view": p["view"]}
            for p in disagreement["positions"]
        ]
        positions = [p for p in positions if p["answers"]]
        if len(positions) >= 2:  # one position left is no disagreement
            disagreements.append({"topic": disagreement["topic"], "positions": positions})
    return disagreements


def unscripted_synthesis(labels: list[str]) -> dict[str, Any]:
    """The synthesis of stand-in answers to a question with no script."""
    return {
        "verdict_groups": [{"verdict": NO_SCRIPT_VERDICT, "answers": list(labels)}]
        if labels
        else [],
        "agreement": [
            "Every answer says it comes from a local stand-in model with no "
            "script for this question and makes no recommendation."
        ],
        "disagreements": [],
        "unique_insights": [],
        "uncertain_answers": [
            {
                "answer": label,
                "reason": "The local stand-in has no script for this question, "
                "so it could not judge it.",
            }
            for label in labels
        ],
        "recommended_action": "Ask real models: set OPENAI_API_KEY, "
        "ANTHROPIC_API_KEY or GEMINI_API_KEY and ask again. The offline "
        "stand-in only knows its scripted demo questions.",
    }
