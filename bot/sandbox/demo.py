"""`make demo`: one real consult, end to end, with nothing but loopback.

A local Slack Web API, a local model server with scripted answers, and the
real slack-bolt app in HTTP mode between them. A signed `/consult` goes in;
the thread comes out, printed as a person would read it.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from importlib import resources

import aiohttp
from aiohttp import web
from pydantic import SecretStr

from bot.budget import BudgetSpec
from bot.panel import Panel, TierName, load_panel, parse_panel
from bot.sandbox.model_server import Behavior, ModelServer
from bot.sandbox.printer import render_thread
from bot.sandbox.scripts import DEMO_BEHAVIORS, DEMO_BOOK
from bot.sandbox.slack_api import ApiCall, SandboxMessage, SlackSandbox
from bot.sandbox.slack_client import send_slash_command
from bot.settings import Settings
from bot.slack.app import EVENTS_PATH, build_app, http_app
from bot.slack.rate_limits import SlackLimits
from bot.slack.writer import DONE_EVENT
from bot.store import LOCAL_REDIS_URL, open_store

DEMO_QUESTION = DEMO_BOOK["sessions"].question
SIGNING_SECRET = "demo-signing-secret"
BOT_TOKEN = "xoxb-demo"
REAL_KEYS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY")
CONSULT_TIMEOUT_S = 180.0
_TITLE = re.compile(r"^\*(.+?)\* · (.*)$", re.DOTALL)


@dataclass
class DemoStack:
    """The running pieces of one demo: Slack, models and the app's processes."""

    slack: SlackSandbox
    models: ModelServer
    app_urls: list[str]  # one per app instance, each with its own Redis client
    panel: Panel

    @property
    def app_url(self) -> str:
        return self.app_urls[0]


def demo_panel(api_base: str) -> Panel:
    text = resources.files("bot.sandbox").joinpath("demo_panel.toml").read_text("utf-8")
    return parse_panel(text.replace("{api_base}", api_base), source="demo panel")


def real_panel() -> Panel | None:
    """The built-in panel cut to the providers whose key is set; None if none is."""
    if not any(os.environ.get(key) for key in REAL_KEYS):
        return None
    builtin = load_panel(None)
    keyed = [a for a, spec in builtin.models.items() if spec.has_key()]
    panelists = [a for a in builtin.tiers.full if a in keyed]
    judges = [
        a for a in (builtin.synthesis.model, builtin.synthesis.fallback) if a in keyed
    ]
    synthesis = judges[0] if judges else panelists[0]
    data = {
        "models": {a: builtin.models[a].model_dump() for a in keyed},
        "tiers": {
            "single": panelists[:1],
            "dual": panelists[:2],
            "full": panelists,
            "default": "full",
        },
        "synthesis": {"model": synthesis},
        "source": "built-in panel, providers with keys",
    }
    return Panel.model_validate(data)


@asynccontextmanager
async def demo_stack(
    panel: Panel | None = None,
    *,
    behaviors: dict[str, Behavior] | None = None,
    slack: SlackSandbox | None = None,
    redis_url: str | None = None,
    local_redis_url: str = LOCAL_REDIS_URL,
    apps: int = 1,
    slack_limits: SlackLimits | None = None,
    panel_for: Callable[[str], Panel] | None = None,
    budget: BudgetSpec | None = None,
) -> AsyncIterator[DemoStack]:
    """Start the sandbox Slack, the model server and the app; stop them after.

    Without a panel, the demo panel is served by the scripted model server.
    `slack` is a sandbox not yet started. `apps` > 1 runs that many instances
    of the app, as separate processes would, sharing one Redis. `budget`
    replaces the panel's `[budget]` table. `slack_limits` are the rate limits
    the app keeps to (default: Slack's). `panel_for` builds the panel from the
    model server's base URL.
    """
    behaviors = DEMO_BEHAVIORS if behaviors is None else behaviors
    async with (
        slack or SlackSandbox(token=BOT_TOKEN) as slack,
        ModelServer(DEMO_BOOK, behaviors) as models,
        AsyncExitStack() as running,
    ):
        panel = panel or (panel_for or demo_panel)(models.base_url)
        if budget is not None:
            panel = panel.model_copy(update={"budget": budget})
        settings = Settings(
            slack_bot_token=SecretStr(slack.token),
            slack_signing_secret=SecretStr(SIGNING_SECRET),
            slack_api_url=slack.api_url,
            **({"redis_url": redis_url} if redis_url else {}),
        )
        urls = [
            await running.enter_async_context(
                _serving(settings, panel, local_redis_url, slack_limits)
            )
            for _ in range(apps)
        ]
        yield DemoStack(slack, models, urls, panel)


@asynccontextmanager
async def _serving(
    settings: Settings,
    panel: Panel,
    local_redis_url: str,
    slack_limits: SlackLimits | None,
) -> AsyncIterator[str]:
    """One instance of the app on a free loopback port; yields its events URL."""
    store = await open_store(settings.redis_url, local_url=local_redis_url)
    app = build_app(settings, panel, store, slack_limits=slack_limits)
    runner = web.AppRunner(http_app(app, store, panel, metrics_enabled=True))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}{EVENTS_PATH}"
    finally:
        await runner.cleanup()
        await store.aclose()


async def run_demo(question: str | None = None, tier: TierName = "full") -> int:
    panel = real_panel()
    question = question or DEMO_QUESTION
    print(_banner(panel))
    async with demo_stack(panel) as stack, aiohttp.ClientSession() as session:
        started = time.monotonic()
        reply = await send_slash_command(
            session,
            stack.app_url,
            SIGNING_SECRET,
            text=f"{tier} {question}",
            response_url=stack.slack.new_response_url(),
        )
        print(
            f"  0.00 s  /consult sent; Slack got HTTP {reply.status} back "
            f"in {reply.elapsed_s * 1000:.0f} ms"
        )
        if reply.status != 200:
            print(f"The app refused the command: {reply.body}")
            return 1
        if reply.body.strip():  # an ephemeral reply instead of a consult
            print(f"          reply to the asker: {reply.body}")
            return 1
        root = await _follow(stack.slack, started)
        print("\nThe thread, as it reads in Slack:\n")
        thread = stack.slack.thread(root.channel, root.ts)
        print(render_thread(thread, names={"U0ASKER": "dana"}))
        print(f"\nThe whole consult took {time.monotonic() - started:.1f} s.")
    return 0


async def _follow(slack: SlackSandbox, started: float) -> SandboxMessage:
    """Print each step as Slack sees it, until the consult is done."""
    seen = 0
    labels: dict[str, set[str]] = {"visible": set(), "complete": set()}
    while True:
        calls = await slack.wait_for(
            lambda s, seen=seen: s.calls[seen:] or None,
            CONSULT_TIMEOUT_S,
            what="a Slack call",
        )
        seen += len(calls)
        for call in calls:
            for line in _describe(call, labels):
                print(f"{call.at - started:6.2f} s  {line}")
        done = [m for m in slack.messages("C0DEMO") if _is_done(m)]
        if done:
            return done[0]


def _describe(call: ApiCall, labels: dict[str, set[str]]) -> list[str]:
    if call.error:
        return [f"{call.method} refused: {call.error}"]
    text = str(call.args.get("text", ""))
    if call.method == "chat.postMessage" and "thread_ts" not in call.args:
        return ["question posted in #eng-decisions"]
    if call.method == "chat.postMessage" and text.startswith("Synthesis"):
        return [f"synthesis posted: {text}"]
    if call.method == "chat.update" and "metadata" in call.args:
        return ["question marked done"]
    label, status = _answer_status(call)
    lines = []
    if label and label not in labels["visible"]:
        labels["visible"].add(label)
        if "did not answer" in status:
            labels["complete"].add(label)
            return [f"{label}: failed, and the thread says why"]
        lines.append(f"{label}: first text visible in the thread")
    final = "answering" not in status and "continued below" not in status
    if label and final and label not in labels["complete"]:
        labels["complete"].add(label)
        lines.append(f"{label}: answer complete")
    return lines


def _answer_status(call: ApiCall) -> tuple[str | None, str]:
    """An answer message's label and status line, from its first context block."""
    blocks = call.args.get("blocks") or [{}]
    elements = blocks[0].get("elements") or [{}]
    found = _TITLE.match(str(elements[0].get("text", "")))
    return (found.group(1), found.group(2)) if found else (None, "")


def _is_done(message: SandboxMessage) -> bool:
    return bool(message.metadata and message.metadata.get("event_type") == DONE_EVENT)


def _banner(panel: Panel | None) -> str:
    if panel is None:
        source = (
            "The answers are SCRIPTED: a local model server plays three models and "
            "a synthesis model,\nat different speeds, through litellm's real OpenAI "
            "client. Set OPENAI_API_KEY, ANTHROPIC_API_KEY\nor GEMINI_API_KEY to ask "
            "real models instead."
        )
    else:
        names = ", ".join(spec.label for spec in panel.tier("full"))
        source = f"Asking REAL models, with your API keys: {names}."
    where = "offline" if panel is None else "with real models, Slack still local"
    return (
        f"Quorum demo: a real /consult through the real Slack app, {where}.\n"
        "Slack is a local stand-in that records every call.\n"
        f"{source}\n"
    )
