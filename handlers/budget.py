"""`/consult budget` (or `@Quorum budget`): the channel's spend today, privately."""

from __future__ import annotations

from bot.errors import StoreUnavailable
from bot.metering import budget_view
from bot.slack.budget_texts import budget_text
from handlers.context import Deps


async def channel_budget_text(deps: Deps, team: str, channel: str) -> str:
    """The reply to a budget request, or why there is none right now."""
    try:
        view = await budget_view(deps.store, deps.panel.budget, team, channel)
    except StoreUnavailable as exc:
        return f"I cannot read this channel's spending right now: {exc.reason}."
    return budget_text(view)
