"""The escalation reaction on a consult thread: ask the full panel, once."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.consult import ConsultResult, Refused
from bot.conversations import escalate
from bot.errors import QuorumError, ThreadUnavailable
from bot.slack.budget_texts import refusal_text
from bot.slack.writer import SlackThread
from bot.store import ThreadRef
from handlers.context import Deps

logger = logging.getLogger(__name__)


def register(app: AsyncApp, deps: Deps) -> None:
    @app.event("reaction_added")
    async def on_reaction(
        event: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
    ) -> None:
        item = event.get("item", {})
        if event.get("reaction") != deps.panel.escalation.reaction:
            return
        if item.get("type") != "message":
            return
        channel, ts = item["channel"], item["ts"]
        thread_ts = await _thread_of(client, channel, ts)
        if thread_ts is None:
            return
        team = context.team_id or event.get("team", "")
        ref = ThreadRef(team=team, channel=channel, thread_ts=thread_ts)
        thread = SlackThread(
            client, channel, thread_ts=thread_ts, schedulers=deps.schedulers
        )
        try:
            outcome = await escalate(
                ref, event["user"], deps.panel, thread, deps.store, ttl=deps.thread_ttl
            )
        except ThreadUnavailable as exc:
            logger.info("escalation stopped: %s", exc.reason)
            return
        except QuorumError as exc:
            logger.warning("escalation failed: %s", exc)
            outcome = Refused(str(exc))
        finally:
            thread.stop()
        if outcome is not None and not isinstance(outcome, ConsultResult):
            await client.chat_postEphemeral(
                channel=channel,
                user=event["user"],
                thread_ts=thread_ts,
                text=refusal_text(outcome, "escalate"),
            )


async def _thread_of(client: AsyncWebClient, channel: str, ts: str) -> str | None:
    """The root ts of the thread holding message `ts` (itself if it is a root)."""
    try:
        response = await client.conversations_replies(channel=channel, ts=ts, limit=1)
    except SlackApiError as exc:
        logger.info("cannot read reacted message error=%s", exc.response.get("error"))
        return None
    messages = response.get("messages") or []
    if not messages:
        return None
    return messages[0].get("thread_ts") or messages[0].get("ts")
