"""Text people write in Slack, turned into plain text for the models.

Slack sends messages with its own markup: `<@U123>` for a person, `<#C123|name>`
for a channel, `<https://…|label>` for a link, and `&amp;`, `&lt;`, `&gt;` for
the three characters it escapes. The models get what a person reads.
"""

from __future__ import annotations

import html
import logging
import re

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.memory import TranscriptLine

logger = logging.getLogger(__name__)

_USER = re.compile(r"<@([UW][A-Z0-9]+)(?:\|([^>]*))?>")
_CHANNEL = re.compile(r"<#(C[A-Z0-9]+)(?:\|([^>]*))?>")
_SPECIAL = re.compile(r"<!([a-z]+)(?:\^[A-Z0-9]+)?(?:\|([^>]*))?>")
_LINK = re.compile(r"<((?:https?|mailto):[^|>]+)(?:\|([^>]*))?>")
TRANSCRIPT_LIMIT = 200  # messages read from a thread Quorum never saw


class DisplayNames:
    """Display names of users, looked up once per process with users.info."""

    def __init__(self, client: AsyncWebClient) -> None:
        self.client = client
        self._names: dict[str, str] = {}

    async def name(self, user: str) -> str:
        if user not in self._names:
            self._names[user] = await self._look_up(user)
        return self._names[user]

    async def _look_up(self, user: str) -> str:
        try:
            response = await self.client.users_info(user=user)
        except SlackApiError as exc:
            logger.info(
                "users.info failed user=%s error=%s", user, exc.response.get("error")
            )
            return user
        profile = response["user"].get("profile", {})
        return (
            profile.get("display_name")
            or profile.get("real_name")
            or response["user"].get("name")
            or user
        )


async def clean_text(text: str, names: DisplayNames, *, bot_user: str | None) -> str:
    """Slack markup to plain text; the bot's own mention is dropped."""
    if bot_user:
        text = re.sub(rf"<@{bot_user}(?:\|[^>]*)?>\s*", "", text)
    for user in dict.fromkeys(m.group(1) for m in _USER.finditer(text)):
        display = await names.name(user)
        text = re.sub(rf"<@{user}(?:\|[^>]*)?>", f"@{display}", text)
    text = _CHANNEL.sub(lambda m: f"#{m.group(2) or m.group(1)}", text)
    text = _SPECIAL.sub(lambda m: f"@{m.group(2) or m.group(1)}", text)
    text = _LINK.sub(_plain_link, text)
    return html.unescape(text).strip()


def _plain_link(match: re.Match[str]) -> str:
    url, label = match.group(1), match.group(2)
    if not label or label == url:
        return url
    return f"{label} ({url})"


async def read_transcript(
    client: AsyncWebClient,
    names: DisplayNames,
    channel: str,
    thread_ts: str,
    *,
    before_ts: str,
    bot_user: str | None,
) -> list[TranscriptLine]:
    """The thread's messages before `before_ts`, oldest first, as plain lines."""
    response = await client.conversations_replies(
        channel=channel, ts=thread_ts, limit=TRANSCRIPT_LIMIT
    )
    lines = []
    for message in response.get("messages", []):
        if float(message.get("ts", "0")) >= float(before_ts):
            continue
        is_bot = bool(message.get("bot_id")) or message.get("user") == bot_user
        author = "Quorum" if message.get("user") == bot_user else None
        if author is None:
            user = message.get("user")
            author = await names.name(user) if user else "a bot"
        raw = _bot_message_text(message) if is_bot else message.get("text", "")
        text = await clean_text(raw, names, bot_user=bot_user)
        lines.append(TranscriptLine(author=author, is_bot=is_bot, text=text))
    return lines


def _bot_message_text(message: dict) -> str:
    """What a bot's message shows: its blocks' text (Quorum's `text` is a stub)."""
    parts = []
    for block in message.get("blocks") or []:
        text = block.get("text")
        if isinstance(text, dict):
            text = text.get("text")
        if isinstance(text, str):
            parts.append(text)
        for element in block.get("elements") or []:
            if isinstance(element.get("text"), str):
                parts.append(element["text"])
    return "\n".join(parts) or message.get("text", "")
