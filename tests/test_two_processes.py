"""Two real app processes behind one Redis: dedupe, memory and escalation are
shared, as they must be when HTTP mode runs several processes."""

import asyncio
import os
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import pytest_asyncio
from slackkit import (
    CHANNEL,
    FAST,
    consults_done,
    deliver,
    deliver_to_both,
    mention,
    reaction,
)

from bot.panel import parse_panel
from bot.sandbox.demo import BOT_TOKEN, SIGNING_SECRET, DemoStack
from bot.sandbox.model_server import ModelServer
from bot.sandbox.scripts import DEEP, DEMO_BOOK, STEADY, SWIFT
from bot.sandbox.slack_api import SlackSandbox

ROOT = Path(__file__).resolve().parent.parent
READY_LINE = "listening for Slack on"
START_TIMEOUT_S = 60
SESSIONS = DEMO_BOOK["sessions"]


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class AppProcess:
    process: subprocess.Popen
    url: str
    log: list[str]


@contextmanager
def app_process(env: dict[str, str]) -> Iterator[AppProcess]:
    """`python -m bot serve --http` on a free port, until it says it listens."""
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "serve", "--http", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    ready = threading.Event()
    log: list[str] = []

    def read() -> None:
        for line in process.stdout:
            log.append(line)
            if READY_LINE in line:
                ready.set()
        ready.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        if not ready.wait(START_TIMEOUT_S) or process.poll() is not None:
            raise RuntimeError("the app did not start:\n" + "".join(log[-20:]))
        yield AppProcess(process, f"http://127.0.0.1:{port}/slack/events", log)
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest_asyncio.fixture
async def two_processes(redis_url: str, tmp_path: Path) -> AsyncIterator[DemoStack]:
    async with (
        SlackSandbox(token=BOT_TOKEN) as slack,
        ModelServer(DEMO_BOOK, FAST) as models,
    ):
        template = (
            resources.files("bot.sandbox").joinpath("demo_panel.toml").read_text()
        )
        panel_file = tmp_path / "quorum.toml"
        panel_file.write_text(template.replace("{api_base}", models.base_url))
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("SLACK_")},
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": slack.api_url,
            "REDIS_URL": redis_url,
            "QUORUM_CONFIG": str(panel_file),
        }
        with app_process(env) as first, app_process(env) as second:
            panel = parse_panel(panel_file.read_text(), source="test")
            yield DemoStack(slack, models, [first.url, second.url], panel)


async def test_two_processes_share_dedupe_memory_and_escalation(two_processes):
    stack = two_processes
    asked = stack.slack.post_user_message(CHANNEL, f"<@UQUORUM> {SESSIONS.question}")
    event = mention(f"dual {SESSIONS.question}", asked.ts)

    # the same delivery reaches both processes, and one of them twice
    await deliver_to_both(stack, event)
    await consults_done(stack, 1)
    assert stack.models.request_count() == 3  # two panelists and the synthesis

    # a follow-up through the other process sees the first one's memory
    follow = stack.slack.post_user_message(
        CHANNEL, "<@UQUORUM> dual And for carts?", thread_ts=asked.ts
    )
    await deliver(
        stack, mention("dual And for carts?", follow.ts, thread_ts=asked.ts), app=1
    )
    await consults_done(stack, 2)
    prompts = [r for r in stack.models.requests if r.model == SWIFT]
    followup = "\n".join(m["content"] for m in prompts[-1].messages)
    assert SESSIONS.answers[SWIFT].strip()[:200] in followup

    # both processes get the escalation reaction: one full-tier run
    await asyncio.gather(
        deliver(stack, reaction(asked.ts, user="U0ONE"), app=0),
        deliver(stack, reaction(asked.ts, user="U0TWO"), app=1),
    )
    await consults_done(stack, 3)
    assert stack.models.request_count(DEEP) == 1
    assert stack.models.request_count(STEADY) == 2  # the consult and the follow-up
