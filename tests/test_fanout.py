"""ask_panel against local model servers, through litellm's real provider code."""

from __future__ import annotations

import asyncio
import math
import time
from contextlib import aclosing
from dataclasses import dataclass
from decimal import Decimal

import pytest

from bot.errors import redact
from bot.fanout import (
    AnswerDelta,
    AnswerFailed,
    AnswerFinished,
    AnswerStarted,
    ModelRequest,
    PanelEvent,
    ask_panel,
)
from bot.panel import ModelSpec

QUESTION = "What is the capital of France?"
PANEL_TIMEOUT_S = 20  # a hung fan-out fails its test instead of hanging the run


@dataclass(frozen=True)
class Timeline:
    """Every event a fan-out yielded, in order, with the time it arrived."""

    events: list[tuple[float, PanelEvent]]

    def of(self, alias: str) -> list[PanelEvent]:
        return [event for _, event in self.events if event.alias == alias]

    def streamed_text(self, alias: str) -> str:
        return "".join(e.text for e in self.of(alias) if isinstance(e, AnswerDelta))

    def end(self, alias: str) -> AnswerFinished | AnswerFailed:
        (end,) = [
            e for e in self.of(alias) if isinstance(e, AnswerFinished | AnswerFailed)
        ]
        return end

    def index(self, alias: str, kind: type) -> int:
        """Position of the first `kind` event for `alias`."""
        return next(
            i
            for i, (_, event) in enumerate(self.events)
            if event.alias == alias and isinstance(event, kind)
        )

    @property
    def span_s(self) -> float:
        return self.events[-1][0] - self.events[0][0]


async def run_panel(
    specs: list[ModelSpec], *, deadline_s: float | None = None
) -> Timeline:
    requests = [ModelRequest(s, [{"role": "user", "content": QUESTION}]) for s in specs]
    events = []
    async with asyncio.timeout(PANEL_TIMEOUT_S):
        async with aclosing(ask_panel(requests, deadline_s=deadline_s)) as stream:
            async for event in stream:
                events.append((time.monotonic(), event))
    return Timeline(events)


def echo_of(server_name: str, text: str) -> bool:
    """Whether `text` is katan's echo of QUESTION from the server `server_name`."""
    return text.startswith(f"[echo] model={server_name} ") and text.endswith(
        f"\nUser: {QUESTION}"
    )


def assert_answered(timeline: Timeline, alias: str, server_name: str) -> None:
    answer = timeline.end(alias)
    assert isinstance(answer, AnswerFinished), answer
    assert answer.text == timeline.streamed_text(alias)
    assert echo_of(server_name, answer.text), answer.text


@pytest.mark.parametrize(
    ("provider", "priced"),
    [
        ("openai", True),
        ("anthropic", True),
        ("gemini", True),
        ("gemini", False),
        ("openai", False),
    ],
)
async def test_one_model_streams_through_each_provider(
    provider, priced, make_spec, healthy_server
):
    spec = make_spec("solo", healthy_server, provider, priced=priced)

    timeline = await run_panel([spec])

    first, *middle, last = timeline.of("solo")
    assert first == AnswerStarted("solo", spec.label)
    assert len(middle) > 1 and all(isinstance(e, AnswerDelta) for e in middle)
    assert isinstance(last, AnswerFinished)
    assert last.text == "".join(delta.text for delta in middle)
    assert echo_of(healthy_server.name, last.text), last.text
    # katan counts words as tokens
    assert last.prompt_tokens == len(QUESTION.split())
    assert last.completion_tokens == len(last.text.split())
    if priced:
        exact = last.prompt_tokens * Decimal(str(spec.input_cost_per_mtok))
        exact += last.completion_tokens * Decimal(str(spec.output_cost_per_mtok))
        assert last.cost_micros == math.ceil(exact)
    else:
        assert last.cost_micros is None
    assert last.truncated is False


@pytest.mark.parametrize("broken_provider", ["openai", "anthropic", "gemini"])
async def test_a_failing_model_leaves_the_others_alone(
    broken_provider, make_spec, healthy_server, failing_server
):
    healthy = {"gpt": "openai", "claude": "anthropic", "gemini": "gemini"}
    specs = [make_spec(a, healthy_server, p) for a, p in healthy.items()]
    specs.append(make_spec("broken", failing_server, broken_provider))

    timeline = await run_panel(specs)

    failures = [e for _, e in timeline.events if isinstance(e, AnswerFailed)]
    assert [(f.alias, f.reason, f.kind, f.partial_text) for f in failures] == [
        ("broken", "provider error (HTTP 500)", "provider_error", "")
    ]
    assert timeline.streamed_text("broken") == ""
    for alias in healthy:
        assert_answered(timeline, alias, healthy_server.name)


async def test_the_panel_is_asked_concurrently(make_spec, healthy_server, slow_server):
    fast = ["gpt", "claude"]
    slow = ["claude-slow", "gemini-slow"]
    specs = [
        make_spec("gpt", healthy_server, "openai"),
        make_spec("claude", healthy_server, "anthropic"),
        make_spec("claude-slow", slow_server, "anthropic"),
        make_spec("gemini-slow", slow_server, "gemini"),
    ]

    timeline = await run_panel(specs)

    for alias in fast:
        assert_answered(timeline, alias, healthy_server.name)
    for alias in slow:
        assert_answered(timeline, alias, slow_server.name)
    slow_starts = min(timeline.index(alias, AnswerDelta) for alias in slow)
    assert all(timeline.index(a, AnswerFinished) < slow_starts for a in fast)
    # asked one after another, the fan-out would take the sum of the latencies
    latencies = [timeline.end(alias).latency_s for alias in fast + slow]
    assert min(latencies[2:]) >= slow_server.ttft_s
    assert timeline.span_s < sum(latencies) - slow_server.ttft_s


@pytest.mark.parametrize(
    ("timeout_s", "deadline_s"),
    [
        (1, None),  # the model's own timeout
        (120, 1),  # the deadline of the whole fan-out
    ],
)
async def test_a_model_past_its_deadline_fails_as_timeout(
    timeout_s, deadline_s, make_spec, healthy_server, slow_server
):
    specs = [
        make_spec("gpt", healthy_server, "openai"),
        make_spec("gemini", healthy_server, "gemini"),
        make_spec("slow", slow_server, "anthropic", timeout_s=timeout_s),
    ]

    timeline = await run_panel(specs, deadline_s=deadline_s)

    failed = timeline.end("slow")
    assert isinstance(failed, AnswerFailed)
    assert (failed.kind, failed.reason, failed.partial_text) == (
        "timeout",
        "timed out after 1 s",
        "",
    )
    assert 1 <= failed.latency_s < slow_server.ttft_s  # it did not wait for it
    assert_answered(timeline, "gpt", healthy_server.name)
    assert_answered(timeline, "gemini", healthy_server.name)


async def test_a_deadline_mid_answer_keeps_the_partial_text(
    make_spec, healthy_server, dripping_server
):
    specs = [
        make_spec("gpt", healthy_server, "openai"),
        make_spec("drip", dripping_server, "openai"),
    ]

    timeline = await run_panel(specs, deadline_s=1)

    failed = timeline.end("drip")
    assert isinstance(failed, AnswerFailed)
    assert (failed.kind, failed.reason) == ("timeout", "timed out after 1 s")
    assert failed.partial_text == timeline.streamed_text("drip")
    assert f"[echo] model={dripping_server.name}".startswith(failed.partial_text)
    assert failed.partial_text.startswith("[echo]")  # some text had arrived
    assert_answered(timeline, "gpt", healthy_server.name)


# katan's stalling server waits before its first chunk too, so it stalls with
# nothing said; the mid-stream one stalls after a few words.
@pytest.mark.parametrize("server", ["katan", "mid-stream"])
async def test_a_model_that_stalls_fails_as_stalled(
    server, make_spec, healthy_server, stalling_server, mid_stream_stall_server
):
    stalling = {"katan": stalling_server, "mid-stream": mid_stream_stall_server}[server]
    specs = [
        make_spec("claude", healthy_server, "anthropic"),
        make_spec("stuck", stalling, "openai", idle_timeout_s=1),
    ]

    timeline = await run_panel(specs)

    failed = timeline.end("stuck")
    assert isinstance(failed, AnswerFailed)
    assert (failed.kind, failed.reason, failed.partial_text) == (
        "stalled",
        "stalled: no text for 1 s",
        stalling.text_before_stall,
    )
    assert timeline.streamed_text("stuck") == stalling.text_before_stall
    assert_answered(timeline, "claude", healthy_server.name)


@pytest.mark.parametrize(
    "provider",
    [
        "openai",
        "anthropic",
        "gemini",
    ],
)
async def test_a_rate_limited_model_says_so(
    provider, make_spec, healthy_server, rate_limited_server
):
    specs = [
        make_spec("gpt", healthy_server, "openai"),
        make_spec("limited", rate_limited_server, provider),
    ]

    timeline = await run_panel(specs)

    failed = timeline.end("limited")
    assert isinstance(failed, AnswerFailed)
    assert (failed.reason, failed.kind) == (
        "rate limited by the provider",
        "rate_limited",
    )
    assert_answered(timeline, "gpt", healthy_server.name)


# Key-shaped strings are built at run time so none sits in the repository.
OPENAI_KEY = "sk-" + "a" * 24
OPENAI_PROJECT_KEY = "sk-" + "proj-" + "b" * 30
SLACK_BOT_TOKEN = "xo" + "xb-" + "1234567890-9876543210"
OPAQUE_TOKEN = "ya29" + ".c-0dE_fGh"
ANTHROPIC_KEY = "ant-" + "c" * 20


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        (
            f"Incorrect API key provided: {OPENAI_KEY}. Find your key in settings.",
            OPENAI_KEY,
        ),
        (f"{{'Authorization': 'Bearer {OPENAI_PROJECT_KEY}'}}", OPENAI_PROJECT_KEY),
        (f"SlackApiError: token {SLACK_BOT_TOKEN} was revoked", SLACK_BOT_TOKEN),
        (f"request headers: Authorization: Bearer {OPAQUE_TOKEN}", OPAQUE_TOKEN),
        (f"bearer {OPAQUE_TOKEN}", OPAQUE_TOKEN),
        (f'{{"x-api-key": "{ANTHROPIC_KEY}", "accept": "json"}}', ANTHROPIC_KEY),
        (f"x-api-key: {ANTHROPIC_KEY}\nretry-after: 3", ANTHROPIC_KEY),
    ],
)
def test_redact_leaves_no_secret(text, secret):
    redacted = redact(text)

    assert secret not in redacted
    assert "[redacted]" in redacted


@pytest.mark.parametrize(
    "text",
    [
        "litellm.RateLimitError: rate limit exceeded",
        'litellm.NotFoundError: model "gpt-5-mini" does not exist',
        "provider error (HTTP 500)",
    ],
)
def test_redact_leaves_plain_text_alone(text):
    assert redact(text) == text
