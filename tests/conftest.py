"""Shared fixtures for Quorum's tests."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import pytest_asyncio
from aiohttp import web

from bot.panel import ModelSpec, parse_panel
from bot.store import Store, ThreadRef, open_store

# ---------------------------------------------------------------------------
# Local model servers and panel specs (used by test_fanout.py)
#
# Every model call in these tests goes through litellm's real provider code to
# a server on loopback: llm-katan (echo backend, OpenAI, Anthropic and Gemini
# wire formats, failure injection), plus one small server of our own for the
# one failure katan cannot show, a stream that goes silent mid-answer.
# ---------------------------------------------------------------------------

KATAN = Path(sys.executable).with_name("llm-katan")
KATAN_START_TIMEOUT_S = 30.0
TEST_KEY_ENV = "QUORUM_TEST_MODEL_KEY"
TEST_KEY = "test-key"

# USD per million tokens; models built without a price get a name litellm does
# not know, so their cost is unknown.
PRICES = {"openai": (0.15, 0.6), "anthropic": (0.8, 4.0), "gemini": (0.3, 2.5)}
UNPRICED_MODEL = "quorum-house-model"
PRICED_MODEL = "quorum-echo"


@dataclass(frozen=True)
class LocalModelServer:
    """A model server on loopback; `name` is the model it says it serves.

    `ttft_s` is how long it waits before its first token; `text_before_stall`
    is what it streams before going silent, if it does.
    """

    name: str
    port: int
    ttft_s: float = 0.0
    text_before_stall: str = ""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def api_base(self, provider: str) -> str:
        """The api_base litellm needs for `provider` against this server."""
        paths = {"openai": "/v1", "anthropic": "", "gemini": "/v1beta"}
        return self.url + paths[provider]


def build_spec(
    alias: str,
    server: LocalModelServer,
    provider: str,
    *,
    priced: bool = True,
    **options: float,
) -> ModelSpec:
    """A `ModelSpec` for `server`, read from TOML by `parse_panel` like quorum.toml.

    `options` are numeric keys of the model table, such as `timeout_s`.
    """
    model = PRICED_MODEL if priced else UNPRICED_MODEL
    table = [
        f"[models.{alias}]",
        f"model = {json.dumps(f'{provider}/{model}')}",
        f"api_base = {json.dumps(server.api_base(provider))}",
        f"api_key_env = {json.dumps(TEST_KEY_ENV)}",
    ]
    if priced:
        cost_in, cost_out = PRICES[provider]
        table += [
            f"input_cost_per_mtok = {cost_in}",
            f"output_cost_per_mtok = {cost_out}",
        ]
    if provider == "gemini":  # katan's Gemini endpoint wants an Authorization header
        table.append(f'headers = {{ "Authorization" = "Bearer {TEST_KEY}" }}')
    table += [f"{key} = {value!r}" for key, value in options.items()]
    rest = [
        "[tiers]",
        *(f'{tier} = ["{alias}"]' for tier in ("single", "dual", "full")),
        "[synthesis]",
        f'model = "{alias}"',
    ]
    panel = parse_panel("\n".join(table + rest), source="tests")
    return panel.models[alias]


@pytest.fixture
def make_spec(monkeypatch: pytest.MonkeyPatch) -> Callable[..., ModelSpec]:
    """`build_spec`, with the fake API key its specs name set in the environment."""
    monkeypatch.setenv(TEST_KEY_ENV, TEST_KEY)
    return build_spec


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _serves(port: int, name: str) -> bool | None:
    """True if our katan answers on `port`, False if another server does."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
            return json.load(r).get("model") == name
    except (OSError, ValueError):
        return None


def _wait_until_serving(process: subprocess.Popen, port: int, name: str) -> bool:
    deadline = time.monotonic() + KATAN_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False  # it exited, most likely because the port was taken
        serving = _serves(port, name)
        if serving is not None:
            return serving
        time.sleep(0.05)  # a starting subprocess has no event to wait on
    return False


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@contextmanager
def running_katan(
    workdir: Path, role: str, *flags: str, ttft_s: float = 0.0
) -> Iterator[LocalModelServer]:
    """Start llm-katan with `flags` on a free port; stop it on exit."""
    name = f"quorum-{role}-{uuid.uuid4().hex[:6]}"
    log_path = workdir / f"katan-{role}.log"
    for _attempt in range(3):  # another process may grab the free port first
        port = _free_port()
        command = [
            str(KATAN),
            *("--model", name, "--backend", "echo"),
            *("--providers", "openai,anthropic,vertexai"),
            *("--host", "127.0.0.1", "--port", str(port)),
            *("--max-concurrent", "16", "--disable-dashboard"),
            *("--stats-file", str(workdir / f"katan-{role}-stats.json")),
            *flags,
        ]
        with log_path.open("ab") as log:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        if _wait_until_serving(process, port, name):
            break
        _stop(process)
    else:
        log = log_path.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"llm-katan ({role}) did not start:\n{log}")
    try:
        yield LocalModelServer(name=name, port=port, ttft_s=ttft_s)
    finally:
        _stop(process)


@pytest.fixture(scope="session")
def katan_workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("katan")


@pytest.fixture(scope="session")
def healthy_server(katan_workdir: Path) -> Iterator[LocalModelServer]:
    with running_katan(katan_workdir, "healthy") as server:
        yield server


@pytest.fixture(scope="session")
def failing_server(katan_workdir: Path) -> Iterator[LocalModelServer]:
    """Answers every request with HTTP 500."""
    with running_katan(katan_workdir, "failing", "--error-rate", "1.0") as server:
        yield server


@pytest.fixture(scope="session")
def slow_server(katan_workdir: Path) -> Iterator[LocalModelServer]:
    """Takes 2 s before its first token (twice that on the OpenAI path)."""
    flags = ("--ttft-ms", "2000")
    with running_katan(katan_workdir, "slow", *flags, ttft_s=2.0) as server:
        yield server


@pytest.fixture(scope="session")
def stalling_server(katan_workdir: Path) -> Iterator[LocalModelServer]:
    """Waits 2 s before every streamed chunk, the first included (OpenAI path only)."""
    with running_katan(katan_workdir, "stalling", "--itl-ms", "2000") as server:
        yield server


@pytest.fixture(scope="session")
def dripping_server(katan_workdir: Path) -> Iterator[LocalModelServer]:
    """Streams one 4-character chunk every 0.3 s (OpenAI path only)."""
    with running_katan(katan_workdir, "dripping", "--itl-ms", "300") as server:
        yield server


@pytest.fixture(scope="session")
def rate_limited_server(katan_workdir: Path) -> Iterator[LocalModelServer]:
    """Answers HTTP 429 to every model call.

    katan rate-limits after N requests with N >= 1, so the one allowed request
    is spent here, before any test runs.
    """
    with running_katan(katan_workdir, "limited", "--rate-limit-after", "1") as server:
        spend = urllib.request.Request(
            f"{server.api_base('openai')}/chat/completions",
            data=json.dumps(
                {"model": server.name, "messages": [{"role": "user", "content": "hi"}]}
            ).encode(),
            headers={
                "Content-Type": "application/json",
                "Authorization": f"Bearer {TEST_KEY}",
            },
        )
        with urllib.request.urlopen(spend, timeout=10) as response:
            assert response.status == 200
        yield server


def _sse(text: str | None, name: str) -> bytes:
    delta = {"role": "assistant", "content": ""} if text is None else {"content": text}
    chunk = {
        "id": "chatcmpl-stall",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": name,
        "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
    }
    return f"data: {json.dumps(chunk)}\n\n".encode()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def mid_stream_stall_server() -> AsyncIterator[LocalModelServer]:
    """An OpenAI-format server that streams a few words, then goes silent.

    katan delays every chunk alike, the first included, so it cannot show a
    model that stops halfway through an answer.
    """
    name = "quorum-stall-midway"
    chunks = ("Paris ", "is the ", "capital")
    release = asyncio.Event()

    async def chat_completions(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(_sse(None, name))
        for text in chunks:
            await response.write(_sse(text, name))
        await release.wait()  # silent until the session ends
        return response

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat_completions)
    runner = web.AppRunner(app, shutdown_timeout=1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield LocalModelServer(name=name, port=port, text_before_stall="".join(chunks))
    finally:
        release.set()
        await runner.cleanup()


# --------------------------- end of model servers --------------------------


# ---------------------------------------------------------------------------
# Redis (used by test_store.py, test_dedupe.py and test_memory.py)
#
# A real Redis server, so redis-py's real client, pipelines and Lua run:
# $REDIS_URL when set, else a throwaway redis-server on a free port for this
# session, else the Redis tests are skipped with the reason. Nothing is ever
# flushed: each test writes under its own team id and event-id prefix and
# deletes exactly those keys afterwards, so a developer's data is safe.
# ---------------------------------------------------------------------------

REDIS_START_TIMEOUT_S = 10.0
REDIS_READY = "Ready to accept connections"


def _watch_until_ready(process: subprocess.Popen, timeout: float) -> bool:
    """Read redis-server's log on a thread, until it says it is ready or exits.

    The thread then keeps reading, so a full pipe never stalls the server.
    """
    assert process.stdout is not None
    ready = threading.Event()

    def read() -> None:
        for line in process.stdout:
            if REDIS_READY in line:
                ready.set()
        ready.set()  # it exited: wake the waiter, which sees it is not running

    threading.Thread(target=read, daemon=True).start()
    return ready.wait(timeout) and process.poll() is None


@contextmanager
def running_redis_server(workdir: Path) -> Iterator[str]:
    """Start a throwaway redis-server on a free port; yield its URL; stop it."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip(
            "Redis tests need a Redis server: set REDIS_URL, or install "
            "redis-server (apt-get install redis-server)"
        )
    for _attempt in range(3):  # another process may grab the free port first
        port = _free_port()
        command = [
            binary,
            *("--port", str(port), "--bind", "127.0.0.1"),
            *("--save", "", "--appendonly", "no", "--dir", str(workdir)),
        ]
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        if _watch_until_ready(process, REDIS_START_TIMEOUT_S):
            break
        _stop(process)
    else:
        raise RuntimeError(f"redis-server did not start on a free port ({command})")
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        _stop(process)


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Redis server's URL: $REDIS_URL, else a throwaway server of our own."""
    configured = os.environ.get("REDIS_URL")
    if configured:
        yield configured
        return
    with running_redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture(scope="session", autouse=True)
def _isolated_redis(redis_url: str) -> Iterator[None]:
    """Every app a test starts (subprocesses too) uses the tests' Redis, never
    a developer's Redis on the default port."""
    previous = os.environ.get("REDIS_URL")
    os.environ["REDIS_URL"] = redis_url
    yield
    if previous is None:
        os.environ.pop("REDIS_URL", None)
    else:
        os.environ["REDIS_URL"] = previous


@pytest.fixture
def dead_redis_url() -> str:
    """A loopback URL where nothing listens (a port just freed)."""
    return f"redis://127.0.0.1:{_free_port()}/0"


@dataclass(frozen=True)
class RedisSpace:
    """Ids no other test uses, so each test's keys are its own."""

    token: str
    channel: str = "C0TESTS"

    @property
    def team(self) -> str:
        return f"T{self.token}"

    def thread(self, ts: str = "1700000000.000100") -> ThreadRef:
        return ThreadRef(team=self.team, channel=self.channel, thread_ts=ts)

    def event_id(self, n: int = 0) -> str:
        return f"Ev{self.token}x{n}"

    @property
    def patterns(self) -> tuple[str, ...]:
        """SCAN patterns matching every key this test can write."""
        return (f"quorum:{{{self.team}:*", f"quorum:event:Ev{self.token}x*")


@pytest.fixture
def redis_space() -> RedisSpace:
    return RedisSpace(token=uuid.uuid4().hex[:12].upper())


@pytest_asyncio.fixture
async def store(redis_url: str, redis_space: RedisSpace) -> AsyncIterator[Store]:
    """A store on the real Redis server; this test's keys are deleted after it."""
    opened = await open_store(redis_url)
    try:
        yield opened
    finally:
        for pattern in redis_space.patterns:
            keys = [key async for key in opened.redis.scan_iter(match=pattern)]
            if keys:
                await opened.redis.delete(*keys)
        await opened.aclose()


@pytest_asyncio.fixture
async def other_store(redis_url: str) -> AsyncIterator[Store]:
    """A second, separate client of the same server: another process's view."""
    opened = await open_store(redis_url)
    try:
        yield opened
    finally:
        await opened.aclose()


# ------------------------------- end of Redis ------------------------------
