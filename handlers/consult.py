"""`/consult`: ack at once, then run the consult into a new thread."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.consult import ConsultRequest, run_consult
from bot.errors import ThreadUnavailable
from bot.panel import Panel
from bot.slack.blocks import HELP, NO_DEBATE, USAGE
from bot.slack.writer import SlackThread
from handlers.commands import CommandProblem, HelpRequest, parse_consult

logger = logging.getLogger(__name__)


def register(app: AsyncApp, panel: Panel) -> None:
    @app.command("/consult")
    async def consult_command(
        ack: AsyncAck,
        command: dict[str, Any],
        client: AsyncWebClient,
        respond: AsyncRespond,
    ) -> None:
        parsed = parse_consult(command.get("text", ""))
        if parsed is None or isinstance(parsed, HelpRequest | CommandProblem):
            await ack(text=_reply_without_consult(parsed))
            return
        if parsed.debate and not panel.stances():
            await ack(text=NO_DEBATE)
            return
        await ack()

        request = ConsultRequest(
            question=parsed.question,
            tier=parsed.tier or panel.tiers.default,
            asker=command["user_id"],
            team=command.get("team_id", ""),
            channel=command["channel_id"],
            debate=parsed.debate,
        )
        thread = SlackThread(client, request.channel)
        try:
            await run_consult(request, panel, thread)
        except ThreadUnavailable as exc:
            logger.info("consult stopped: %s", exc.reason)
            if thread.root_ts is None:  # nothing was posted: tell the asker why
                await respond(
                    text=f"I could not run that consult: {exc.reason}.",
                    response_type="ephemeral",
                )


def _reply_without_consult(parsed: HelpRequest | CommandProblem | None) -> str:
    """The ephemeral reply to input that starts no consult."""
    if isinstance(parsed, HelpRequest):
        return HELP
    if isinstance(parsed, CommandProblem):
        return parsed.message
    return USAGE
