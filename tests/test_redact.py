import pytest

from bot.errors import redact

SECRET = "hunter" + "2-not-a-real-one"


@pytest.mark.parametrize(
    "text",
    [
        f"Authorization: Basic {SECRET}",
        f"GET https://models.example/v1beta/m:stream?key={SECRET}&alt=sse",
        f"redis://quorum:{SECRET}@cache.internal:6379/0",
        f"access_token={SECRET}",
    ],
)
def test_credentials_in_urls_and_headers_are_blanked(text):
    assert SECRET not in redact(text)


def test_text_without_secrets_is_unchanged():
    text = "provider error (HTTP 500): upstream timed out at 12:00:01"

    assert redact(text) == text
