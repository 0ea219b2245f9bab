"""The slack-bolt app: listeners wired to a panel, served over HTTP or Socket Mode."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from aiohttp import web
from slack_bolt import BoltResponse
from slack_bolt.async_app import AsyncApp
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot import metrics
from bot.dedupe import claim_event
from bot.errors import ConfigError, QuorumError
from bot.panel import Panel
from bot.settings import Settings
from bot.slack.rate_limits import RetryOutsideScheduler, SlackLimits
from bot.slack.scheduler import ChannelSchedulers
from bot.store import Store
from handlers import consult, mention, reaction
from handlers.context import Deps

logger = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"


def build_app(
    settings: Settings,
    panel: Panel,
    store: Store,
    *,
    slack_limits: SlackLimits | None = None,
) -> AsyncApp:
    """The app; `slack_limits` are the rate limits its Slack writers keep to."""
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
    app.middleware(_once_per_event(store))
    deps = Deps(
        panel=panel,
        store=store,
        thread_ttl=settings.thread_ttl,
        schedulers=ChannelSchedulers(slack_limits),
    )
    consult.register(app, deps)
    mention.register(app, deps)
    reaction.register(app, deps)
    return app


def _once_per_event(store: Store) -> Callable[..., Awaitable[BoltResponse | None]]:
    """Global middleware: each Events API delivery is handled once, everywhere.

    Slack retries a delivery it thinks failed, sometimes without retry headers,
    and several processes may receive copies; the claim is in Redis.
    """

    async def once(body: dict[str, Any], next: Callable[[], Awaitable[None]]):
        event_id = (
            body.get("event_id") if body.get("type") == "event_callback" else None
        )
        if event_id and not await claim_event(store, event_id):
            logger.info("duplicate event ignored event_id=%s", event_id)
            return BoltResponse(status=200, body="")
        return await next()

    return once


def http_app(
    app: AsyncApp, store: Store, panel: Panel, *, metrics_enabled: bool = False
) -> web.Application:
    """The aiohttp application: Slack's endpoint, a health check, and metrics."""
    web_app = app.web_app(path=EVENTS_PATH)
    web_app.router.add_get("/healthz", partial(_healthz, store, panel))
    if metrics_enabled:
        web_app.router.add_get("/metrics", _metrics)
    return web_app


async def _healthz(store: Store, panel: Panel, _request: web.Request) -> web.Response:
    """200 when Redis answers; 503 with the reason when it does not."""
    body = {
        "panel": panel.source,
        "models": len(panel.models),
        "redis": "embedded" if store.embedded else "ok",
    }
    try:
        await store.ping()
    except QuorumError as exc:
        return web.json_response({**body, "ok": False, "redis": str(exc)}, status=503)
    return web.json_response({**body, "ok": True})


async def _metrics(_request: web.Request) -> web.Response:
    return web.Response(
        body=metrics.exposition(), content_type="text/plain", charset="utf-8"
    )


async def serve_http(
    app: AsyncApp, store: Store, panel: Panel, port: int, *, metrics_enabled: bool
) -> None:
    runner = web.AppRunner(http_app(app, store, panel, metrics_enabled=metrics_enabled))
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
