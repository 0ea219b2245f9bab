"""The slack-bolt app: listeners wired to a panel, served over HTTP or Socket Mode."""

from __future__ import annotations

import logging

from aiohttp import web
from slack_bolt.async_app import AsyncApp
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.errors import ConfigError
from bot.panel import Panel
from bot.settings import Settings
from bot.slack.scheduler import ChannelSchedulers, RetryOutsideScheduler, SlackLimits
from handlers import consult

logger = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"


def build_app(
    settings: Settings, panel: Panel, *, slack_limits: SlackLimits | None = None
) -> AsyncApp:
    """The app; `slack_limits` are the rate limits its writers keep to."""
    if settings.slack_bot_token is None:
        raise ConfigError("SLACK_BOT_TOKEN is not set; see the README's Slack set-up")
    secret = settings.slack_signing_secret
    if secret is None and not settings.socket_mode:
        raise ConfigError(
            "SLACK_SIGNING_SECRET is not set; HTTP mode needs it to verify requests"
        )
    client = AsyncWebClient(
        token=settings.slack_bot_token.get_secret_value(),
        base_url=settings.slack_api_url,
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(max_retry_count=2),
            RetryOutsideScheduler(max_retry_count=3),
        ],
    )
    app = AsyncApp(
        client=client,
        signing_secret=secret.get_secret_value() if secret else "",
        request_verification_enabled=secret is not None,
    )
    consult.register(app, panel, ChannelSchedulers(slack_limits))
    return app


def http_app(app: AsyncApp) -> web.Application:
    """The aiohttp application: Slack's endpoint plus a health check."""
    web_app = app.web_app(path=EVENTS_PATH)
    web_app.router.add_get("/healthz", _healthz)
    return web_app


async def _healthz(_request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


async def serve_http(app: AsyncApp, port: int) -> None:
    runner = web.AppRunner(http_app(app))
    await runner.setup()
    site = web.TCPSite(runner, "0.0.0.0", port)
    await site.start()
    logger.info("listening for Slack on http://0.0.0.0:%d%s", port, EVENTS_PATH)
    try:
        await _forever()
    finally:
        await runner.cleanup()


async def serve_socket_mode(app: AsyncApp, app_token: str) -> None:
    from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

    handler = AsyncSocketModeHandler(app, app_token)
    logger.info("connecting to Slack in Socket Mode")
    await handler.start_async()


async def _forever() -> None:
    import asyncio

    await asyncio.Event().wait()
