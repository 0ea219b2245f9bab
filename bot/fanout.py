"""Ask several models at once and turn their streams into typed events.

Each model streams through litellm concurrently. A model that fails yields an
`AnswerFailed` and the others go on. Every call has our own deadline and an
idle-chunk timeout, because litellm's retries and timeouts differ by provider.
A call that fails before any text arrived (rate limited, a 5xx, no
connection) is tried again a bounded number of times, within its deadline;
once text has been shown it never is, since a second answer would not match
the first.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from bot import metrics
from bot.errors import ModelCallError, model_call_error, redact
from bot.llm import configured_litellm
from bot.panel import ModelSpec

logger = logging.getLogger(__name__)

RETRY_WAIT_S = 0.5  # the first retry waits up to this (full jitter), then doubles
RETRY_WAIT_MAX_S = 4.0


@dataclass(frozen=True, slots=True)
class ModelRequest:
    """One model and the messages it is asked."""

    spec: ModelSpec
    messages: list[dict[str, str]]


@dataclass(frozen=True, slots=True)
class AnswerStarted:
    alias: str
    label: str


@dataclass(frozen=True, slots=True)
class AnswerDelta:
    alias: str
    label: str
    text: str


@dataclass(frozen=True, slots=True)
class AnswerFinished:
    alias: str
    label: str
    text: str
    prompt_tokens: int | None
    completion_tokens: int | None
    cost_micros: int | None  # None: unknown (no usage or no price), never 0 by default
    latency_s: float
    truncated: bool = False  # stopped at max_tokens


@dataclass(frozen=True, slots=True)
class AnswerFailed:
    alias: str
    label: str
    reason: str
    kind: str
    latency_s: float
    partial_text: str = ""


PanelEvent = AnswerStarted | AnswerDelta | AnswerFinished | AnswerFailed


@dataclass(slots=True)
class _Progress:
    text: list[str] = field(default_factory=list)
    usage: object | None = None
    finish_reason: str | None = None
    attempts: int = 0


async def ask_panel(
    requests: list[ModelRequest],
    *,
    deadline_s: float | None = None,
    retries: int = 0,
) -> AsyncIterator[PanelEvent]:
    """Yield every model's events as they happen, until each has finished or failed.

    `deadline_s` bounds the whole fan-out; a model still streaming then fails
    with its partial text kept. `retries` is how many more times a call that
    failed before any text is tried.
    """
    queue: asyncio.Queue[PanelEvent] = asyncio.Queue()
    tasks = [
        asyncio.create_task(_ask_one(request, queue, deadline_s, retries))
        for request in requests
    ]
    pending = len(tasks)
    try:
        while pending:
            event = await queue.get()
            if isinstance(event, AnswerFinished | AnswerFailed):
                pending -= 1
            yield event
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _ask_one(
    request: ModelRequest,
    queue: asyncio.Queue[PanelEvent],
    deadline_s: float | None,
    retries: int,
) -> None:
    spec = request.spec
    started = time.monotonic()
    progress = _Progress()
    await queue.put(AnswerStarted(spec.alias, spec.label))
    limit = spec.timeout_s if deadline_s is None else min(spec.timeout_s, deadline_s)
    try:
        async with asyncio.timeout(limit):
            await _stream_with_retries(request, queue, progress, retries)
    except TimeoutError:
        error = ModelCallError(f"timed out after {_seconds(limit)} s", kind="timeout")
        await queue.put(_failed(spec, error, started, progress))
    except ModelCallError as exc:
        await queue.put(_failed(spec, exc, started, progress))
    except Exception as exc:  # any provider error is a value, not a crash
        await queue.put(_failed(spec, _translated(exc), started, progress, exc))
    else:
        if "".join(progress.text).strip():
            await queue.put(_finished(spec, started, progress))
        else:  # an empty answer is no opinion, and must not count as one
            error = ModelCallError("returned an empty answer", kind="empty")
            await queue.put(_failed(spec, error, started, progress))


async def _stream_with_retries(
    request: ModelRequest,
    queue: asyncio.Queue[PanelEvent],
    progress: _Progress,
    retries: int,
) -> None:
    def worth_retrying(exc: BaseException) -> bool:
        if progress.text or not isinstance(exc, Exception):
            return False  # text is on screen, or the call was cancelled
        return _translated(exc).retryable

    attempts = AsyncRetrying(
        stop=stop_after_attempt(retries + 1),
        wait=wait_random_exponential(multiplier=RETRY_WAIT_S, max=RETRY_WAIT_MAX_S),
        retry=retry_if_exception(worth_retrying),
        before_sleep=lambda state: _log_retry(request.spec, state),
        reraise=True,
    )
    async for attempt in attempts:
        with attempt:
            progress.attempts += 1
            await _stream(request, queue, progress)


def _log_retry(spec: ModelSpec, state: RetryCallState) -> None:
    outcome = state.outcome
    error = outcome.exception() if outcome is not None else None
    logger.info(
        "model call retry model=%s attempt=%d reason=%r wait_s=%.2f",
        spec.model,
        state.attempt_number,
        _translated(error).reason if isinstance(error, Exception) else "-",
        state.upcoming_sleep,
    )


def _translated(exc: Exception) -> ModelCallError:
    """The short reason for `exc`; a translation that fails must not hang the panel."""
    try:
        return model_call_error(exc)
    except Exception:
        logger.exception("could not translate a model error")
        return ModelCallError("provider error", kind="provider_error")


async def _stream(
    request: ModelRequest, queue: asyncio.Queue[PanelEvent], progress: _Progress
) -> None:
    spec = request.spec
    litellm = configured_litellm()
    stream = await litellm.acompletion(
        model=spec.model,
        messages=request.messages,
        stream=True,
        stream_options={"include_usage": True},
        max_tokens=spec.max_tokens,
        api_base=spec.api_base,
        api_key=spec.api_key(),
        extra_headers=spec.headers or None,
        timeout=spec.timeout_s,
        num_retries=0,
        max_retries=0,  # the OpenAI client retries on its own otherwise
    )
    chunks = aiter(stream)
    while True:
        try:
            chunk = await asyncio.wait_for(anext(chunks), spec.idle_timeout_s)
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise ModelCallError(
                f"stalled: no text for {_seconds(spec.idle_timeout_s)} s",
                kind="stalled",
            ) from None
        _take_chunk(chunk, spec, queue, progress)


def _seconds(value: float) -> str:
    """Seconds for people: whole ones, or one digit below a second."""
    return f"{value:.0f}" if value >= 1 else f"{value:.1g}"


def _take_chunk(
    chunk: object,
    spec: ModelSpec,
    queue: asyncio.Queue[PanelEvent],
    progress: _Progress,
) -> None:
    usage = getattr(chunk, "usage", None)
    if usage is not None and getattr(usage, "completion_tokens", None) is not None:
        progress.usage = usage
    for choice in getattr(chunk, "choices", None) or ():
        if choice.finish_reason:
            progress.finish_reason = choice.finish_reason
        text = getattr(choice.delta, "content", None)
        if text:
            progress.text.append(text)
            queue.put_nowait(AnswerDelta(spec.alias, spec.label, text))


def _finished(spec: ModelSpec, started: float, progress: _Progress) -> AnswerFinished:
    usage = progress.usage
    prompt_tokens = getattr(usage, "prompt_tokens", None) if usage else None
    completion_tokens = getattr(usage, "completion_tokens", None) if usage else None
    price = spec.price()
    cost = None
    if (
        price is not None
        and prompt_tokens is not None
        and completion_tokens is not None
    ):
        cost = price.cost_micros(prompt_tokens, completion_tokens)
    answer = AnswerFinished(
        alias=spec.alias,
        label=spec.label,
        text="".join(progress.text),
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        cost_micros=cost,
        latency_s=time.monotonic() - started,
        truncated=progress.finish_reason == "length",
    )
    metrics.record_answer(
        spec.model, answer.latency_s, prompt_tokens, completion_tokens, cost
    )
    logger.info(
        "model call model=%s outcome=ok attempts=%d latency_s=%.2f tokens_in=%s "
        "tokens_out=%s cost_usd=%s",
        spec.model,
        progress.attempts,
        answer.latency_s,
        prompt_tokens,
        completion_tokens,
        "unknown" if cost is None else f"{cost / 1e6:.6f}",
    )
    return answer


def _failed(
    spec: ModelSpec,
    error: ModelCallError,
    started: float,
    progress: _Progress,
    cause: BaseException | None = None,
) -> AnswerFailed:
    latency = time.monotonic() - started
    metrics.record_failure(spec.model, error.kind)
    logger.info(
        "model call model=%s outcome=%s attempts=%d latency_s=%.2f reason=%r detail=%r",
        spec.model,
        error.kind,
        progress.attempts,
        latency,
        error.reason,
        redact(str(cause))[:300] if cause else "",
    )
    return AnswerFailed(
        alias=spec.alias,
        label=spec.label,
        reason=error.reason,
        kind=error.kind,
        latency_s=latency,
        partial_text="".join(progress.text),
    )
