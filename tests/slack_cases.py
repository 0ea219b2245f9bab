"""Shared pieces of the end-to-end tests of Slack's limits and failing models:
panels built on the model server's address, signed /consult, finished threads
and a log watcher that can be awaited."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import aiohttp
from slackkit import block_text

from bot.panel import ConsultLimits, Panel
from bot.sandbox.demo import SIGNING_SECRET, DemoStack, demo_panel
from bot.sandbox.scripts import DEMO_BOOK
from bot.sandbox.slack_api import SandboxMessage
from bot.sandbox.slack_client import SlackReply, send_slash_command
from bot.slack.rate_limits import SlackLimits
from bot.slack.writer import DONE_EVENT

__all__ = ["block_text"]  # shared with the other end-to-end tests, from slackkit

SESSIONS = DEMO_BOOK["sessions"]
# For tests whose subject is not pacing: the app writes as fast as it likes.
UNPACED = SlackLimits(
    posts_per_s=100, post_burst=50, updates_per_min=6000, update_burst=50
)
CHANNEL = "C0DEMO"
LABELS = {
    "quorum-swift": "Swift (scripted)",
    "quorum-steady": "Steady (scripted)",
    "quorum-deep": "Deep (scripted)",
}


def roomy_panel(
    max_tokens: int = 8000,
    consult: ConsultLimits | None = None,
    **per_model: dict[str, Any],
) -> Callable[[str], Panel]:
    """The demo panel with room for long answers; `per_model` overrides fields
    of one model by alias, e.g. `deep={"idle_timeout_s": 1}`."""

    def build(api_base: str) -> Panel:
        panel = demo_panel(api_base)
        models = {
            alias: spec.model_copy(
                update={"max_tokens": max_tokens, **per_model.get(alias, {})}
            )
            for alias, spec in panel.models.items()
        }
        update: dict[str, Any] = {"models": models}
        if consult is not None:
            update["consult"] = consult
        return panel.model_copy(update=update)

    return build


async def slash_consult(
    stack: DemoStack,
    text: str,
    *,
    secret: str = SIGNING_SECRET,
    timestamp: int | None = None,
) -> SlackReply:
    async with aiohttp.ClientSession() as session:
        return await send_slash_command(
            session,
            stack.app_url,
            secret,
            text=text,
            channel_id=CHANNEL,
            response_url=stack.slack.new_response_url(),
            timestamp=timestamp,
        )


async def finished_thread(stack: DemoStack, timeout: float) -> list[SandboxMessage]:
    root = await stack.slack.wait_for_message(
        lambda m: bool(m.metadata) and m.metadata.get("event_type") == DONE_EVENT,
        timeout,
        what="the consult to finish",
    )
    return stack.slack.thread(root.channel, root.ts)


def status_of(message: SandboxMessage) -> str:
    """The context line heading an answer message."""
    return message.blocks[0]["elements"][0]["text"]


class LogWatch(logging.Handler):
    """Keeps every log record; `wait_for` awaits one that matches."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self._arrived = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        self._arrived.set()

    async def wait_for(self, text: str, timeout: float) -> logging.LogRecord:
        async with asyncio.timeout(timeout):
            while True:
                found = [r for r in self.records if text in r.getMessage()]
                if found:
                    return found[0]
                self._arrived.clear()
                await self._arrived.wait()

    def text(self) -> str:
        """Every record as a handler would print it, tracebacks included."""
        formatter = logging.Formatter("%(levelname)s %(name)s %(message)s")
        return "\n".join(formatter.format(record) for record in self.records)


@contextmanager
def watching_logs(level: int = logging.INFO) -> Iterator[LogWatch]:
    """Every record at `level` or above, from every logger, while inside."""
    watch = LogWatch()
    root = logging.getLogger()
    previous = root.level
    root.addHandler(watch)
    if previous == logging.NOTSET or previous > level:
        root.setLevel(level)
    watch.setLevel(level)
    try:
        yield watch
    finally:
        root.removeHandler(watch)
        root.setLevel(previous)
