"""Failing models, hostile input, secrets and forged requests, end to end:
signed /consult through the real app, the sandbox's Slack, litellm's real
client against the model server and llm-katan's failure injection."""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio
from conftest import LocalModelServer, running_katan
from slack_cases import (
    LABELS,
    SESSIONS,
    UNPACED,
    block_text,
    finished_thread,
    roomy_panel,
    slash_consult,
    watching_logs,
)

from bot.panel import ConsultLimits, ModelSpec, Panel, SynthesisSpec, Tiers
from bot.sandbox.demo import DemoStack, demo_stack
from bot.sandbox.model_server import Behavior, Pace, message_text
from bot.sandbox.scripts import DEEP, STEADY, SWIFT, SYNTHESIS_MODEL
from bot.sandbox.stress import markdown_of, unanimous_synthesis
from bot.slack.text import escape_mrkdwn

TIMEOUT = 40
FAST = {
    SWIFT: Behavior(Pace(0.05, 1000)),
    STEADY: Behavior(Pace(0.05, 1000)),
    DEEP: Behavior(Pace(0.05, 1000)),
    SYNTHESIS_MODEL: Behavior(Pace(0.05, 4000)),
}
ONE_MISSING = "Synthesis · Medium: 2 of 3 independent answers agree; 2 of 3 answered"


@pytest_asyncio.fixture
async def stack(redis_url: str) -> AsyncIterator[DemoStack]:
    async with demo_stack(
        behaviors=dict(FAST), redis_url=redis_url, slack_limits=UNPACED
    ) as running:
        yield running


def message_of(thread, label: str):
    return next(m for m in thread if m.text.startswith(f"{label}: "))


@pytest.mark.parametrize(
    ("behavior", "reason", "requests"),
    [
        pytest.param(
            Behavior(Pace(0.01, 500), fail_status=429),
            "rate limited by the provider",
            3,
            id="rate-limited-retried-twice",
        ),
        pytest.param(
            Behavior(Pace(0.01, 500), fail_status=500),
            "provider error (HTTP 500)",
            3,
            id="server-error-retried-twice",
        ),
        pytest.param(
            Behavior(Pace(0.01, 500), fail_status=400),
            "provider error (HTTP 400)",
            1,
            id="bad-request-not-retried",
        ),
    ],
)
async def test_a_failed_model_says_why_and_the_synthesis_names_it(
    stack, behavior, reason, requests
):
    stack.models.set_behavior(SWIFT, behavior)

    await slash_consult(stack, f"full {SESSIONS.question}")
    thread = await finished_thread(stack, TIMEOUT)

    swift = LABELS[SWIFT]
    assert f"{swift} failed: {reason}." in block_text(message_of(thread, swift))
    assert stack.models.request_count(SWIFT) == requests
    synthesis = thread[-1]
    assert synthesis.text == ONE_MISSING  # confidence counts the 2 who answered
    assert f":warning: {swift} failed ({reason})" in block_text(synthesis)


async def test_a_model_that_fails_once_before_any_text_is_asked_again(stack):
    stack.models.set_behavior(
        SWIFT, Behavior(Pace(0.01, 1000), fail_status=503, fail_first=1)
    )

    await slash_consult(stack, f"full {SESSIONS.question}")
    thread = await finished_thread(stack, TIMEOUT)

    assert stack.models.request_count(SWIFT) == 2
    answer = message_of(thread, LABELS[SWIFT])
    assert markdown_of(answer) == SESSIONS.answers[SWIFT].strip()
    assert thread[-1].text == "Synthesis · High: 3 of 3 independent answers agree"


@pytest.mark.parametrize(
    ("panel", "deep", "status"),
    [
        pytest.param(
            roomy_panel(consult=ConsultLimits(deadline_s=6, synthesis_reserve_s=4)),
            Behavior(Pace(4.0, 1000)),
            ":warning: did not answer\nDeep (scripted) failed: timed out after 2 s.",
            id="past-the-panel-deadline",
        ),
        pytest.param(
            roomy_panel(deep={"idle_timeout_s": 1}),
            Behavior(Pace(0.05, 1000), stall_after_chars=300),
            ":warning: failed: stalled: no text for 1 s · partial answer kept, "
            "incomplete",
            id="stalls-half-way",
        ),
    ],
)
async def test_a_slow_or_stalled_model_says_so_and_keeps_what_it_said(
    redis_url, panel, deep, status
):
    behaviors = {**FAST, DEEP: deep}
    async with demo_stack(
        behaviors=behaviors, redis_url=redis_url, panel_for=panel, slack_limits=UNPACED
    ) as stack:
        await slash_consult(stack, f"full {SESSIONS.question}")
        thread = await finished_thread(stack, TIMEOUT)

    label = LABELS[DEEP]
    message = message_of(thread, label)
    assert block_text(message).startswith(f"*{label}* · {status}")
    if deep.stall_after_chars:
        partial = SESSIONS.answers[DEEP][: deep.stall_after_chars]
        assert markdown_of(message) == partial
    synthesis = thread[-1]
    assert synthesis.text == ONE_MISSING
    assert f":warning: {label} failed (" in block_text(synthesis)


# ------------------------------ llm-katan ---------------------------------


@pytest.fixture(scope="module")
def latent_server(katan_workdir: Path) -> Iterator[LocalModelServer]:
    """Adds 5 s to every response: `--latency-ms`."""
    with running_katan(katan_workdir, "latent", "--latency-ms", "5000") as server:
        yield server


SERVER_ERROR = "provider error (HTTP 500)"
RATE_LIMITED = "rate limited by the provider"
KATAN_PANEL = [
    # alias, label, server fixture, provider, what its message must say
    ("gpt", "GPT (katan)", "healthy_server", "openai", None),
    ("claude", "Claude (katan)", "healthy_server", "anthropic", None),
    ("broken", "Broken (katan)", "failing_server", "openai", SERVER_ERROR),
    ("limited", "Limited (katan)", "rate_limited_server", "openai", RATE_LIMITED),
    ("late", "Late (katan)", "slow_server", "openai", "timed out after 3 s"),
    ("latent", "Latent (katan)", "latent_server", "anthropic", "timed out after 3 s"),
]


async def test_katan_failure_injection_through_the_real_app(
    request, make_spec, redis_url
):
    specs = {}
    for alias, label, fixture, provider, _ in KATAN_PANEL:
        server = request.getfixturevalue(fixture)
        spec = make_spec(alias, server, provider)
        specs[alias] = spec.model_copy(update={"label": label})

    def panel_for(api_base: str) -> Panel:
        synth = ModelSpec(
            alias="synth", model=f"openai/{SYNTHESIS_MODEL}", api_base=api_base
        )
        full = list(specs)
        return Panel(
            models={**specs, "synth": synth},
            tiers=Tiers(single=full[:1], dual=full[:2], full=full),
            synthesis=SynthesisSpec(model="synth"),
            consult=ConsultLimits(deadline_s=8, synthesis_reserve_s=5),
        )

    synth = Behavior(Pace(0.01, 4000), reply=unanimous_synthesis("AB"))
    with watching_logs() as logs:
        async with demo_stack(
            behaviors={SYNTHESIS_MODEL: synth},
            redis_url=redis_url,
            panel_for=panel_for,
            slack_limits=UNPACED,
        ) as stack:
            await slash_consult(stack, "full What is the capital of France?")
            thread = await finished_thread(stack, TIMEOUT)

    synthesis = block_text(thread[-1])
    for _, label, _, _, reason in KATAN_PANEL:
        message = message_of(thread, label)
        if reason is None:
            assert markdown_of(message).startswith("[echo] model=quorum-")
            continue
        assert f"{label} failed: {reason}." in block_text(message)
        assert f":warning: {label} failed ({reason})" in synthesis
    assert thread[-1].text == (
        "Synthesis · Low: no majority: at most 2 of 6 agree; 2 of 6 answered"
    )
    attempts = re.findall(r"outcome=(\w+) attempts=(\d+)", logs.text())
    assert sorted(attempts) == [
        ("ok", "1"),
        ("ok", "1"),
        ("provider_error", "3"),
        ("rate_limited", "3"),
        ("timeout", "1"),
        ("timeout", "1"),
    ]


# --------------------------- input and secrets ----------------------------


@pytest.mark.parametrize(
    ("typed", "sent_by_slack", "model_sees"),
    [
        pytest.param(
            "Is `a && b` < `c > d`? Ünïcödé 日本語 🚀🔥",
            None,
            "Is `a && b` < `c > d`? Ünïcödé 日本語 🚀🔥",
            id="entities-unicode-emoji",
        ),
        pytest.param(
            '```python\nif x < y and y > z:\n    print("&amp; stays")\n```',
            None,
            '```python\nif x < y and y > z:\n    print("&amp; stays")\n```',
            id="code-block",
        ),
        pytest.param(
            "ask dana about the docs",
            "ask <@U0ASKER|dana> about <https://example.com/a|the docs> in <#C1|eng>",
            "ask @dana about the docs (https://example.com/a) in #eng",
            id="mentions-links-channels",
        ),
    ],
)
async def test_the_question_reaches_the_model_as_typed(
    stack, typed, sent_by_slack, model_sees
):
    wire = sent_by_slack or escape_mrkdwn(typed)  # Slack escapes & < >

    await slash_consult(stack, f"single {wire}")
    thread = await finished_thread(stack, TIMEOUT)

    (asked,) = [r for r in stack.models.requests if r.model == SWIFT]
    assert message_text(asked.messages[-1]) == model_sees
    root = block_text(thread[0])
    assert escape_mrkdwn(model_sees).replace("\n", "\n>") in root  # escaped once


# Key-shaped strings are built at run time so none sits in the repository.
PROVIDER_KEY = "sk-" + "proj-" + "Zq7" * 12
SLACK_TOKEN = "xo" + "xb-" + "2024-1111-" + "k" * 20


@pytest.mark.parametrize("status", [401, 500])
async def test_a_key_in_a_provider_error_reaches_neither_logs_nor_slack(
    stack, status, capfd
):
    leaky = (
        f"Incorrect API key provided: {PROVIDER_KEY}. "
        f"Request had Authorization: Bearer {SLACK_TOKEN}"
    )
    stack.models.set_behavior(
        SWIFT, Behavior(Pace(0.01, 500), fail_status=status, fail_message=leaky)
    )

    with watching_logs(logging.DEBUG) as logs:
        await slash_consult(stack, f"full {SESSIONS.question}")
        thread = await finished_thread(stack, TIMEOUT)

    seen_by_slack = json.dumps([c.args for c in stack.slack.calls])
    seen_by_slack += json.dumps(stack.slack.responses)
    printed = "".join(capfd.readouterr())
    for secret in (PROVIDER_KEY, SLACK_TOKEN, stack.slack.token):
        assert secret not in logs.text()
        assert secret not in seen_by_slack
        assert secret not in printed
    assert "[redacted]" in logs.text()  # the detail was logged, blanked
    assert f"{LABELS[SWIFT]} failed: " in block_text(message_of(thread, LABELS[SWIFT]))


# ---------------------------- signed requests -----------------------------


@pytest.mark.parametrize(
    ("secret", "age_s"),
    [
        pytest.param("not-the-secret", 0, id="bad-signature"),
        pytest.param(None, 6 * 60, id="six-minutes-old"),
        pytest.param(None, -6 * 60, id="six-minutes-ahead"),
    ],
)
async def test_a_forged_or_stale_request_gets_401_and_starts_nothing(
    stack, secret, age_s
):
    options = {"timestamp": int(time.time()) - age_s}
    if secret:
        options["secret"] = secret

    reply = await slash_consult(stack, f"full {SESSIONS.question}", **options)

    assert reply.status == 401
    assert stack.models.request_count() == 0
    assert stack.slack.calls == []
    assert stack.slack.responses == []
