"""Send the app what Slack would send it: slash commands and events, signed."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp
from slack_sdk.signature import SignatureVerifier

FORM = "application/x-www-form-urlencoded"
JSON = "application/json"

_API_APP_ID = "A0QUORUM"
_VERIFICATION_TOKEN = "verification-token-test"


@dataclass(frozen=True)
class SlackReply:
    """What the app answered, and how long it took to answer."""

    status: int
    body: str
    elapsed_s: float


def signed_headers(
    signing_secret: str,
    body: str,
    *,
    timestamp: int | None = None,
    content_type: str,
) -> dict[str, str]:
    """Headers Slack adds to a request: a v0 HMAC-SHA256 over the timestamped body."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    verifier = SignatureVerifier(signing_secret)
    signature = verifier.generate_signature(timestamp=stamp, body=body)
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": signature or "",
    }


async def send_slash_command(
    session: aiohttp.ClientSession,
    url: str,
    signing_secret: str,
    *,
    text: str,
    response_url: str,
    user_id: str = "U0ASKER",
    user_name: str = "dana",
    channel_id: str = "C0DEMO",
    channel_name: str = "eng-decisions",
    team_id: str = "T0DEMO",
    command: str = "/consult",
    trigger_id: str = "13345224609.738474920.8088930838d88f008e0",
    timestamp: int | None = None,
) -> SlackReply:
    """POST a slash command as Slack does; sign with another secret to forge one."""
    body = urlencode(
        {
            "token": _VERIFICATION_TOKEN,
            "team_id": team_id,
            "team_domain": "quorum-sandbox",
            "channel_id": channel_id,
            "channel_name": channel_name,
            "user_id": user_id,
            "user_name": user_name,
            "command": command,
            "text": text,
            "api_app_id": _API_APP_ID,
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": trigger_id,
        }
    )
    headers = signed_headers(
        signing_secret, body, timestamp=timestamp, content_type=FORM
    )
    return await _post(session, url, body, headers)


async def send_event(
    session: aiohttp.ClientSession,
    url: str,
    signing_secret: str,
    event: dict[str, Any],
    *,
    event_id: str,
    team_id: str = "T0DEMO",
    bot_user_id: str = "UQUORUM",
    retry_num: int | None = None,
    retry_reason: str | None = None,
    timestamp: int | None = None,
) -> SlackReply:
    """POST an Events API `event_callback`, as a retry when `retry_num` is set."""
    sent_at = int(time.time()) if timestamp is None else timestamp
    envelope = {
        "token": _VERIFICATION_TOKEN,
        "team_id": team_id,
        "api_app_id": _API_APP_ID,
        "event": event,
        "type": "event_callback",
        "event_id": event_id,
        "event_time": sent_at,
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": team_id,
                "user_id": bot_user_id,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
    }
    body = json.dumps(envelope)
    headers = signed_headers(signing_secret, body, timestamp=sent_at, content_type=JSON)
    if retry_num is not None:
        headers["X-Slack-Retry-Num"] = str(retry_num)
        headers["X-Slack-Retry-Reason"] = retry_reason or "http_timeout"
    return await _post(session, url, body, headers)


async def _post(
    session: aiohttp.ClientSession, url: str, body: str, headers: dict[str, str]
) -> SlackReply:
    started = time.perf_counter()
    async with session.post(url, data=body.encode(), headers=headers) as response:
        text = await response.text()
    return SlackReply(response.status, text, time.perf_counter() - started)
