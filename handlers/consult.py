"""`/consult`: ack at once, then run the consult into a new thread."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot.consult import ConsultRequest, run_consult
from bot.errors import ThreadUnavailable
from bot.panel import Panel
from bot.slack.blocks import USAGE
from bot.slack.scheduler import ChannelSchedulers
from bot.slack.text import unescape_slack
from bot.slack.writer import SlackThread
from handlers.commands import CommandProblem, parse_consult

logger = logging.getLogger(__name__)


def register(
    app: AsyncApp, panel: Panel, schedulers: ChannelSchedulers | None = None
) -> None:
    """Listen for `/consult`; pass the app's schedulers so channels are shared."""
    schedulers = schedulers or ChannelSchedulers()

    @app.command("/consult")
    async def consult_command(
        ack: AsyncAck,
        command: dict[str, Any],
        client: AsyncWebClient,
        respond: AsyncRespond,
    ) -> None:
        parsed = parse_consult(unescape_slack(command.get("text", "")))
        if parsed is None:
            await ack(text=USAGE)
            return
        if isinstance(parsed, CommandProblem):
            await ack(text=parsed.message)
            return
        await ack()

        request = ConsultRequest(
            question=parsed.question,
            tier=parsed.tier or panel.tiers.default,
            asker=command["user_id"],
            team=command.get("team_id", ""),
            channel=command["channel_id"],
        )
        thread = SlackThread(client, request.channel, schedulers=schedulers)
        try:
            await run_consult(request, panel, thread)
        except ThreadUnavailable as exc:
            logger.info("consult stopped: %s", exc.reason)
            if thread.root_ts is None:  # nothing was posted: tell the asker why
                await respond(
                    text=f"I could not run that consult: {exc.reason}.",
                    response_type="ephemeral",
                )
        finally:
            thread.stop()
