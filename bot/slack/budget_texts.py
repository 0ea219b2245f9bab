"""What Quorum says about a channel's daily cost cap: refusals, `/consult budget`."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from bot.budget import LedgerEntry
from bot.consult import Refused
from bot.metering import BudgetView, OverBudget
from bot.slack.blocks import format_usd
from bot.slack.text import safe_mrkdwn


def refusal_text(refusal: Refused | OverBudget, action: str) -> str:
    """Why Quorum did not `action` ("run that consult", "escalate")."""
    if isinstance(refusal, Refused):
        return f"I did not {action}: {refusal.reason}."
    spent = f"• Spent today: {format_usd(refusal.spent)}"
    if refusal.held:
        spent += f", and {format_usd(refusal.held)} held for consults still running"
    lines = [
        f"I did not {action}: it would go over this channel's daily cost cap.",
        spent,
        f"• Daily cap: {format_usd(refusal.cap)}",
        f"• This one would cost up to {format_usd(refusal.estimate)}",
        f"• The cap resets at {reset_time(refusal.resets_at)}, "
        f"in {duration(refusal.resets_in)}.",
    ]
    if refusal.cheaper is not None:
        tier, most = refusal.cheaper.tier, format_usd(refusal.cheaper.micros)
        lines.append(
            f"A *{tier}* consult fits (up to {most}): "
            f"`/consult {tier} &lt;question&gt;`."
        )
    return "\n".join(lines)


def budget_text(view: BudgetView) -> str:
    """`/consult budget`: the channel's spend today, its cap, its last consults."""
    status, day = view.status, view.day
    zone = day.resets_at.tzinfo
    heading = f"*Quorum in this channel today* ({_date(day.date)}, {zone})"
    if view.cap:
        left = format_usd(max(view.cap - status.spent - status.held, 0))
        spend = (
            f"Spent {format_usd(status.spent)} of the {format_usd(view.cap)} "
            f"daily cap; {left} left."
        )
    else:
        spend = f"Spent {format_usd(status.spent)}; this channel has no daily cap."
    lines = [heading, spend]
    if status.running:
        plural = "s" if status.running > 1 else ""
        lines.append(
            f"{format_usd(status.held)} is held for {status.running} "
            f"consult{plural} still running."
        )
    lines.append(
        f"The day resets at {reset_time(day.resets_at)}, "
        f"in {duration(day.left(view.now))}."
    )
    lines.append("*Last consults*")
    entries = [_ledger_line(e, view) for e in status.recent]
    lines += entries or ["None yet."]
    return "\n".join(lines)


def _ledger_line(entry: LedgerEntry, view: BudgetView) -> str:
    zone = view.day.resets_at.tzinfo
    at = entry.at.astimezone(zone)
    when = f"{at:%H:%M}"
    if at.date() != view.day.date:
        when = f"{_date(at.date())} {when}"
    what = {
        "followup": f"{entry.tier} follow-up",
        "escalation": "escalation to full",
    }.get(entry.kind, entry.tier)
    cost = format_usd(entry.charged_micros)
    if not entry.exact:
        cost += " (some usage unknown: charged at its ceiling)"
    return f"• {when} · {what} · {cost} · {safe_mrkdwn(entry.question)}"


def reset_time(at: datetime) -> str:
    """The local time and zone of `at`, and the time in UTC."""
    if str(at.tzinfo) == "UTC":
        return f"{at:%H:%M} UTC"
    return f"{at:%H:%M} {at.tzinfo} ({at.astimezone(UTC):%H:%M} UTC)"


def duration(span: timedelta) -> str:
    minutes = max(int(span.total_seconds() // 60), 0)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min" if minutes else "under a minute"


def _date(day: date) -> str:
    return f"{day:%a} {day.day} {day:%b}"
