"""Prometheus metrics: consults, model calls, tokens, cost, failures, Slack 429s.

The counters always count (it is cheap); `/metrics` serves them only when
`QUORUM_METRICS` is on. Labels are low-cardinality: model ids, tiers,
outcomes; never channels, users or questions.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

REGISTRY = CollectorRegistry(auto_describe=True)

CONSULTS = Counter(
    "quorum_consults", "Consults finished", ["tier", "outcome"], registry=REGISTRY
)
MODEL_LATENCY = Histogram(
    "quorum_model_latency_seconds",
    "Time from request to a model's last token",
    ["model"],
    buckets=(0.5, 1, 2, 5, 10, 20, 40, 80, 160),
    registry=REGISTRY,
)
TOKENS = Counter(
    "quorum_tokens",
    "Tokens used, by direction",
    ["model", "direction"],
    registry=REGISTRY,
)
COST = Counter(
    "quorum_cost_usd", "Known cost of model calls in USD", ["model"], registry=REGISTRY
)
FAILURES = Counter(
    "quorum_model_failures",
    "Model calls that failed",
    ["model", "kind"],
    registry=REGISTRY,
)
SLACK_RATE_LIMITED = Counter(
    "quorum_slack_rate_limited",
    "Slack Web API calls answered with HTTP 429 or `ratelimited`",
    ["method"],
    registry=REGISTRY,
)


def record_answer(
    model: str,
    latency_s: float,
    prompt_tokens: int | None,
    completion_tokens: int | None,
    cost_micros: int | None,
) -> None:
    MODEL_LATENCY.labels(model).observe(latency_s)
    if prompt_tokens is not None:
        TOKENS.labels(model, "prompt").inc(prompt_tokens)
    if completion_tokens is not None:
        TOKENS.labels(model, "completion").inc(completion_tokens)
    if cost_micros is not None:
        COST.labels(model).inc(cost_micros / 1e6)


def record_failure(model: str, kind: str) -> None:
    FAILURES.labels(model, kind).inc()


def exposition() -> bytes:
    """The metrics in Prometheus's text format."""
    return generate_latest(REGISTRY)
