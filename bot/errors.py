"""Quorum's errors: one root, and the one place third-party errors are translated."""

from __future__ import annotations

import re

from redis import exceptions as redis_errors


class QuorumError(Exception):
    """Root of every error Quorum raises on purpose."""


class ConfigError(QuorumError):
    """The settings or the panel file cannot be used; the message names the problem."""


class ModelCallError(QuorumError):
    """A model call failed. `reason` is short, plain and safe to show in Slack.

    `retryable`: the same call may well work if tried again shortly.
    """

    def __init__(
        self, reason: str, *, kind: str = "provider_error", retryable: bool = False
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind
        self.retryable = retryable


class SynthesisError(QuorumError):
    """The synthesis model did not give a usable synthesis."""


_SECRET_PATTERNS = [
    re.compile(r"xox[abprse]-[0-9A-Za-z-]+"),
    re.compile(r"xapp-[0-9A-Za-z-]+"),
    re.compile(r"sk-[A-Za-z0-9_-]{8,}"),
    re.compile(r"AIza[0-9A-Za-z_-]{10,}"),
    re.compile(r"(?i)(authorization)([\"'=: ]+)(?:(?:bearer|basic)\s+)?[^\s\"',}]+"),
    re.compile(r"(?i)((?:^|[?&\s])(?:key|api_key|token|access_token)=)()[^&\s\"']+"),
    re.compile(r"(?i)(\w+://[^/\s:@]+:)()[^@\s/]+(?=@)"),
    re.compile(r"(?i)(api[_-]?key|x-goog-api-key|bearer)([\"'=: ]+)[^\s\"',}]+"),
]


def redact(text: str) -> str:
    """Blank out anything in `text` that looks like a key or token."""
    for pattern in _SECRET_PATTERNS:
        if pattern.groups >= 2:
            text = pattern.sub(lambda m: f"{m.group(1)}{m.group(2)}[redacted]", text)
        else:
            text = pattern.sub("[redacted]", text)
    return text


def model_call_error(exc: BaseException) -> ModelCallError:
    """Translate a litellm (or network) exception into a short, safe reason."""
    from bot.llm import configured_litellm

    litellm = configured_litellm()

    if isinstance(exc, ModelCallError):
        return exc
    original = getattr(exc, "original_exception", None)
    wrapper = litellm.exceptions.MidStreamFallbackError  # not exported at the top
    if isinstance(exc, wrapper) and original is not None:
        return model_call_error(original)  # litellm's wrapper around a stream error
    if isinstance(exc, litellm.RateLimitError):
        return ModelCallError(
            "rate limited by the provider", kind="rate_limited", retryable=True
        )
    if isinstance(exc, litellm.Timeout | TimeoutError):
        return ModelCallError("timed out", kind="timeout")
    if isinstance(exc, litellm.AuthenticationError):
        return ModelCallError(
            "the provider refused the API key; check the key's env var",
            kind="auth",
        )
    if isinstance(exc, litellm.NotFoundError):
        return ModelCallError("the provider does not know this model", kind="not_found")
    if isinstance(exc, litellm.ContextWindowExceededError):
        return ModelCallError("the question is too long for this model", kind="context")
    if isinstance(exc, litellm.APIConnectionError | ConnectionError | OSError):
        return ModelCallError(
            "could not reach the provider", kind="connection", retryable=True
        )
    status = getattr(exc, "status_code", None)
    if status:
        return ModelCallError(
            f"provider error (HTTP {status})",
            kind="provider_error",
            retryable=isinstance(status, int) and status >= 500,
        )
    return ModelCallError("provider error", kind="provider_error")


class ThreadUnavailable(QuorumError):
    """The place a consult writes to is gone or closed to the bot.

    `reason` is short and says what the person can do about it.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# Slack Web API error codes that mean the bot cannot write to the thread, with
# what the person can do about it. The codes come from slack_sdk's SlackApiError.
_REINSTALL = "Quorum's Slack token was revoked; an admin must reinstall the app"
_SLACK_THREAD_ERRORS = {
    "not_in_channel": "Quorum is not in this channel. Invite it with `/invite @Quorum`",
    "channel_not_found": (
        "Quorum cannot see this channel (a DM or a private channel it is not in). "
        "Invite it with `/invite @Quorum`, or ask in a channel it is in"
    ),
    "is_archived": "this channel is archived",
    "thread_not_found": "the thread was deleted",
    "message_not_found": "the thread was deleted",
    "invalid_auth": "Quorum's Slack token was refused; an admin must reinstall the app",
    "account_inactive": _REINSTALL,
    "token_revoked": _REINSTALL,
    "restricted_action": "this workspace does not let Quorum post here",
}


def slack_thread_error(code: str | None) -> ThreadUnavailable | None:
    """The `ThreadUnavailable` a Slack error code means, or None if it is passing."""
    reason = _SLACK_THREAD_ERRORS.get(code or "")
    return ThreadUnavailable(reason) if reason else None


class StoreUnavailable(QuorumError):
    """Redis (Quorum's only shared state) cannot be used right now.

    `reason` is short and plain; it never holds the Redis URL or its password.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def store_error(exc: BaseException) -> StoreUnavailable:
    """Translate a redis-py (or socket) exception into a short, safe reason."""
    if isinstance(exc, StoreUnavailable):
        return exc
    if isinstance(exc, redis_errors.AuthenticationError):
        return StoreUnavailable("Redis refused the credentials; check REDIS_URL")
    if isinstance(exc, redis_errors.TimeoutError | TimeoutError):
        return StoreUnavailable("Redis did not answer in time")
    if isinstance(exc, redis_errors.ConnectionError | OSError):
        return StoreUnavailable("cannot reach Redis; is it running?")
    if isinstance(exc, redis_errors.ResponseError):
        # Redis error replies start with a code in capitals: OOM, READONLY, ...
        code = str(exc).split(" ", 1)[0]
        named = f" ({code})" if code.isupper() else ""
        return StoreUnavailable(f"Redis refused a command{named}")
    return StoreUnavailable(f"Redis failed ({type(exc).__name__})")


class SlackWriteError(QuorumError):
    """Slack refused a write for good; `code` is Slack's error code (or the cause)."""

    def __init__(self, code: str) -> None:
        super().__init__(f"Slack refused the write: {code}")
        self.code = code
