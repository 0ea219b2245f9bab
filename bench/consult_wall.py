"""How close a full consult comes to its lower bound.

A consult cannot finish before its slowest model has answered and the
synthesis has been written. This script measures, in one run on loopback:

- each panel model alone and the synthesis alone, through litellm (the lower
  bound is the slowest model plus the synthesis);
- whole consults through the real app: signed /consult in, synthesis posted;

and prints the ratio of the two (target: <= 1.10), with the ack latency, the
time to first visible text, and Slack calls per consult.

    .venv/bin/python bench/consult_wall.py [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import aiohttp

from bot.fanout import AnswerFinished, ModelRequest, ask_panel
from bot.prompts import panelist_messages
from bot.sandbox.demo import SIGNING_SECRET, DemoStack, demo_stack
from bot.sandbox.scripts import DEMO_BOOK
from bot.sandbox.slack_client import send_slash_command
from bot.slack.writer import DONE_EVENT
from bot.synthesis import synthesize

QUESTION = DEMO_BOOK["sessions"].question


async def solo_latencies(stack: DemoStack) -> tuple[dict[str, float], float]:
    """Each panel model asked alone, then the synthesis alone, in seconds."""
    panel = stack.panel
    answers: list[AnswerFinished] = []
    latencies: dict[str, float] = {}
    for spec in panel.tier("full"):
        request = ModelRequest(spec, panelist_messages(QUESTION))
        async for event in ask_panel([request]):
            if isinstance(event, AnswerFinished):
                answers.append(event)
                latencies[spec.label] = event.latency_s
    started = time.monotonic()
    await synthesize(QUESTION, answers, panel.synthesis_models)
    return latencies, time.monotonic() - started


async def one_consult(stack: DemoStack, session: aiohttp.ClientSession) -> dict:
    calls_before = len(stack.slack.calls)
    started = time.monotonic()
    reply = await send_slash_command(
        session,
        stack.app_url,
        SIGNING_SECRET,
        text=f"full {QUESTION}",
        response_url=stack.slack.new_response_url(),
    )
    first_text = await stack.slack.wait_for(
        lambda s: next(
            (c.at for c in s.calls[calls_before:] if "thread_ts" in c.args), None
        ),
        120,
    )
    await stack.slack.wait_for(
        lambda s: any(
            c.args.get("metadata", {}).get("event_type") == DONE_EVENT
            for c in s.calls[calls_before:]
        ),
        120,
    )
    finished = time.monotonic()
    return {
        "wall": finished - started,
        "ack": reply.elapsed_s,
        "first_text": first_text - started,
        "calls": len(stack.slack.calls) - calls_before,
    }


async def main(runs: int) -> None:
    async with demo_stack() as stack, aiohttp.ClientSession() as session:
        solo, synthesis_s = await solo_latencies(stack)
        lower_bound = max(solo.values()) + synthesis_s
        consults = [await one_consult(stack, session) for _ in range(runs)]
    ttft = min(b.pace.ttft_s for b in _panel_behaviors())

    def median(key: str) -> float:
        return statistics.median(c[key] for c in consults)

    print(f"question: {QUESTION}")
    print("solo latencies: " + ", ".join(f"{k} {v:.2f} s" for k, v in solo.items()))
    print(f"synthesis alone: {synthesis_s:.2f} s")
    print(f"lower bound (slowest model + synthesis): {lower_bound:.2f} s")
    print(
        f"consult wall time, median of {runs}: {median('wall'):.2f} s "
        f"(min {min(c['wall'] for c in consults):.2f}, "
        f"max {max(c['wall'] for c in consults):.2f})"
    )
    print(f"wall / lower bound: {median('wall') / lower_bound:.3f} (target <= 1.10)")
    print(f"slash command ack, median: {median('ack') * 1000:.0f} ms")
    print(
        f"first visible text: {median('first_text'):.2f} s after /consult "
        f"(fastest model's scripted time to first token: {ttft:.2f} s)"
    )
    print(f"Slack Web API calls per consult: {median('calls'):.0f}")


def _panel_behaviors():
    from bot.sandbox.scripts import DEMO_BEHAVIORS, PANEL_MODELS

    return [DEMO_BEHAVIORS[name] for name in PANEL_MODELS]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="consults to time")
    asyncio.run(main(parser.parse_args().runs))
