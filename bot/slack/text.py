"""Text that goes to Slack: mention safety, escaping and splitting.

Model answers go out in Slack's Markdown block, so Slack itself renders their
Markdown and nothing here converts it. What must be done here: text from a
model or the synthesis never pings anyone, and no message exceeds Slack's
limits.
"""

from __future__ import annotations

import re

# Slack's real limit for a message's text is about 4,000 characters, and the
# Markdown block's is 12,000 per message; stay well under both.
MESSAGE_LIMIT = 3500

_WORD_JOINER = "\u2060"
_SPECIAL_MENTION = re.compile(
    r"<!(channel|here|everyone|subteam\^[A-Z0-9]+)(\|[^>]*)?>"
)
_USER_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(\|[^>]*)?>")
_PLAIN_MASS_MENTION = re.compile(r"(?<![\w`])@(channel|here|everyone)\b", re.IGNORECASE)


def neutralize_mentions(text: str) -> str:
    """Make every mention in `text` inert while keeping it readable."""
    text = _SPECIAL_MENTION.sub(lambda m: f"@{_WORD_JOINER}{_mention_name(m)}", text)
    text = _USER_MENTION.sub(lambda m: f"@{_WORD_JOINER}{_mention_name(m)}", text)
    return _PLAIN_MASS_MENTION.sub(lambda m: f"@{_WORD_JOINER}{m.group(1)}", text)


def _mention_name(match: re.Match[str]) -> str:
    label = match.group(2)
    if label:
        return label[1:]
    return match.group(1).split("^")[0]


def escape_mrkdwn(text: str) -> str:
    """Escape the three characters Slack's mrkdwn treats as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def safe_mrkdwn(text: str) -> str:
    """Plain text from a model, made safe to place inside mrkdwn."""
    return escape_mrkdwn(neutralize_mentions(text))


def split_message(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Cut `text` into parts of at most `limit` characters, losing nothing.

    Cuts fall on a paragraph break where possible, else a line break, else a
    space. A cut inside a fenced code block closes the fence in one part and
    reopens it in the next, so both render as code.
    """
    parts: list[str] = []
    rest = text
    while len(rest) > limit:
        cut = _cut_point(rest, limit - 8)  # room to close a code fence
        head, rest = rest[:cut], rest[cut:].lstrip("\n")
        if head.count("```") % 2 == 1:
            head += "\n```"
            rest = "```\n" + rest
        parts.append(head.rstrip())
    parts.append(rest)
    return parts


def _cut_point(text: str, limit: int) -> int:
    window = text[:limit]
    for separator in ("\n\n", "\n", " "):
        at = window.rfind(separator)
        if at > limit // 2:
            return at
    return limit
