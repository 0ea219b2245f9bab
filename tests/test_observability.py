"""Health checks, Prometheus metrics and the per-call log lines."""

import logging

import aiohttp
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr
from redis.asyncio import Redis
from slackkit import FAST, consult, consults_done

from bot.logs import WhereFilter
from bot.sandbox.demo import demo_stack
from bot.sandbox.scripts import DEMO_BOOK
from bot.settings import Settings
from bot.slack.app import build_app, http_app
from bot.store import Store

SESSIONS = DEMO_BOOK["sessions"]


def base(url: str) -> str:
    return url.removesuffix("/slack/events")


async def test_health_metrics_and_log_lines_after_a_consult(redis_url, caplog):
    caplog.handler.addFilter(WhereFilter())
    caplog.set_level(logging.INFO)
    async with demo_stack(behaviors=dict(FAST), redis_url=redis_url) as stack:
        await consult(stack, f"dual {SESSIONS.question}")
        (root,) = await consults_done(stack, 1)
        async with aiohttp.ClientSession() as http:
            async with http.get(base(stack.app_url) + "/healthz") as health:
                assert health.status == 200
                assert (await health.json())["redis"] == "ok"
            async with http.get(base(stack.app_url) + "/metrics") as served:
                exposition = await served.text()

    assert 'quorum_consults_total{outcome="ok",tier="dual"}' in exposition
    assert (
        'quorum_model_latency_seconds_count{model="openai/quorum-swift"}' in exposition
    )
    assert (
        'quorum_tokens_total{direction="completion",model="openai/quorum-swift"}'
        in (exposition)
    )
    model_lines = [r for r in caplog.records if r.getMessage().startswith("model call")]
    consult_lines = [r for r in caplog.records if r.getMessage().startswith("consult ")]
    assert len(model_lines) == 2 and len(consult_lines) == 1
    where = f"team=T0DEMO channel=C0DEMO thread={root.ts}"
    assert {r.where for r in model_lines + consult_lines} == {where}
    assert "xoxb-" not in caplog.text


async def test_health_is_503_when_redis_does_not_answer(dead_redis_url):
    async with demo_stack(behaviors=dict(FAST)) as stack:
        dead = Store(redis=Redis.from_url(dead_redis_url), embedded=False)
        settings = Settings(
            slack_bot_token=SecretStr("xoxb-test"),
            slack_signing_secret=SecretStr("test-secret"),
            slack_api_url=stack.slack.api_url,
        )
        app = build_app(settings, stack.panel, dead)
        async with TestClient(TestServer(http_app(app, dead, stack.panel))) as client:
            response = await client.get("/healthz")
            body = await response.json()
        await dead.aclose()

    assert response.status == 503
    assert body["ok"] is False and "Redis" in body["redis"]
