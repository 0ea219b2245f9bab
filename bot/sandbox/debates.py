"""Scripted debates for the local model server: one answer per stance.

A debater's stance is read from the stance system prompt it receives, so the
same stand-in model argues whichever side the panel file gives it. The
synthesis template names stances where the synthesis model would put answer
letters; `relabelled_debate` rewrites it with the letters the real debate
synthesis prompt used.
"""

# The answers below are Markdown whose paragraphs are single lines, as a model
# sends them; wrapping them to 88 columns would change the text.
# ruff: noqa: E501

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from bot.panel import STANCES, Stance

_DEBATE_BLOCK = re.compile(
    r'<answer label="([^"]+)" stance="([^"]+)">\n(.*?)\n</answer>', re.DOTALL
)


@dataclass(frozen=True)
class DebateScript:
    """One scripted proposal: the answer per stance and the debate synthesis.

    `synthesis` has the shape `DEBATE_SYNTHESIS_SYSTEM` asks for, with stance
    names where the synthesis model would put answer letters.
    """

    key: str
    question: str
    keywords: tuple[str, ...]
    answers: dict[Stance, str]
    synthesis: dict[str, Any]

    def __post_init__(self) -> None:
        if not set(self.answers) <= set(STANCES):
            raise ValueError(f"debate {self.key!r}: unknown stances {self.answers}")
        sided = sorted(side["answer"] for side in self.synthesis["sides"])
        if sided != sorted(self.answers):
            raise ValueError(f"debate {self.key!r}: every stance needs one side")
        if not self.matches(self.question):
            raise ValueError(f"debate {self.key!r}: its keywords miss its question")

    def matches(self, text: str) -> bool:
        lowered = text.lower()
        return all(keyword.lower() in lowered for keyword in self.keywords)


def debate_blocks(user_message: str) -> list[tuple[str, Stance]]:
    """(letter, stance) of each answer in a debate synthesis prompt, in order."""
    return [
        (label, stance)  # type: ignore[misc]
        for label, stance, _ in _DEBATE_BLOCK.findall(user_message)
    ]


def relabelled_debate(
    script: DebateScript, blocks: list[tuple[str, Stance]]
) -> dict[str, Any]:
    """`script.synthesis` with stance names replaced by the blocks' letters.

    A stance with no answer in the prompt (its model failed) vanishes.
    """
    letter = {stance: label for label, stance in blocks}
    template = script.synthesis

    def present(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            {**item, "answer": letter[item["answer"]]}
            for item in items
            if item["answer"] in letter
        ]

    return {
        **template,
        "sides": present(template["sides"]),
        "fatal_flaws": present(template["fatal_flaws"]),
        "concessions": present(template["concessions"]),
        "uncertain_answers": present(template["uncertain_answers"]),
    }


def unscripted_debate(blocks: list[tuple[str, Stance]]) -> dict[str, Any]:
    """The debate synthesis of stand-in answers to a proposal with no script."""
    nothing = (
        "No condition can be given: the local stand-in has no script for this proposal."
    )
    return {
        "sides": [
            {
                "answer": label,
                "stance": stance,
                "case": "It makes no case: it is a stand-in with no script.",
            }
            for label, stance in blocks
        ],
        "worth_it_if": [nothing],
        "avoid_if": [nothing],
        "middle_path": "",
        "fatal_flaws": [],
        "concessions": [],
        "uncertain_answers": [
            {
                "answer": label,
                "reason": "The local stand-in has no script for this proposal.",
            }
            for label, _ in blocks
        ],
        "recommended_action": "Ask real models: set OPENAI_API_KEY, "
        "ANTHROPIC_API_KEY or GEMINI_API_KEY and start the debate again.",
    }


# Migration: the article's stance example.

_MIGRATION_FOR = """\
**Verdict: yes, migrate, incrementally, if several teams queue behind one release train. That is where microservices pay for themselves.**

What you gain:
- **Independent deploys.** Each team ships its service on its own schedule; a billing fix no longer waits for the search team's release.
- **Independent scaling.** The hot path, such as checkout or search, scales on its own instead of scaling the whole application.
- **Fault isolation.** A memory leak in the report generator takes down one service, not the storefront.
- **Clear ownership.** A service with its own repository, data store and on-call rota has an owner nobody has to guess.

How to get there: the strangler-fig pattern. Put a routing layer in front of the monolith, extract one bounded context at a time, starting with the one whose load or release cadence differs most, and give each extracted service its own database from day one.

Fatal flaws to check before starting, because either one sinks the migration:
- **No clear domain boundaries.** If modules share tables and change together, you will build a distributed monolith: every change needs coordinated deploys across services, which is worse than what you have now.
- **No operational baseline.** Without central logging, distributed tracing and a pipeline per service, you cannot debug or ship what you split.

If either holds today, fix it first; the case for migrating does not survive it."""

_MIGRATION_AGAINST = """\
**Verdict: don't migrate now. For most teams the distributed-systems tax outweighs the gains, and a modular monolith gets most of the benefit for a fraction of the cost.**

What microservices cost, every day rather than once:
- **Network failure modes.** A function call becomes a remote call that can time out, be retried and arrive twice. Every call site needs timeouts, backoff and idempotency.
- **Data consistency.** A transaction that spans two services becomes a saga with compensating steps, and a report that joined three tables now calls three APIs.
- **Operations.** Ten services means ten pipelines, ten dashboards and ten sets of alerts, plus tracing to follow one request across them.
- **Local development.** Running the system on a laptop turns into a compose file with a dozen containers.

The cheaper alternative: enforce module boundaries inside the monolith (separate packages, no shared tables, an architecture test in CI), speed up the build and deploy pipeline, and scale the monolith horizontally behind a load balancer.

Where I concede: with more than about 20 to 30 engineers in several teams that genuinely block each other's releases, or one component whose load differs by an order of magnitude from the rest, extracting that one service is justified. Extract it; do not migrate everything."""

_MIGRATION_NEUTRAL = """\
**Verdict: it turns on team size and domain boundaries. For a product team of under about 20 engineers the evidence favours a modular monolith now, with selective extraction later.**

The case for rests on organisational scale: independent deployment and ownership matter when many engineers share one codebase and one release. The case against rests on cost: distributed transactions, network failures and operational overhead arrive on day one, whatever your size.

| Question | Points to microservices | Points to the monolith |
|---|---|---|
| How many engineers, in how many teams? | 20+ in several teams | one or two teams |
| Can you name bounded contexts that own their data? | yes, with few cross-calls | shared tables, tangled modules |
| Does one part need very different scaling? | yes, by an order of magnitude | load is even |
| Are tracing, per-service CI and on-call in place? | yes | not yet |

If most answers fall in the middle column, migrate incrementally with the strangler-fig pattern. If most fall in the right one, invest in module boundaries and the pipeline instead. Between the two, a hybrid often wins: extract the two or three services with the clearest boundaries and the most distinct load, keep the rest as a monolith, and measure lead time for changes before extracting more.

This is not an even split. The costs are certain and immediate, while the benefits depend on conditions many teams do not meet, so the burden of proof sits with migrating."""

MIGRATION = DebateScript(
    key="migration",
    question="Should we migrate our monolith to microservices?",
    keywords=("monolith", "microservice"),
    answers={
        "for": _MIGRATION_FOR,
        "against": _MIGRATION_AGAINST,
        "neutral": _MIGRATION_NEUTRAL,
    },
    synthesis={
        "sides": [
            {
                "answer": "for",
                "stance": "for",
                "case": "Migrate incrementally when several teams block each other's releases; independent deploys, scaling and fault isolation repay the cost.",
            },
            {
                "answer": "against",
                "stance": "against",
                "case": "Not now: network failures, sagas and per-service operations are a daily tax, and a modular monolith gets most of the benefit.",
            },
            {
                "answer": "neutral",
                "stance": "neutral",
                "case": "It turns on team size and domain boundaries, and leans against migrating for teams under about 20 engineers, because the costs are certain and the benefits conditional.",
            },
        ],
        "worth_it_if": [
            "More than about 20 engineers work in several teams that block each other's releases.",
            "You can name bounded contexts that own their data and rarely change together.",
            "One component needs scaling an order of magnitude different from the rest.",
            "Central logging, distributed tracing and a pipeline per service are already in place.",
        ],
        "avoid_if": [
            "One or two teams work on the codebase.",
            "Modules share tables or change together, so services would form a distributed monolith.",
            "There is no tracing, per-service pipeline or on-call rota yet.",
        ],
        "middle_path": "Make the monolith modular now; then extract the two or three services with the clearest boundaries and the most distinct load with the strangler-fig pattern, and measure lead time for changes before extracting more.",
        "fatal_flaws": [
            {
                "answer": "for",
                "flaw": "Without clear domain boundaries the migration builds a distributed monolith that needs coordinated deploys, which is worse than today.",
            },
            {
                "answer": "for",
                "flaw": "Without central logging, tracing and per-service pipelines, the split services cannot be debugged or shipped.",
            },
        ],
        "concessions": [
            {
                "answer": "against",
                "point": "With more than about 20 to 30 engineers blocking each other, or one component with very different load, extracting that one service is justified.",
            },
            {
                "answer": "for",
                "point": "If domain boundaries or the operational baseline are missing, the case for migrating does not survive until they are fixed.",
            },
        ],
        "uncertain_answers": [],
        "recommended_action": "Count the engineers and teams who ship this codebase, list the bounded contexts you can name with their own data, and check whether tracing and per-service pipelines exist. If several teams block each other and the boundaries are clear, extract the first service with the strangler-fig pattern; otherwise make the monolith modular first.",
    },
)

DEMO_DEBATES = (MIGRATION,)
