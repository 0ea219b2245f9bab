"""`/consult`: ack at once, then run the consult into a new thread."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.consult import ConsultRequest
from bot.conversations import Refused, consult_in_thread
from bot.errors import QuorumError, ThreadUnavailable
from bot.slack.text import unescape_slack
from bot.slack.writer import SlackThread
from handlers.commands import ConsultCommand, parse_consult, reply_without_consult
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
        if isinstance(outcome, Refused):
            await _tell(respond, f"I did not run that consult: {outcome.reason}.")


async def _tell(respond: AsyncRespond, text: str) -> None:
    await respond(text=text, response_type="ephemeral", replace_original=False)
