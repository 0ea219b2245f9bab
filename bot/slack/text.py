"""Text between Slack and Quorum: entities, mention safety, escaping, splitting.

Model answers go out in Slack's Markdown block, so Slack itself renders their
Markdown and nothing here converts it. What must be done here: text typed in
Slack reaches the models as the person wrote it, text from a model or the
synthesis never pings anyone, and no message exceeds Slack's limits.
"""

from __future__ import annotations

import re
from typing import Any

Block = dict[str, Any]

# Slack's real limit for a message's text is about 4,000 characters, and the
# Markdown block's is 12,000 per message; stay well under both.
MESSAGE_LIMIT = 3500
FALLBACK_LIMIT = 3900  # a message's plain `text`, under Slack's ~4,000
SECTION_LIMIT = 3000  # a section block's text
MAX_BLOCKS = 50
BLOCKS_TEXT_LIMIT = 12_000  # all blocks of one message together, kept readable

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


_ENTITY = re.compile(r"&(amp|lt|gt);")
_ENTITY_CHARS = {"amp": "&", "lt": "<", "gt": ">"}
_ANGLED = re.compile(r"<([^<>]*)>")


def unescape_slack(text: str) -> str:
    """Text a person typed in Slack, as they typed it.

    Slack sends `&`, `<` and `>` as entities and wraps mentions, channels and
    links in angle brackets: `<@U1|dana>` becomes `@dana`, and
    `<https://x.io/a|the docs>` becomes `the docs (https://x.io/a)`.
    """
    text = _ANGLED.sub(lambda m: _plain_reference(m.group(1)), text)
    return _ENTITY.sub(lambda m: _ENTITY_CHARS[m.group(1)], text)


def _plain_reference(inner: str) -> str:
    target, _, label = inner.partition("|")
    if target.startswith(("@", "#")):
        return f"{target[0]}{label.lstrip('@#')}" if label else target
    if target.startswith("!date"):
        return label
    if target.startswith("!"):
        name = target[1:].split("^")[0]
        return f"@{label.lstrip('@')}" if label else f"@{name}"
    address = target.removeprefix("mailto:")
    if not label or label in (address, target.split("://", 1)[-1]):
        return address
    return f"{label} ({address})"


def escape_mrkdwn(text: str) -> str:
    """Escape the three characters Slack's mrkdwn treats as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def safe_mrkdwn(text: str) -> str:
    """Plain text from a model, made safe to place inside mrkdwn."""
    return escape_mrkdwn(neutralize_mentions(text))


def fallback_text(title: str, body: str, limit: int = FALLBACK_LIMIT) -> str:
    """A message's plain `text`: `title: body`, made safe and cut to `limit`.

    Slack shows it in notifications and where a client cannot draw the blocks.
    """
    head = f"{neutralize_mentions(title)}: "
    return head + _clip_escaped(neutralize_mentions(body), limit - len(head))


def _clip_escaped(text: str, room: int) -> str:
    """`escape_mrkdwn(text)`, cut at a space so it fits in `room` characters."""
    escaped = escape_mrkdwn(text)
    if len(escaped) <= room:
        return escaped
    used, cut = 1, 0  # one for the ellipsis
    for index, char in enumerate(text):
        used += len(escape_mrkdwn(char))
        if used > room:
            break
        if char.isspace():
            cut = index
    return escape_mrkdwn(text[:cut].rstrip()) + "…"


def shorten(text: str, limit: int) -> str:
    """`text` cut at a word to about `limit` characters, saying how much is left."""
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit)
    cut = cut if cut > limit // 2 else limit
    rest = text[cut:].lstrip()
    return f"{text[:cut].rstrip()} … ({len(rest):,} more characters)"


def split_long_sections(blocks: list[Block], limit: int = SECTION_LIMIT) -> list[Block]:
    """Blocks where every section's text fits; a long one becomes several."""
    fitted: list[Block] = []
    for block in blocks:
        text = block.get("text")
        if block.get("type") != "section" or not isinstance(text, dict):
            fitted.append(block)
            continue
        for part in split_message(str(text.get("text", "")), limit):
            fitted.append({**block, "text": {**text, "text": part}})
    return fitted


def fit_blocks(blocks: list[Block]) -> list[list[Block]]:
    """Blocks packed into as few messages as Slack's limits allow, in order."""
    messages: list[list[Block]] = [[]]
    size = 0
    for block in split_long_sections(blocks):
        length = _block_chars(block)
        full = len(messages[-1]) >= MAX_BLOCKS or size + length > BLOCKS_TEXT_LIMIT
        if messages[-1] and full:
            messages.append([])
            size = 0
        messages[-1].append(block)
        size += length
    return messages


def _block_chars(block: Block) -> int:
    text = block.get("text")
    if isinstance(text, dict):
        text = text.get("text")
    elements = block.get("elements") or []
    return len(str(text or "")) + sum(
        len(str(e.get("text", ""))) for e in elements if isinstance(e, dict)
    )


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
