"""Three long answers and a synthesis into one channel, under Slack's limits.

The sandbox's Slack enforces rate limits (HTTP 429 with Retry-After); the
app's channel scheduler paces its posts and edits. For each pair of limits
this prints the Slack calls the consult made, the 429s it received, and the
seconds from each model's last token to its final text in Slack.

    .venv/bin/python bench/slack_limits.py [--chars 9000]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import time

import aiohttp

from bot.panel import Panel
from bot.sandbox.demo import SIGNING_SECRET, demo_panel, demo_stack
from bot.sandbox.model_server import Behavior, Pace
from bot.sandbox.rate_limits import SLACK_LIMITS, Limit, Limits
from bot.sandbox.scripts import DEEP, DEMO_BOOK, STEADY, SWIFT, SYNTHESIS_MODEL
from bot.sandbox.slack_api import SlackSandbox
from bot.sandbox.slack_client import send_slash_command
from bot.sandbox.stress import consult_figures, long_answer, unanimous_synthesis
from bot.slack.rate_limits import SlackLimits
from bot.slack.writer import DONE_EVENT

QUESTION = DEMO_BOOK["sessions"].question
LABELS = {
    SWIFT: "Swift (scripted)",
    STEADY: "Steady (scripted)",
    DEEP: "Deep (scripted)",
}
TIGHT: Limits = {
    "chat.postMessage": Limit(2, 1.0, per_channel=True),
    "chat.update": Limit(4, 2.0),
}
CASES: list[tuple[str, Limits, SlackLimits]] = [
    ("Slack's documented limits, default scheduler", SLACK_LIMITS, SlackLimits()),
    (
        "tight limits, scheduler keeps to them",
        TIGHT,
        SlackLimits(
            posts_per_s=1.8,
            post_burst=1,
            updates_per_min=108,
            update_burst=1,
            final_reserve=0,
        ),
    ),
    (
        "tight limits, scheduler 10x too optimistic",
        TIGHT,
        SlackLimits(
            posts_per_s=10, post_burst=10, updates_per_min=1200, update_burst=20
        ),
    ),
]


def roomy(api_base: str) -> Panel:
    panel = demo_panel(api_base)
    models = {
        alias: spec.model_copy(update={"max_tokens": 8000})
        for alias, spec in panel.models.items()
    }
    return panel.model_copy(update={"models": models})


async def one_case(limits: Limits, scheduler: SlackLimits, chars: int) -> list[str]:
    behaviors = {
        model: Behavior(Pace(0.1, tokens_per_s), reply=long_answer(label, chars))
        for (model, label), tokens_per_s in zip(
            LABELS.items(), (700, 600, 500), strict=True
        )
    }
    behaviors[SYNTHESIS_MODEL] = Behavior(
        Pace(0.05, 4000), reply=unanimous_synthesis("ABC")
    )
    async with (
        demo_stack(
            behaviors=behaviors,
            slack=SlackSandbox(rate_limits=limits),
            panel_for=roomy,
            slack_limits=scheduler,
        ) as stack,
        aiohttp.ClientSession() as session,
    ):
        started = time.monotonic()
        await send_slash_command(
            session,
            stack.app_url,
            SIGNING_SECRET,
            text=f"full {QUESTION}",
            response_url=stack.slack.new_response_url(),
        )
        await stack.slack.wait_for_message(
            lambda m: bool(m.metadata) and m.metadata.get("event_type") == DONE_EVENT,
            300,
        )
        wall = time.monotonic() - started
        figures = consult_figures(stack.slack, stack.models, LABELS, SYNTHESIS_MODEL)
    return [*figures.lines(), f"consult wall time: {wall:.2f} s"]


async def main(chars: int) -> None:
    print(f"three answers of {chars:,} characters each, one channel\n")
    for title, limits, scheduler in CASES:
        print(title)
        for line in await one_case(limits, scheduler, chars):
            print(f"  {line}")
        print()


if __name__ == "__main__":
    # The stack stops as soon as the thread is done, while the app may still be
    # saving the thread to Redis; that teardown warning is not a figure.
    logging.basicConfig(level=logging.ERROR)
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chars", type=int, default=9000, help="length of each answer")
    asyncio.run(main(parser.parse_args().chars))
