"""What every listener needs, built once at start-up and passed in."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from bot.panel import Panel
from bot.store import Store


@dataclass(frozen=True, slots=True)
class Deps:
    panel: Panel
    store: Store
    thread_ttl: timedelta
