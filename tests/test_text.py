import pytest

from bot.slack.text import neutralize_mentions, safe_mrkdwn, split_message

WJ = "\u2060"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ping <!channel> now", f"ping @{WJ}channel now"),
        ("<!here|here> look", f"@{WJ}here look"),
        ("<!everyone>", f"@{WJ}everyone"),
        ("<!subteam^S0123ABC|@oncall> help", f"@{WJ}@oncall help"),
        ("ask <@U024BE7LH>", f"ask @{WJ}U024BE7LH"),
        ("ask <@U024BE7LH|dana>", f"ask @{WJ}dana"),
        ("tell @channel and @here", f"tell @{WJ}channel and @{WJ}here"),
        ("mail ops@here.example", "mail ops@here.example"),
        ("`@here` in code", "`@here` in code"),
        ("nothing to see", "nothing to see"),
    ],
)
def test_model_text_never_pings(text, expected):
    assert neutralize_mentions(text) == expected


def test_mrkdwn_control_characters_are_escaped():
    assert (
        safe_mrkdwn("a < b && c > <!here>") == f"a &lt; b &amp;&amp; c &gt; @{WJ}here"
    )


@pytest.mark.parametrize("limit", [200, 500, 3500])
def test_splitting_loses_nothing_and_respects_the_limit(limit):
    paragraphs = [f"Paragraph {i}: " + "word " * (i * 7 % 60 + 5) for i in range(60)]
    text = "\n\n".join(paragraphs)

    parts = split_message(text, limit)

    assert all(len(part) <= limit for part in parts)
    assert "".join("".join(parts).split()) == "".join(text.split())


def test_a_cut_inside_a_code_block_reopens_the_fence():
    code = "```python\n" + "\n".join(f"x{i} = {i}" for i in range(100)) + "\n```"

    parts = split_message("Intro.\n\n" + code, 300)

    assert len(parts) > 2
    assert all(part.count("```") % 2 == 0 for part in parts)
    body = "".join(parts).replace("```python", "").replace("```", "")
    assert all(f"x{i} = {i}" in body for i in range(100))


def test_a_short_text_is_one_part():
    assert split_message("short") == ["short"]
