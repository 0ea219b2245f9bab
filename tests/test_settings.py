"""Settings read from the environment: the thread TTL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.errors import ConfigError
from bot.settings import load_settings


@pytest.mark.parametrize(
    ("value", "ttl"),
    [(None, timedelta(days=7)), ("1", timedelta(days=1)), ("30", timedelta(days=30))],
)
def test_the_thread_ttl_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, value: str | None, ttl: timedelta
) -> None:
    monkeypatch.delenv("QUORUM_THREAD_TTL_DAYS", raising=False)
    if value is not None:
        monkeypatch.setenv("QUORUM_THREAD_TTL_DAYS", value)
    assert load_settings().thread_ttl == ttl


@pytest.mark.parametrize("value", ["0", "-3", "366", "a week"])
def test_a_thread_ttl_out_of_range_stops_start_up(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("QUORUM_THREAD_TTL_DAYS", value)
    with pytest.raises(ConfigError, match="^QUORUM_THREAD_TTL_DAYS: "):
        load_settings()
