import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.sandbox.slack_api import SlackSandbox
from bot.slack.incoming import DisplayNames, clean_text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<@UQUORUM> Redis or Postgres?", "Redis or Postgres?"),
        ("<@UQUORUM> ask <@U0ASKER> first", "ask @dana first"),
        ("<@UQUORUM> ask <@U0ASKER|dana.k>", "ask @dana"),
        ("see <#C0DEMO|eng-decisions>", "see #eng-decisions"),
        ("see <#C0DEMO>", "see #C0DEMO"),
        (
            "read <https://example.com/rfc|the RFC>",
            "read the RFC (https://example.com/rfc)",
        ),
        ("read <https://example.com/rfc>", "read https://example.com/rfc"),
        ("a &lt; b &amp;&amp; c &gt; d", "a < b && c > d"),
        ("<!here> is it down?", "@here is it down?"),
        ("`SELECT 1 &amp; 2` — ok? 🚀", "`SELECT 1 & 2` — ok? 🚀"),
        ("```\nif a &lt; b:\n    pass\n```", "```\nif a < b:\n    pass\n```"),
        ("ask <@U0NOBODY>", "ask @U0NOBODY"),
    ],
)
async def test_mention_text_reads_as_a_person_reads_it(text, expected):
    async with SlackSandbox() as slack:
        client = AsyncWebClient(token="xoxb-test", base_url=slack.api_url)
        names = DisplayNames(client)

        assert await clean_text(text, names, bot_user="UQUORUM") == expected


async def test_display_names_are_looked_up_once():
    async with SlackSandbox() as slack:
        names = DisplayNames(AsyncWebClient(token="xoxb-test", base_url=slack.api_url))

        for _ in range(3):
            assert await names.name("U0ASKER") == "dana"

        assert len(slack.calls_to("users.info")) == 1
