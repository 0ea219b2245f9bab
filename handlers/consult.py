"""`/consult`: ack at once, then run the consult into a new thread."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.consult import ConsultRequest, ConsultResult
from bot.conversations import consult_in_thread
from bot.errors import QuorumError, ThreadUnavailable
from bot.slack.budget_texts import refusal_text
from bot.slack.text import unescape_slack
from bot.slack.writer import SlackThread
from handlers.budget import channel_budget_text
from handlers.commands import (
    BudgetRequest,
    ConsultCommand,
    parse_consult,
    reply_without_consult,
)
from handlers.context import Deps

logger = logging.getLogger(__name__)


def register(app: AsyncApp, deps: Deps) -> None:
    @app.command("/consult")
    async def consult_command(
        ack: AsyncAck,
        command: dict[str, Any],
        client: AsyncWebClient,
        respond: AsyncRespond,
    ) -> None:
        parsed = parse_consult(unescape_slack(command.get("text", "")))
        if isinstance(parsed, BudgetRequest):
            await ack()
            team, channel = command.get("team_id", ""), command["channel_id"]
            await _tell(respond, await channel_budget_text(deps, team, channel))
            return
        reply = reply_without_consult(parsed, deps.panel)
        if reply is not None or not isinstance(parsed, ConsultCommand):
            await ack(text=reply)
            return
        await ack()

        request = ConsultRequest(
            question=parsed.question,
            tier=parsed.tier or deps.panel.tiers.default,
            asker=command["user_id"],
            team=command.get("team_id", ""),
            channel=command["channel_id"],
            debate=parsed.debate,
        )
        thread = SlackThread(client, request.channel, schedulers=deps.schedulers)
        try:
            outcome = await consult_in_thread(
                request, deps.panel, thread, deps.store, ttl=deps.thread_ttl
            )
        except ThreadUnavailable as exc:
            logger.info("consult stopped: %s", exc.reason)
            if thread.root_ts is None:  # nothing was posted: tell the asker why
                await _tell(respond, f"I could not run that consult: {exc.reason}.")
            return
        except QuorumError as exc:
            logger.warning("consult failed: %s", exc)
            await _tell(respond, f"That consult could not finish: {exc}.")
            return
        finally:
            thread.stop()
        if not isinstance(outcome, ConsultResult):
            await _tell(respond, refusal_text(outcome, "run that consult"))


async def _tell(respond: AsyncRespond, text: str) -> None:
    await respond(text=text, response_type="ephemeral", replace_original=False)
