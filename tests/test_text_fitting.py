"""Text between Slack and Quorum: entities in, fallbacks and fitted blocks out."""

import pytest

from bot.slack.text import (
    BLOCKS_TEXT_LIMIT,
    FALLBACK_LIMIT,
    MAX_BLOCKS,
    SECTION_LIMIT,
    escape_mrkdwn,
    fallback_text,
    fit_blocks,
    shorten,
    split_long_sections,
    unescape_slack,
)

WJ = "\u2060"


@pytest.mark.parametrize(
    ("sent", "typed"),
    [
        ("a &amp;&amp; b &lt; c &gt; d", "a && b < c > d"),
        ("&amp;lt; is how you write &lt;", "&lt; is how you write <"),
        ("ask <@U024BE7LH|dana>", "ask @dana"),
        ("ask <@U024BE7LH>", "ask @U024BE7LH"),
        ("in <#C0DEMO|eng-decisions>", "in #eng-decisions"),
        ("see <https://x.io/a|the docs>", "see the docs (https://x.io/a)"),
        ("see <https://x.io/a>", "see https://x.io/a"),
        ("mail <mailto:ops@x.io|ops@x.io>", "mail ops@x.io"),
        ("<!here> and <!subteam^S0123|@oncall>", "@here and @oncall"),
        ("café 日本語 🚀 `code`", "café 日本語 🚀 `code`"),
    ],
)
def test_slack_entities_become_what_the_person_typed(sent, typed):
    assert unescape_slack(sent) == typed


@pytest.mark.parametrize(
    "typed", ["a && b < c > d", "&amp; literally", "<not a tag>", "x <@U1> y"]
)
def test_unescaping_undoes_slacks_escaping_exactly(typed):
    assert unescape_slack(escape_mrkdwn(typed)) == typed


@pytest.mark.parametrize(
    ("title", "body", "expected"),
    [
        ("Claude", "short & sweet", "Claude: short &amp; sweet"),
        ("Claude", "ping <!channel>", f"Claude: ping @{WJ}channel"),
        ("Claude (part 2)", "", "Claude (part 2): "),
    ],
)
def test_a_fallback_is_the_title_and_the_safe_body(title, body, expected):
    assert fallback_text(title, body) == expected


def test_a_long_fallback_is_cut_at_a_word_and_fits_after_escaping():
    body = "a<b " * 2000  # 8,000 characters, each '<' escaped to four

    fallback = fallback_text("Deep", body)

    assert len(fallback) <= FALLBACK_LIMIT
    assert fallback.endswith("a&lt;b…")
    assert "&lt" not in fallback.replace("&lt;", "")  # no entity cut in half


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("short", 10, "short"),
        ("one two three four", 9, "one two … (10 more characters)"),
        ("x" * 30, 10, "x" * 10 + " … (20 more characters)"),
    ],
)
def test_shorten_says_how_much_is_left(text, limit, expected):
    assert shorten(text, limit) == expected


def section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def test_a_long_section_becomes_several_that_fit():
    lines = [f"• point {n}: " + " ".join(["word"] * 30) for n in range(100)]
    blocks = [{"type": "header", "text": {"type": "plain_text", "text": "S"}}]
    blocks.append(section("\n".join(lines)))

    fitted = split_long_sections(blocks)

    assert fitted[0] == blocks[0]
    sections = [b["text"]["text"] for b in fitted[1:]]
    assert len(sections) > 1
    assert all(len(text) <= SECTION_LIMIT for text in sections)
    assert "\n".join(sections).split("\n") == lines


@pytest.mark.parametrize(
    ("count", "chars", "messages"),
    [
        (3, 100, 1),
        (MAX_BLOCKS, 10, 1),
        (MAX_BLOCKS + 1, 10, 2),
        (10, 2500, 3),  # 25,000 characters against 12,000 a message
    ],
)
def test_blocks_are_packed_into_messages_in_order(count, chars, messages):
    blocks = [section(f"{n:04d}" + "x" * (chars - 4)) for n in range(count)]

    packed = fit_blocks(blocks)

    assert len(packed) == messages
    assert [b for message in packed for b in message] == blocks
    for message in packed:
        assert len(message) <= MAX_BLOCKS
        assert sum(len(b["text"]["text"]) for b in message) <= BLOCKS_TEXT_LIMIT
