"""How money and the reset time read in Slack."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.slack.blocks import format_cost, format_usd
from bot.slack.budget_texts import duration, reset_time


@pytest.mark.parametrize(
    ("micros", "shown"),
    [
        (0, "$0.00"),
        (600, "$0.0006"),
        (15_391, "$0.015391"),
        (100_000, "$0.10"),
        (1_500_000, "$1.50"),
        (1_234_567_891, "$1,234.567891"),
    ],
)
def test_amounts_are_shown_to_the_micro_dollar(micros, shown):
    assert format_usd(micros) == shown
    assert format_cost(micros) == shown


def test_an_unknown_cost_says_so():
    assert format_cost(None) == "cost unknown"


NY, CL = "America/New_York", "America/Santiago"


@pytest.mark.parametrize(
    ("at", "zone", "shown"),
    [
        ("2025-03-10T04:00:00Z", NY, f"00:00 {NY} (04:00 UTC)"),  # summer time
        ("2025-11-03T05:00:00Z", NY, f"00:00 {NY} (05:00 UTC)"),
        ("2024-09-08T04:00:00Z", CL, f"01:00 {CL} (04:00 UTC)"),  # no midnight
        ("2025-03-10T00:00:00Z", "UTC", "00:00 UTC"),
    ],
)
def test_the_reset_time_reads_in_the_zone_and_in_utc(at, zone, shown):
    instant = datetime.fromisoformat(at).astimezone(ZoneInfo(zone))

    assert reset_time(instant) == shown


@pytest.mark.parametrize(
    ("span", "shown"),
    [
        (timedelta(hours=6, minutes=12, seconds=59), "6 h 12 min"),
        (timedelta(minutes=59), "59 min"),
        (timedelta(seconds=59), "under a minute"),
        (timedelta(hours=25), "25 h 0 min"),
    ],
)
def test_durations_read_in_hours_and_minutes(span, shown):
    assert duration(span) == shown
