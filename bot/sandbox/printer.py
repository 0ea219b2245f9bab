"""Print a sandbox thread the way a person would read it in Slack."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable, Mapping
from typing import Any

from bot.sandbox.slack_api import SandboxMessage

BOT_NAME = "Quorum"
WIDTH = 100
REPLY_BAR = "│ "
DIVIDER = "─" * 40

_LINK = re.compile(r"<([^<>|]+)(?:\|([^<>]*))?>")
_FENCE = "```"
_HANGING = re.compile(r"^(\s*(?:[-*•>]|\d+[.)])?\s*)")

Block = dict[str, Any]


def render_thread(
    messages: list[SandboxMessage], *, names: Mapping[str, str] | None = None
) -> str:
    """The root message, then each reply behind a bar, a blank line between.

    `names` maps user ids to display names, for authors and for mentions.
    """
    names = names or {}
    parts = []
    for index, message in enumerate(messages):
        lines = _render_message(message, names, WIDTH - len(REPLY_BAR) * bool(index))
        if index:
            lines = [f"{REPLY_BAR}{line}".rstrip() for line in lines]
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


def _render_message(
    message: SandboxMessage, names: Mapping[str, str], width: int
) -> list[str]:
    author = BOT_NAME if message.bot_id else names.get(message.user, message.user)
    if message.deleted:
        return [author, "(message deleted)"]
    if message.blocks:
        body = "\n".join(_render_block(block, names) for block in message.blocks)
    else:
        body = _mrkdwn(message.text, names)
    return [author, *_wrap(body, width)]


def _render_block(block: Block, names: Mapping[str, str]) -> str:
    render = _BLOCK_RENDERERS.get(block.get("type", ""))
    if render is None:
        return f"[{block.get('type', 'unknown')} block]"
    return render(block, names)


def _header(block: Block, names: Mapping[str, str]) -> str:
    title = _text_object(block.get("text"), names)
    return f"{title}\n{'═' * len(title)}"


def _section(block: Block, names: Mapping[str, str]) -> str:
    lines = []
    if block.get("text"):
        lines.append(_text_object(block["text"], names))
    lines.extend(_field(field, names) for field in block.get("fields", []))
    return "\n".join(lines)


def _field(field: Any, names: Mapping[str, str]) -> str:
    label, _, value = _text_object(field, names).partition("\n")
    if not value:
        return label
    return f"{label.strip('*_ ')}: {value}"


def _context(block: Block, names: Mapping[str, str]) -> str:
    parts = [
        element.get("alt_text", "")
        if element.get("type") == "image"
        else _text_object(element, names)
        for element in block.get("elements", [])
    ]
    return " · ".join(part for part in parts if part)


def _divider(block: Block, names: Mapping[str, str]) -> str:
    return DIVIDER


def _markdown(block: Block, names: Mapping[str, str]) -> str:
    return str(block.get("text", ""))


def _actions(block: Block, names: Mapping[str, str]) -> str:
    labels = [
        _text_object(element.get("text"), names)
        for element in block.get("elements", [])
    ]
    return " ".join(f"[{label}]" for label in labels if label)


def _image(block: Block, names: Mapping[str, str]) -> str:
    return f"[image: {block.get('alt_text', '')}]"


def _rich_text(block: Block, names: Mapping[str, str]) -> str:
    return "\n".join(_rich_element(el, names) for el in block.get("elements", []))


def _rich_element(element: Block, names: Mapping[str, str]) -> str:
    kind = element.get("type")
    children = element.get("elements", [])
    if kind == "rich_text_list":
        ordered = element.get("style") == "ordered"
        return "\n".join(
            f"{f'{number}.' if ordered else '•'} {_rich_element(child, names)}"
            for number, child in enumerate(children, start=1)
        )
    inline = "".join(_rich_inline(child, names) for child in children)
    if kind == "rich_text_preformatted":
        return f"{_FENCE}\n{inline}\n{_FENCE}"
    if kind == "rich_text_quote":
        return "\n".join(f"> {line}" for line in inline.split("\n"))
    return inline


def _rich_inline(element: Block, names: Mapping[str, str]) -> str:
    kind = element.get("type")
    if kind == "user":
        return f"@{names.get(element.get('user_id', ''), element.get('user_id'))}"
    if kind == "link":
        url = element.get("url", "")
        label = element.get("text")
        return f"{label} ({url})" if label else url
    if kind == "emoji":
        return f":{element.get('name', '')}:"
    if kind == "channel":
        return f"#{element.get('channel_id', '')}"
    if kind == "broadcast":
        return f"@{element.get('range', '')}"
    return str(element.get("text", ""))


_BLOCK_RENDERERS: dict[str, Callable[[Block, Mapping[str, str]], str]] = {
    "header": _header,
    "section": _section,
    "context": _context,
    "divider": _divider,
    "markdown": _markdown,
    "actions": _actions,
    "image": _image,
    "rich_text": _rich_text,
}


def _text_object(obj: Any, names: Mapping[str, str]) -> str:
    if not isinstance(obj, dict):
        return ""
    text = str(obj.get("text", ""))
    return _mrkdwn(text, names) if obj.get("type") == "mrkdwn" else text


def _mrkdwn(text: str, names: Mapping[str, str]) -> str:
    """Slack's angle-bracket links and mentions as plain text, then unescaped."""

    def plain(match: re.Match[str]) -> str:
        target, label = match.group(1), match.group(2)
        if target.startswith("@"):
            return f"@{label or names.get(target[1:], target[1:])}"
        if target.startswith("#"):
            return f"#{label or target[1:]}"
        if target.startswith("!"):
            return f"@{label or target[1:].split('^')[0]}"
        return f"{label} ({target})" if label else target

    linked = _EMOJI.sub(
        lambda m: EMOJI.get(m.group(1), m.group(0)), _LINK.sub(plain, text)
    )
    return linked.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


# The emoji Quorum's messages use, as a terminal shows them.
EMOJI = {
    "large_green_circle": "\U0001f7e2",
    "large_yellow_circle": "\U0001f7e1",
    "red_circle": "\U0001f534",
    "large_purple_circle": "\U0001f7e3",
    "warning": "\u26a0\ufe0f",
    "scales": "\u2696\ufe0f",
}
_EMOJI = re.compile(r":([a-z0-9_+-]+):")


def _wrap(body: str, width: int) -> list[str]:
    """Wrap prose at `width`; fenced code keeps its lines as they are."""
    lines: list[str] = []
    in_code = False
    for line in body.split("\n"):
        if line.strip().startswith(_FENCE):
            in_code = not in_code
            lines.append(line)
        elif in_code or len(line) <= width:
            lines.append(line)
        else:
            lines.extend(_wrap_line(line, width))
    return lines


def _wrap_line(line: str, width: int) -> list[str]:
    hanging = _HANGING.match(line)
    indent = " " * len(hanging.group(1)) if hanging else ""
    return textwrap.wrap(
        line,
        width,
        subsequent_indent=indent,
        break_long_words=False,
        break_on_hyphens=False,
    )
