"""The local model server and its scripts, driven through litellm's OpenAI path."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import math
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from types import ModuleType
from typing import Any

import aiohttp
import pytest

from bot.llm import configured_litellm
from bot.prompts import SYNTHESIS_SYSTEM, panelist_messages, synthesis_messages
from bot.sandbox.model_server import Behavior, ModelServer, Pace
from bot.sandbox.scripts import (
    DEEP,
    DEMO_BEHAVIORS,
    DEMO_BOOK,
    NO_SCRIPT_VERDICT,
    PANEL_MODELS,
    STEADY,
    SWIFT,
    SYNTHESIS_MODEL,
    UNMATCHED_VERDICT,
    Script,
    unscripted_answer,
)

litellm: ModuleType = configured_litellm()

FAST = Behavior(Pace(ttft_s=0.0, tokens_per_s=1_000_000))
SESSIONS = DEMO_BOOK["sessions"]
SYNTHESIS_KEYS = {
    "verdict_groups",
    "agreement",
    "disagreements",
    "unique_insights",
    "uncertain_answers",
    "recommended_action",
}


@dataclass(frozen=True)
class Streamed:
    text: str
    usage: Any
    finish_reason: str | None


@pytest.fixture
async def server() -> AsyncIterator[ModelServer]:
    async with ModelServer(DEMO_BOOK, default=FAST) as running:
        yield running


async def ask(
    server: ModelServer,
    model: str,
    messages: list[dict[str, str]],
    **options: Any,
) -> Any:
    return await litellm.acompletion(
        model=f"openai/{model}",
        api_base=server.base_url,
        api_key="test-key",
        messages=messages,
        max_retries=0,
        **options,
    )


async def stream(
    server: ModelServer, model: str, question: str, **options: Any
) -> Streamed:
    response = await ask(
        server,
        model,
        panelist_messages(question),
        stream=True,
        stream_options={"include_usage": True},
        **options,
    )
    text, usage, finish_reason = "", None, None
    async for chunk in response:
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
            finish_reason = chunk.choices[0].finish_reason or finish_reason
        usage = getattr(chunk, "usage", None) or usage
    return Streamed(text, usage, finish_reason)


def prompt_tokens(messages: list[dict[str, str]]) -> int:
    return math.ceil(sum(len(m["content"]) for m in messages) / 4)


# Serving, through litellm.


@pytest.mark.parametrize(
    ("key", "model"),
    list(itertools.product([s.key for s in DEMO_BOOK.scripts], PANEL_MODELS)),
)
async def test_stream_serves_the_scripted_answer_with_usage(
    server: ModelServer, key: str, model: str
) -> None:
    script = DEMO_BOOK[key]
    answer = script.answers[model]

    result = await stream(server, model, script.question)

    assert result.text == answer
    assert result.finish_reason == "stop"
    assert result.usage.completion_tokens == math.ceil(len(answer) / 4)
    assert result.usage.prompt_tokens == prompt_tokens(
        panelist_messages(script.question)
    )
    assert result.usage.total_tokens == (
        result.usage.completion_tokens + result.usage.prompt_tokens
    )


async def sse_events(
    server: ModelServer, model: str, body: dict[str, Any]
) -> list[Any]:
    """The raw `data:` payloads of one streamed reply, as the wire carries them."""
    request = {"model": model, "messages": panelist_messages(SESSIONS.question)}
    async with (
        aiohttp.ClientSession() as http,
        http.post(
            f"{server.base_url}/chat/completions", json={**request, **body}
        ) as response,
    ):
        raw = await response.text()
    payloads = [line.removeprefix("data: ") for line in raw.split("\n\n") if line]
    return [p if p == "[DONE]" else json.loads(p) for p in payloads]


@pytest.mark.parametrize(
    ("include_usage", "omit_usage", "usage_chunks"),
    [(True, False, 1), (True, True, 0), (False, False, 0), (False, True, 0)],
)
async def test_usage_chunk_follows_stream_options_and_behavior(
    server: ModelServer, include_usage: bool, omit_usage: bool, usage_chunks: int
) -> None:
    server.set_behavior(SWIFT, replace(FAST, omit_usage=omit_usage))
    body = {"stream": True, "stream_options": {"include_usage": include_usage}}

    events = await sse_events(server, SWIFT, body)

    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"]]
    assert [f for f in finishes if f] == ["stop"]
    usage = [c["usage"] for c in chunks if "usage" in c]
    prompt = prompt_tokens(panelist_messages(SESSIONS.question))
    completion = math.ceil(len(SESSIONS.answers[SWIFT]) / 4)
    expected = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    assert usage == [expected] * usage_chunks


async def test_litellm_estimates_usage_the_stream_omits(server: ModelServer) -> None:
    """When the provider sends no usage, litellm counts with its own tokenizer."""
    server.set_behavior(SWIFT, replace(FAST, omit_usage=True))

    result = await stream(server, SWIFT, SESSIONS.question)

    assert result.text == SESSIONS.answers[SWIFT]
    assert result.usage.completion_tokens != math.ceil(len(result.text) / 4)


async def test_whole_completion_carries_text_and_usage(server: ModelServer) -> None:
    messages = panelist_messages(SESSIONS.question)

    response = await ask(server, DEEP, messages)

    assert response.choices[0].message.content == SESSIONS.answers[DEEP]
    assert response.choices[0].finish_reason == "stop"
    assert response.usage.prompt_tokens == prompt_tokens(messages)
    assert response.usage.completion_tokens == math.ceil(
        len(SESSIONS.answers[DEEP]) / 4
    )


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (400, litellm.BadRequestError),
        (401, litellm.AuthenticationError),
        (404, litellm.NotFoundError),
        (429, litellm.RateLimitError),
        (500, litellm.InternalServerError),
        (502, litellm.BadGatewayError),
        (503, litellm.ServiceUnavailableError),
    ],
)
@pytest.mark.parametrize("streamed", [True, False])
async def test_fail_status_reaches_litellm_as_its_error_class(
    server: ModelServer, status: int, error_class: type, streamed: bool
) -> None:
    server.set_behavior(STEADY, replace(FAST, fail_status=status))

    with pytest.raises(error_class) as caught:
        await ask(server, STEADY, panelist_messages("anything"), stream=streamed)

    assert caught.value.status_code == status
    assert "scripted failure" in str(caught.value)
    assert server.request_count(STEADY) == 1  # max_retries=0: no silent retry


async def next_text(chunks: AsyncIterator[Any]) -> str:
    """The next non-empty piece of text from a litellm stream."""
    async for chunk in chunks:
        if chunk.choices and chunk.choices[0].delta.content:
            return chunk.choices[0].delta.content
    raise AssertionError("the stream ended")


@pytest.mark.parametrize("stall_after", [0, 1, 50, 333])
async def test_stall_sends_the_prefix_then_nothing(
    server: ModelServer, stall_after: int
) -> None:
    server.set_behavior(SWIFT, replace(FAST, stall_after_chars=stall_after))
    response = await ask(
        server, SWIFT, panelist_messages(SESSIONS.question), stream=True
    )
    chunks = aiter(response)

    text = ""
    while len(text) < stall_after:
        text += await asyncio.wait_for(next_text(chunks), timeout=2)

    assert text == SESSIONS.answers[SWIFT][:stall_after]
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(next_text(chunks), timeout=0.2)
    await asyncio.wait_for(server.stop(), timeout=2)  # must not hang on the stall


@pytest.mark.parametrize("max_tokens", [1, 10, 57])
@pytest.mark.parametrize("streamed", [True, False])
async def test_max_tokens_cuts_the_answer(
    server: ModelServer, max_tokens: int, streamed: bool
) -> None:
    expected = SESSIONS.answers[STEADY][: max_tokens * 4]

    if streamed:
        result = await stream(server, STEADY, SESSIONS.question, max_tokens=max_tokens)
    else:
        response = await ask(
            server,
            STEADY,
            panelist_messages(SESSIONS.question),
            max_tokens=max_tokens,
        )
        choice = response.choices[0]
        result = Streamed(choice.message.content, response.usage, choice.finish_reason)

    assert (result.text, result.finish_reason) == (expected, "length")
    assert result.usage.completion_tokens == max_tokens


async def test_request_is_recorded_with_its_messages(server: ModelServer) -> None:
    before = time.monotonic()

    await stream(server, DEEP, SESSIONS.question, max_tokens=300)

    [recorded] = server.requests
    assert recorded.model == DEEP
    assert recorded.messages == panelist_messages(SESSIONS.question)
    assert (recorded.stream, recorded.max_tokens, recorded.include_usage) == (
        True,
        300,
        True,
    )
    assert before <= recorded.received_at <= time.monotonic()
    assert (server.request_count(DEEP), server.request_count(SWIFT)) == (1, 0)
    assert server.request_count() == 1


async def test_wait_for_requests_returns_once_they_arrive(
    server: ModelServer,
) -> None:
    server.set_behavior(DEEP, replace(FAST, stall_after_chars=0))
    pending = asyncio.create_task(stream(server, DEEP, SESSIONS.question))

    await asyncio.wait_for(server.wait_for_requests(1, model=DEEP), timeout=2)

    assert server.request_count(DEEP) == 1
    pending.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await pending


async def test_synthesis_request_gets_the_relabelled_synthesis(
    server: ModelServer,
) -> None:
    queue = DEMO_BOOK["queue"]
    labelled = [("A", queue.answers[STEADY]), ("B", queue.answers[DEEP])]

    response = await ask(
        server, SYNTHESIS_MODEL, synthesis_messages(queue.question, labelled)
    )

    synthesis = json.loads(response.choices[0].message.content)
    assert synthesis["verdict_groups"] == [
        {"verdict": queue.synthesis["verdict_groups"][0]["verdict"], "answers": ["B"]},
        {"verdict": queue.synthesis["verdict_groups"][1]["verdict"], "answers": ["A"]},
    ]


async def test_synthesis_retry_still_reads_the_answers(server: ModelServer) -> None:
    labelled = [("A", SESSIONS.answers[SWIFT])]
    messages = synthesis_messages(SESSIONS.question, labelled)
    messages += [
        {"role": "assistant", "content": "not json"},
        {"role": "user", "content": "Your reply could not be used. Reply again."},
    ]

    response = await ask(server, SYNTHESIS_MODEL, messages)

    groups = json.loads(response.choices[0].message.content)["verdict_groups"]
    assert [group["answers"] for group in groups] == [["A"]]


async def test_models_endpoint_lists_served_names() -> None:
    behaviors = {"extra-model": FAST}
    async with (
        ModelServer(DEMO_BOOK, behaviors) as running,
        aiohttp.ClientSession() as http,
        http.get(f"{running.base_url}/models") as response,
    ):
        listing = await response.json()

    names = [entry["id"] for entry in listing["data"]]
    assert names == sorted([*PANEL_MODELS, SYNTHESIS_MODEL, "extra-model"])


async def test_pace_holds_back_the_first_token_and_chunks_the_text(
    server: ModelServer,
) -> None:
    pace = Pace(ttft_s=0.15, tokens_per_s=4000)
    server.set_behavior(SWIFT, Behavior(pace))
    answer = SESSIONS.answers[SWIFT]
    started = time.monotonic()
    response = await ask(
        server, SWIFT, panelist_messages(SESSIONS.question), stream=True
    )

    arrivals = []
    async for chunk in response:
        if chunk.choices and chunk.choices[0].delta.content:
            arrivals.append(time.monotonic() - started)

    assert arrivals[0] >= pace.ttft_s
    assert arrivals[-1] >= pace.offset_s(3 * (len(arrivals) - 1))
    assert len(arrivals) == math.ceil(len(answer) / 12)  # three tokens a chunk


# The scripts and their synthesis.


def in_order(script: Script, models: tuple[str, ...]) -> list[tuple[str, str]]:
    """The script's answers from `models`, labelled A, B, C in that order."""
    return [("ABC"[i], script.answers[model]) for i, model in enumerate(models)]


def synthesis_of(script: Script, labelled: list[tuple[str, str]]) -> dict[str, Any]:
    [_, user] = synthesis_messages(script.question, labelled)
    return json.loads(DEMO_BOOK.synthesis_for(user["content"]))


def letter_groups(synthesis: dict[str, Any]) -> list[list[str]]:
    return [group["answers"] for group in synthesis["verdict_groups"]]


@pytest.mark.parametrize(
    ("order", "kafka", "rabbitmq"),
    [
        ((SWIFT, STEADY, DEEP), ["A", "C"], ["B"]),
        ((SWIFT, DEEP, STEADY), ["A", "B"], ["C"]),
        ((STEADY, SWIFT, DEEP), ["B", "C"], ["A"]),
        ((STEADY, DEEP, SWIFT), ["B", "C"], ["A"]),
        ((DEEP, SWIFT, STEADY), ["A", "B"], ["C"]),
        ((DEEP, STEADY, SWIFT), ["A", "C"], ["B"]),
    ],
)
def test_synthesis_maps_letters_for_any_order(
    order: tuple[str, ...], kafka: list[str], rabbitmq: list[str]
) -> None:
    queue = DEMO_BOOK["queue"]
    synthesis = synthesis_of(queue, in_order(queue, order))

    assert letter_groups(synthesis) == [kafka, rabbitmq]
    [disagreement] = synthesis["disagreements"]
    assert [p["answers"] for p in disagreement["positions"]] == [kafka, rabbitmq]
    insights = {i["answer"] for i in synthesis["unique_insights"]}
    assert insights == {rabbitmq[0], "ABC"[order.index(SWIFT)]}


@pytest.mark.parametrize(
    ("key", "present", "groups", "disagreement_positions", "uncertain"),
    [
        ("sessions", (SWIFT, STEADY), [["A", "B"]], [[["A"], ["B"]]], []),
        ("sessions", (DEEP, SWIFT), [["A", "B"]], [], []),
        ("queue", (STEADY, DEEP), [["B"], ["A"]], [[["B"], ["A"]]], []),
        ("queue", (SWIFT, DEEP), [["A", "B"]], [], []),
        ("auth", (SWIFT, STEADY), [["A"], ["B"]], [[["A"], ["B"]]], []),
        ("unsure", (STEADY,), [["A"]], [], []),
        ("unsure", (DEEP,), [["A"]], [], ["A"]),
        ("monolith", (DEEP, STEADY), [["B"], ["A"]], [[["B"], ["A"]]], ["A"]),
    ],
)
def test_synthesis_drops_models_that_did_not_answer(
    key: str,
    present: tuple[str, ...],
    groups: list[list[str]],
    disagreement_positions: list[list[list[str]]],
    uncertain: list[str],
) -> None:
    script = DEMO_BOOK[key]
    synthesis = synthesis_of(script, in_order(script, present))

    assert letter_groups(synthesis) == groups
    positions = [
        [p["answers"] for p in d["positions"]] for d in synthesis["disagreements"]
    ]
    assert positions == disagreement_positions
    assert [u["answer"] for u in synthesis["uncertain_answers"]] == uncertain
    assert {i["answer"] for i in synthesis["unique_insights"]} <= set("AB")


@pytest.mark.parametrize(
    ("labelled", "groups"),
    [
        (
            [("A", SESSIONS.answers[SWIFT]), ("B", "An answer from somewhere else.")],
            [["A"], ["B"]],
        ),
        (
            [("A", "Unexpected."), ("B", SESSIONS.answers[DEEP]), ("C", "Other.")],
            [["B"], ["A"], ["C"]],
        ),
        (  # the same scripted text twice: the second copy is no second model
            [("A", SESSIONS.answers[SWIFT]), ("B", SESSIONS.answers[SWIFT])],
            [["A"], ["B"]],
        ),
    ],
)
def test_synthesis_never_drops_an_unmatched_answer(
    labelled: list[tuple[str, str]], groups: list[list[str]]
) -> None:
    synthesis = synthesis_of(SESSIONS, labelled)

    assert letter_groups(synthesis) == groups
    assert synthesis["verdict_groups"][-1]["verdict"] == UNMATCHED_VERDICT
    assert synthesis["agreement"] == []


@pytest.mark.parametrize(
    "trimmed",
    [
        SESSIONS.answers[DEEP][:900],
        SESSIONS.answers[DEEP][:200],
        SESSIONS.answers[DEEP] + "\n\n(cut short by the bot)",
    ],
)
def test_synthesis_recognises_a_trimmed_answer(trimmed: str) -> None:
    labelled = [("A", SESSIONS.answers[STEADY]), ("B", trimmed)]

    synthesis = synthesis_of(SESSIONS, labelled)

    assert letter_groups(synthesis) == [["A", "B"]]
    assert [i["answer"] for i in synthesis["unique_insights"]] == ["B"]


@pytest.mark.parametrize("labels", [["A"], ["A", "B", "C"]])
def test_unscripted_question_gets_an_honest_synthesis(labels: list[str]) -> None:
    question = "How should we name our feature flags?"
    labelled = [(label, unscripted_answer(f"stand-in-{label}")) for label in labels]
    [_, user] = synthesis_messages(question, labelled)

    synthesis = json.loads(DEMO_BOOK.synthesis_for(user["content"]))

    assert synthesis["verdict_groups"] == [
        {"verdict": NO_SCRIPT_VERDICT, "answers": labels}
    ]
    assert [u["answer"] for u in synthesis["uncertain_answers"]] == labels
    assert "OPENAI_API_KEY" in synthesis["recommended_action"]


@pytest.mark.parametrize("model", [*PANEL_MODELS, "model-the-script-lacks"])
async def test_unscripted_question_is_answered_with_uncertainty(
    server: ModelServer, model: str
) -> None:
    result = await stream(server, model, "How should we name our feature flags?")

    assert result.text == unscripted_answer(model)
    assert "no script for this one" in result.text
    assert "I am unsure" in result.text


@pytest.mark.parametrize("script", DEMO_BOOK.scripts, ids=lambda s: s.key)
def test_script_data_is_consistent(script: Script) -> None:
    assert set(script.answers) == set(PANEL_MODELS)
    assert script.referenced_models() <= set(script.answers)
    grouped = [m for g in script.synthesis["verdict_groups"] for m in g["answers"]]
    assert sorted(grouped) == sorted(script.answers)
    assert set(script.synthesis) == SYNTHESIS_KEYS
    assert all(f'"{key}"' in SYNTHESIS_SYSTEM for key in SYNTHESIS_KEYS)
    for answer in script.answers.values():
        assert 120 <= len(answer.split()) <= 300
        assert answer.startswith("**")  # a one-line verdict comes first


@pytest.mark.parametrize(
    "broken",
    [
        {"verdict_groups": [{"verdict": "x", "answers": [SWIFT, "quorum-ghost"]}]},
        {"verdict_groups": [{"verdict": "x", "answers": [SWIFT]}]},
        {"unique_insights": [{"answer": "quorum-ghost", "insight": "x"}]},
    ],
)
def test_script_rejects_a_synthesis_naming_unknown_or_missing_models(
    broken: dict[str, Any],
) -> None:
    answers = {SWIFT: "one", STEADY: "two"}
    synthesis = {
        "verdict_groups": [{"verdict": "x", "answers": [SWIFT, STEADY]}],
        "agreement": [],
        "disagreements": [],
        "unique_insights": [],
        "uncertain_answers": [],
        "recommended_action": "x",
    }

    with pytest.raises(ValueError):
        Script("bad", "Bad question?", ("bad",), answers, {**synthesis, **broken})


@pytest.mark.parametrize(
    ("text", "key"),
    [
        *[(script.question, script.key) for script in DEMO_BOOK.scripts],
        ("redis vs postgres for SESSION data?", "sessions"),
        ("Kafka or RabbitMQ for plant telemetry?", "queue"),
        ("How do I centre a div?", None),
        ("Should we use Redis or PostgreSQL as a job queue?", None),
        ("Should we move our orders service from RabbitMQ to Kafka?", None),
        ("What changed about wal_compression in PostgreSQL 15?", None),
        ("Intermittent test failures in CI", None),
    ],
)
def test_keywords_pick_the_right_script(text: str, key: str | None) -> None:
    match = DEMO_BOOK.match(text)

    assert (match.key if match else None) == key


def test_demo_paces_keep_the_main_consult_short() -> None:
    def seconds(model: str, text: str) -> float:
        return DEMO_BEHAVIORS[model].pace.offset_s(math.ceil(len(text) / 4))

    answers = {m: seconds(m, SESSIONS.answers[m]) for m in PANEL_MODELS}
    [_, user] = synthesis_messages(SESSIONS.question, in_order(SESSIONS, PANEL_MODELS))
    synthesis = seconds(SYNTHESIS_MODEL, DEMO_BOOK.synthesis_for(user["content"]))

    assert answers[SWIFT] < answers[STEADY] < answers[DEEP]
    assert 2.5 <= answers[DEEP] / answers[SWIFT] <= 3.5
    assert answers[DEEP] + synthesis < 12


async def test_held_requests_are_recorded_and_answered_only_once_released(
    server: ModelServer,
) -> None:
    server.hold_requests()
    asking = asyncio.create_task(
        ask(server, SWIFT, panelist_messages(SESSIONS.question))
    )
    await asyncio.wait_for(server.wait_for_requests(1, SWIFT), 10)
    assert not asking.done()

    server.release_requests()
    response = await asyncio.wait_for(asking, 10)

    assert response.choices[0].message.content == SESSIONS.answers[SWIFT]
