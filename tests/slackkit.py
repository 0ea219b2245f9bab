"""Helpers for tests that drive the real app through the sandbox Slack."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import aiohttp

from bot.sandbox.demo import SIGNING_SECRET, DemoStack
from bot.sandbox.model_server import Behavior, Pace
from bot.sandbox.scripts import DEEP, STEADY, SWIFT, SYNTHESIS_MODEL
from bot.sandbox.slack_api import SandboxMessage
from bot.sandbox.slack_client import SlackReply, send_event, send_slash_command
from bot.slack.writer import DONE_EVENT

CHANNEL = "C0DEMO"
TEAM = "T0DEMO"
TIMEOUT = 30
# Deep takes about three times as long as Swift over the same answer.
FAST = {
    SWIFT: Behavior(Pace(0.05, 500)),
    STEADY: Behavior(Pace(0.1, 400)),
    DEEP: Behavior(Pace(0.3, 140)),
    SYNTHESIS_MODEL: Behavior(Pace(0.05, 2000)),
}


async def consult(
    stack: DemoStack,
    text: str,
    *,
    channel: str = CHANNEL,
    secret: str = SIGNING_SECRET,
    team: str = TEAM,
) -> SlackReply:
    async with aiohttp.ClientSession() as session:
        return await send_slash_command(
            session,
            stack.app_url,
            secret,
            text=text,
            channel_id=channel,
            team_id=team,
            response_url=stack.slack.new_response_url(),
        )


async def deliver(
    stack: DemoStack,
    event: dict[str, Any],
    *,
    event_id: str | None = None,
    app: int = 0,
    retry_num: int | None = None,
    team: str = TEAM,
) -> SlackReply:
    async with aiohttp.ClientSession() as session:
        return await send_event(
            session,
            stack.app_urls[app],
            SIGNING_SECRET,
            event,
            event_id=event_id or new_event_id(),
            team_id=team,
            retry_num=retry_num,
        )


async def deliver_to_both(stack: DemoStack, event: dict[str, Any]) -> None:
    """One delivery sent to two app instances at once, and a retry to the second."""
    event_id = new_event_id()
    await asyncio.gather(
        deliver(stack, event, event_id=event_id, app=0),
        deliver(stack, event, event_id=event_id, app=1),
        deliver(stack, event, event_id=event_id, app=1, retry_num=1),
    )


def new_event_id() -> str:
    return f"Ev{uuid.uuid4().hex[:16].upper()}"


def is_done(message: SandboxMessage) -> bool:
    return bool(message.metadata) and message.metadata.get("event_type") == DONE_EVENT


async def consults_done(stack: DemoStack, count: int) -> list[SandboxMessage]:
    """Wait until `count` consults have finished; their question messages."""
    return await stack.slack.wait_for(
        lambda s: (
            done if len(done := [m for m in _all(s) if is_done(m)]) >= count else None
        ),
        TIMEOUT,
        what=f"{count} consult(s) to finish",
    )


async def finished_thread(stack: DemoStack) -> list[SandboxMessage]:
    root = (await consults_done(stack, 1))[0]
    return stack.slack.thread(root.channel, root.thread_ts or root.ts)


def _all(slack) -> list[SandboxMessage]:
    return [m for m in slack.messages(CHANNEL) if not m.deleted]


def block_text(message: SandboxMessage) -> str:
    parts = []
    for block in message.blocks or []:
        if "text" in block:
            text = block["text"]
            parts.append(text if isinstance(text, str) else text["text"])
        for element in block.get("elements", []):
            parts.append(element.get("text", ""))
    return "\n".join(parts)


def answer_of(thread: list[SandboxMessage], label: str) -> SandboxMessage:
    return next(m for m in thread if m.text.startswith(f"{label}: "))


def markdown_of(message: SandboxMessage) -> str:
    return "".join(b["text"] for b in message.blocks if b["type"] == "markdown")


def mention(text: str, ts: str, *, thread_ts: str | None = None, **extra: Any) -> dict:
    event = {
        "type": "app_mention",
        "user": "U0ASKER",
        "text": f"<@UQUORUM> {text}",
        "ts": ts,
        "channel": CHANNEL,
        "event_ts": ts,
        "team": "T0DEMO",
    }
    if thread_ts:
        event["thread_ts"] = thread_ts
    return {**event, **extra}


def reaction(ts: str, *, user: str, name: str = "scales") -> dict:
    return {
        "type": "reaction_added",
        "user": user,
        "reaction": name,
        "item": {"type": "message", "channel": CHANNEL, "ts": ts},
        "item_user": "UQUORUM",
        "event_ts": ts,
    }
