"""Quorum's speed, scale and memory, measured in one run; writes BENCHMARKS.md.

Everything runs on loopback in this process: the sandbox Slack, the scripted
model server at set speeds, and the real app in HTTP mode. Figures:

- a full consult's wall time against its lower bound (slowest model plus
  the synthesis, each measured alone), and against asking the models one
  after another (a sequential baseline, measured in the same run);
- time to first visible text in Slack against the fastest model's time to
  first token; Slack calls per consult;
- slash-command ack latency p50/p99 and event-loop lag p99 at 1, 10, 50 and
  100 concurrent consults, with the 429s Slack sent;
- peak memory, and memory per in-flight consult.

    .venv/bin/python bench/benchmarks.py [--out BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import resource
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from consult_wall import QUESTION, one_consult, solo_latencies

from bot.fanout import AnswerFinished, ModelRequest, ask_panel
from bot.prompts import panelist_messages
from bot.sandbox.demo import SIGNING_SECRET, DemoStack, demo_stack
from bot.sandbox.model_server import Behavior, Pace
from bot.sandbox.scripts import DEMO_BEHAVIORS, PANEL_MODELS, SYNTHESIS_MODEL
from bot.sandbox.slack_client import send_slash_command
from bot.slack.rate_limits import SlackLimits
from bot.slack.writer import DONE_EVENT
from bot.synthesis import synthesize

LEVELS = (1, 10, 50, 100)
# The load runs measure the app, not Slack: the app's own pacing is lifted
# (Slack would hold 100 streaming consults to about 50 edits a minute for the
# whole workspace; bench/slack_limits.py measures that side). Streaming edits
# stay at one a second per message.
UNPACED = SlackLimits(
    posts_per_s=1000, post_burst=1000, updates_per_min=60_000, update_burst=1000
)
# Faster models for the load runs, so 100 consults finish in seconds.
LOAD_BEHAVIORS = {
    **{name: Behavior(Pace(0.3, 300)) for name in PANEL_MODELS},
    SYNTHESIS_MODEL: Behavior(Pace(0.2, 2000)),
}


def rss_mb() -> float:
    """This process's resident memory now, in MB."""
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


async def sequential_consult(stack: DemoStack) -> float:
    """The same consult with the models asked one after another."""
    started = time.monotonic()
    answers: list[AnswerFinished] = []
    for spec in stack.panel.tier("full"):
        request = ModelRequest(spec, panelist_messages(QUESTION))
        async for event in ask_panel([request]):
            if isinstance(event, AnswerFinished):
                answers.append(event)
    await synthesize(QUESTION, answers, stack.panel.synthesis_models)
    return time.monotonic() - started


class LoopLag:
    """Samples how late the event loop wakes a 10 ms timer."""

    def __init__(self) -> None:
        self.lags: list[float] = []
        self._task: asyncio.Task | None = None

    async def _run(self) -> None:
        while True:
            before = time.monotonic()
            await asyncio.sleep(0.01)
            self.lags.append(time.monotonic() - before - 0.01)

    def __enter__(self) -> LoopLag:
        self._task = asyncio.create_task(self._run())
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()


async def load_level(stack: DemoStack, session: aiohttp.ClientSession, n: int) -> dict:
    """`n` consults at once: ack latencies, loop lag, memory, 429s."""
    done_before = _done_count(stack)
    limited_before = _rate_limited(stack)
    base = rss_mb()
    peak = base
    with LoopLag() as lag:
        started = time.monotonic()
        replies = await asyncio.gather(
            *(
                send_slash_command(
                    session,
                    stack.app_url,
                    SIGNING_SECRET,
                    text=f"full {QUESTION}",
                    response_url=stack.slack.new_response_url(),
                )
                for _ in range(n)
            )
        )
        while _done_count(stack) < done_before + n:
            seen = len(stack.slack.calls)
            await stack.slack.wait_for(
                lambda s, seen=seen: len(s.calls) > seen or None, 300
            )
            peak = max(peak, rss_mb())
        wall = time.monotonic() - started
    acks = [r.elapsed_s for r in replies]
    return {
        "n": n,
        "ack_p50_ms": percentile(acks, 0.5) * 1000,
        "ack_p99_ms": percentile(acks, 0.99) * 1000,
        "lag_p99_ms": percentile(lag.lags, 0.99) * 1000 if lag.lags else 0.0,
        "wall_s": wall,
        "rss_growth_mb": peak - base,
        "per_consult_mb": (peak - base) / n,
        "status": sorted({r.status for r in replies}),
        "rate_limited": _rate_limited(stack) - limited_before,
    }


def _done_count(stack: DemoStack) -> int:
    return sum(
        1
        for call in stack.slack.calls
        if (call.args.get("metadata") or {}).get("event_type") == DONE_EVENT
    )


def _rate_limited(stack: DemoStack) -> int:
    return sum(1 for call in stack.slack.calls if call.error == "ratelimited")


async def measure() -> dict:
    figures: dict = {}
    async with demo_stack() as stack, aiohttp.ClientSession() as session:
        solo, synthesis_s = await solo_latencies(stack)
        lower_bound = max(solo.values()) + synthesis_s
        consults = [await one_consult(stack, session) for _ in range(3)]
        sequential = await sequential_consult(stack)
    wall = statistics.median(c["wall"] for c in consults)
    figures.update(
        solo=solo,
        synthesis_s=synthesis_s,
        lower_bound=lower_bound,
        wall=wall,
        sequential=sequential,
        first_text=statistics.median(c["first_text"] for c in consults),
        ttft=min(DEMO_BEHAVIORS[name].pace.ttft_s for name in PANEL_MODELS),
        calls=statistics.median(c["calls"] for c in consults),
    )
    async with demo_stack(behaviors=LOAD_BEHAVIORS, slack_limits=UNPACED) as stack:
        async with aiohttp.ClientSession() as session:
            figures["levels"] = [await load_level(stack, session, n) for n in LEVELS]
    figures["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return figures


def report(figures: dict, command: str) -> str:
    solo = ", ".join(f"{k} {v:.2f} s" for k, v in figures["solo"].items())
    lines = [
        "# Benchmarks",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()}, "
        f"{os.cpu_count()} cores, Python {platform.python_version()}, with:",
        "",
        f"    {command}",
        "",
        "Everything runs in one process on loopback: the sandbox Slack, the "
        "scripted model server at set speeds, and the real app in HTTP mode. "
        "The load runs share that process's event loop with the stand-ins, so "
        "their latencies are an upper bound for the app alone.",
        "",
        "## One full consult (scripted speeds of `make demo`)",
        "",
        "| figure | value | target |",
        "|---|---|---|",
        f"| each model alone | {solo} | |",
        f"| synthesis alone | {figures['synthesis_s']:.2f} s | |",
        f"| lower bound (slowest + synthesis) | {figures['lower_bound']:.2f} s | |",
        f"| consult wall time (median of 3) | {figures['wall']:.2f} s | |",
        f"| wall / lower bound | {figures['wall'] / figures['lower_bound']:.3f} "
        "| ≤ 1.05 |",
        f"| sequential baseline (models one after another) | "
        f"{figures['sequential']:.2f} s | |",
        f"| sequential / parallel | {figures['sequential'] / figures['wall']:.2f}× | |",
        f"| first visible text after /consult | {figures['first_text']:.2f} s "
        f"| ≤ {figures['ttft']:.2f} + 1.0 s |",
        f"| Slack Web API calls per consult | {figures['calls']:.0f} | |",
        "",
        "## Concurrent consults (faster scripted models, Slack pacing lifted)",
        "",
        "| consults at once | ack p50 | ack p99 | loop lag p99 | all done in | "
        "429s from Slack | memory growth | per consult |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for level in figures["levels"]:
        lines.append(
            f"| {level['n']} | {level['ack_p50_ms']:.0f} ms | "
            f"{level['ack_p99_ms']:.0f} ms | {level['lag_p99_ms']:.0f} ms | "
            f"{level['wall_s']:.1f} s | {level['rate_limited']} | "
            f"{level['rss_growth_mb']:.1f} MB | {level['per_consult_mb']:.2f} MB |"
        )
    lines += [
        "",
        "Targets: ack p99 < 300 ms at 100 concurrent consults; under 2 MB per "
        "in-flight consult; no text lost to 429s.",
        "",
        f"Peak resident memory of the whole run: {figures['peak_rss_mb']:.0f} MB.",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("BENCHMARKS.md"))
    args = parser.parse_args()
    figures = asyncio.run(measure())
    text = report(figures, "python " + " ".join(sys.argv))
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
