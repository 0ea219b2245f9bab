"""@Quorum in a channel or a thread: a new consult, or a follow-up with memory."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot import memory
from bot.consult import ConsultRequest, ConsultResult, Refused
from bot.conversations import consult_in_thread
from bot.dedupe import claim_message
from bot.errors import QuorumError, ThreadUnavailable
from bot.slack.blocks import USAGE
from bot.slack.budget_texts import refusal_text
from bot.slack.incoming import DisplayNames, clean_text, read_transcript
from bot.slack.writer import SlackThread
from bot.store import ThreadRef
from handlers.budget import channel_budget_text
from handlers.commands import (
    BudgetRequest,
    ConsultCommand,
    parse_consult,
    reply_without_consult,
)
from handlers.context import Deps

logger = logging.getLogger(__name__)

# Message subtypes that are not a person asking something: edits, deletions,
# joins, bots. A plain message has no subtype.
IGNORED_SUBTYPES = {
    "message_changed",
    "message_deleted",
    "bot_message",
    "channel_join",
    "channel_leave",
    "thread_broadcast",
}


def register(app: AsyncApp, deps: Deps) -> None:
    @app.event("app_mention")
    async def on_mention(
        event: dict[str, Any], client: AsyncWebClient, context: AsyncBoltContext
    ) -> None:
        if event.get("bot_id") or event.get("subtype") in IGNORED_SUBTYPES:
            return
        team = context.team_id or event.get("team", "")
        channel, ts = event["channel"], event["ts"]
        if not await claim_message(deps.store, team, channel, ts):
            return  # the same message came as another event, or to another process
        names = DisplayNames(client)
        text = await clean_text(
            event.get("text", ""), names, bot_user=context.bot_user_id
        )
        await _answer(deps, client, context, event, team, text, names)

    @app.event("message")
    async def on_message() -> None:
        """Plain channel messages, edits, deletions and unfurls: nothing to do.

        Mentions arrive as `app_mention`; this listener only keeps bolt from
        warning about unhandled `message` events.
        """


async def _answer(
    deps: Deps,
    client: AsyncWebClient,
    context: AsyncBoltContext,
    event: dict[str, Any],
    team: str,
    text: str,
    names: DisplayNames,
) -> None:
    channel, ts, user = event["channel"], event["ts"], event.get("user", "")
    thread_ts = event.get("thread_ts") or ts
    parsed = parse_consult(text)
    if isinstance(parsed, BudgetRequest):
        await client.chat_postEphemeral(
            channel=channel,
            user=user,
            thread_ts=thread_ts,
            text=await channel_budget_text(deps, team, channel),
        )
        return
    reply = reply_without_consult(parsed, deps.panel)
    if reply is not None or not isinstance(parsed, ConsultCommand):
        await client.chat_postEphemeral(
            channel=channel, user=user, thread_ts=thread_ts, text=reply or USAGE
        )
        return

    history = None
    if thread_ts != ts:  # a reply in a thread: a follow-up
        ref = ThreadRef(team=team, channel=channel, thread_ts=thread_ts)
        history = await memory.load(deps.store, ref)
        if history is None:
            lines = await read_transcript(
                client,
                names,
                channel,
                thread_ts,
                before_ts=ts,
                bot_user=context.bot_user_id,
            )
            history = memory.conversation_from_transcript(ref, lines)
    request = ConsultRequest(
        question=parsed.question,
        tier=parsed.tier or deps.panel.tiers.default,
        asker=user,
        team=team,
        channel=channel,
        thread_ts=thread_ts,
        kind="followup" if history is not None else "consult",
        debate=parsed.debate,
    )
    thread = SlackThread(
        client, channel, thread_ts=thread_ts, schedulers=deps.schedulers
    )
    try:
        outcome = await consult_in_thread(
            request,
            deps.panel,
            thread,
            deps.store,
            history=history,
            ttl=deps.thread_ttl,
        )
    except ThreadUnavailable as exc:
        logger.info("mention consult stopped: %s", exc.reason)
        return
    except QuorumError as exc:
        logger.warning("mention consult failed: %s", exc)
        outcome = Refused(str(exc))
    finally:
        thread.stop()
    if not isinstance(outcome, ConsultResult):
        await client.chat_postEphemeral(
            channel=channel,
            user=user,
            thread_ts=thread_ts,
            text=refusal_text(outcome, "run that consult"),
        )
