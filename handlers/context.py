"""What every listener needs, built once at start-up and passed in."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from bot.panel import Panel
from bot.slack.scheduler import ChannelSchedulers
from bot.store import Store


@dataclass(frozen=True, slots=True)
class Deps:
    panel: Panel
    store: Store
    thread_ttl: timedelta
    # one scheduler per channel, shared by every listener that writes there
    schedulers: ChannelSchedulers = field(default_factory=ChannelSchedulers)
