"""One consult against its channel's daily cap: price it, hold the room, settle.

Before any model is called, the consult's plan is priced (`bot.estimate`) and
that ceiling is held in the channel's day (`bot.budget`). A consult that does
not fit is refused with what was spent, the cap, its price, when the cap
resets and a cheaper tier that fits, if one does. With a cap, a model with no
known price is refused (nothing can be held for it), and so is every consult
while Redis cannot be reached. After the consult, what it cost replaces the
hold (`bot.charges` says how an unknown cost is charged). A channel with no
cap holds nothing, but what its consults cost is still recorded.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.budget import (
    BudgetDay,
    BudgetSpec,
    BudgetStatus,
    ChannelDay,
    Hold,
    LedgerEntry,
    OverCap,
    budget_day,
    read_budget,
    release_hold,
    reserve_spend,
    settle_spend,
    snippet,
)
from bot.charges import Charge, consult_charge
from bot.consult import (
    ConsultPlan,
    ConsultRequest,
    ConsultResult,
    ConsultThread,
    Refused,
)
from bot.errors import StoreUnavailable
from bot.estimate import Ceiling, Unpriced, consult_ceiling
from bot.fanout import PanelEvent
from bot.panel import TIER_NAMES, ModelSpec, Stance, TierName
from bot.store import Store
from bot.synthesis import Synthesis, SynthesisDegraded

logger = logging.getLogger(__name__)

# A hold outlives the slowest consult its plan allows: the slowest model, two
# tries at each synthesis model, and this for Slack and Redis on top.
HOLD_MARGIN = timedelta(minutes=2)

# For a tier, the plan of the same question at that tier; None: not offered.
Alternatives = Callable[[TierName], ConsultPlan | None]


@dataclass(frozen=True, slots=True)
class CheaperTier:
    tier: TierName
    micros: int


@dataclass(frozen=True, slots=True)
class OverBudget:
    """Refused: the consult's ceiling does not fit what is left of today's cap."""

    spent: int
    held: int  # by consults still running
    cap: int
    estimate: int
    resets_at: datetime  # aware, in the budget's zone
    resets_in: timedelta
    cheaper: CheaperTier | None = None


@dataclass(frozen=True, slots=True)
class Tab:
    """One consult's account: where it is charged, its ceiling, its hold."""

    where: ChannelDay
    request: ConsultRequest
    ceiling: Ceiling | None  # None: no cap, and some model has no price
    hold: Hold | None  # None: the channel has no cap

    @property
    def capped_ceiling(self) -> Ceiling | None:
        """The ceiling the consult must keep within; None when there is no cap."""
        return self.ceiling if self.hold is not None else None


@dataclass(frozen=True, slots=True)
class BudgetView:
    """What `/consult budget` shows: the channel's day and its last consults."""

    cap: int
    day: BudgetDay
    status: BudgetStatus
    now: datetime


async def open_tab(
    store: Store,
    budget: BudgetSpec,
    request: ConsultRequest,
    plan: ConsultPlan,
    *,
    alternatives: Alternatives | None = None,
    now: datetime | None = None,
) -> Tab | Refused | OverBudget:
    """Hold the room `plan` may cost, or say why the consult cannot run."""
    now = now or datetime.now(UTC)
    where = ChannelDay(request.team, request.channel, budget_day(now, budget.zone))
    cap = budget.cap_micros(request.channel)
    ceiling = _ceiling(request, plan)
    if not cap:
        known = ceiling if isinstance(ceiling, Ceiling) else None
        return Tab(where, request, known, hold=None)
    if isinstance(ceiling, Unpriced):
        return Refused(unpriced_reason(ceiling.models))
    try:
        held = await reserve_spend(
            store,
            where,
            micros=ceiling.micros,
            cap_micros=cap,
            hold_ttl=hold_ttl(plan),
        )
    except StoreUnavailable as exc:
        logger.warning("budget unavailable, consult refused reason=%s", exc.reason)
        return Refused(
            f"this channel has a daily cost cap, and its spending cannot be "
            f"checked right now ({exc.reason}); try again in a minute"
        )
    if isinstance(held, OverCap):
        cheaper = _cheaper_tier(request, ceiling.micros, held.room, alternatives)
        return _over_budget(held, where.day, now, cheaper)
    return Tab(where, request, ceiling, held)


async def close_tab(store: Store, tab: Tab, result: ConsultResult) -> Charge:
    """Charge the consult what it cost and let its hold go."""
    charge = _charge(tab.ceiling, result)
    await _settle(store, tab, charge)
    return charge


async def abandon_tab(store: Store, tab: Tab, *, asked: bool) -> None:
    """A consult that stopped on an error: charge its ceiling if it got as far
    as asking (the calls may be billed), else let the hold go."""
    if asked and tab.ceiling is not None:
        await _settle(store, tab, Charge(tab.ceiling.micros, exact=False))
    elif tab.hold is not None:
        try:
            await release_hold(store, tab.hold)
        except StoreUnavailable as exc:
            logger.warning("budget hold not released reason=%s", exc.reason)


async def budget_view(
    store: Store,
    budget: BudgetSpec,
    team: str,
    channel: str,
    *,
    now: datetime | None = None,
) -> BudgetView:
    """The channel's spend today; raises `StoreUnavailable` without Redis."""
    now = now or datetime.now(UTC)
    where = ChannelDay(team, channel, budget_day(now, budget.zone))
    status = await read_budget(store, where)
    return BudgetView(budget.cap_micros(channel), where.day, status, now)


def hold_ttl(plan: ConsultPlan) -> timedelta:
    """How long the hold of `plan` lasts if its process dies."""
    answers = max((r.spec.timeout_s for r in plan.requests), default=0.0)
    synthesis = sum(2 * spec.timeout_s for spec in plan.synthesis_models)
    return timedelta(seconds=answers + synthesis) + HOLD_MARGIN


def unpriced_reason(models: list[ModelSpec]) -> str:
    names = ", ".join(spec.label for spec in models)
    tables = " and ".join(f"`[models.{spec.alias}]`" for spec in models)
    return (
        f"this channel has a daily cost cap, and {names} has no known price, so "
        f"its cost cannot be held against the cap. Set `input_cost_per_mtok` "
        f"and `output_cost_per_mtok` (USD per million tokens) under {tables} "
        "in quorum.toml"
    )


def _ceiling(request: ConsultRequest, plan: ConsultPlan) -> Ceiling | Unpriced:
    stances: dict[str, Stance] | None = plan.stances or None
    return consult_ceiling(
        request.question, plan.asked, plan.models, plan.synthesis_models, stances
    )


def _cheaper_tier(
    request: ConsultRequest,
    micros: int,
    room: int,
    alternatives: Alternatives | None,
) -> CheaperTier | None:
    """The dearest other tier that costs less and fits in `room`."""
    if alternatives is None:
        return None
    fits: list[CheaperTier] = []
    for tier in TIER_NAMES:
        plan = alternatives(tier) if tier != request.tier else None
        ceiling = _ceiling(request, plan) if plan is not None else None
        if isinstance(ceiling, Ceiling) and ceiling.micros <= min(room, micros - 1):
            fits.append(CheaperTier(tier, ceiling.micros))
    return max(fits, key=lambda option: option.micros, default=None)


def _over_budget(
    over: OverCap, day: BudgetDay, now: datetime, cheaper: CheaperTier | None
) -> OverBudget:
    return OverBudget(
        spent=over.spent,
        held=over.held,
        cap=over.cap,
        estimate=over.asked,
        resets_at=day.resets_at,
        resets_in=day.left(now),
        cheaper=cheaper,
    )


def _charge(ceiling: Ceiling | None, result: ConsultResult) -> Charge:
    if ceiling is None:  # no cap and some model unpriced: what is known
        return Charge(result.known_cost_micros, exact=not result.unpriced)
    asked = [a for a in result.answers if a.alias not in result.reused]
    synthesis = result.synthesis
    cost = (
        synthesis.cost_micros
        if isinstance(synthesis, Synthesis | SynthesisDegraded)
        else 0
    )
    return consult_charge(ceiling, asked, result.failures, cost)


async def _settle(store: Store, tab: Tab, charge: Charge) -> None:
    request = tab.request
    entry = LedgerEntry(
        at=datetime.now(UTC),
        kind=request.kind,
        tier="debate" if request.debate else request.tier,
        question=snippet(request.question),
        charged_micros=charge.micros,
        exact=charge.exact,
    )
    try:
        spent = await settle_spend(store, tab.where, entry, hold=tab.hold)
    except StoreUnavailable as exc:
        # the hold expires by itself; the consult's cost goes unrecorded
        logger.warning("budget not settled reason=%s", exc.reason)
        return
    logger.info(
        "budget settled charged=%d held=%d exact=%s spent_today=%d",
        charge.micros,
        tab.hold.micros if tab.hold else 0,
        charge.exact,
        spent,
    )


class MeteredThread:
    """A `ConsultThread` that settles the consult's tab before showing its end.

    So once a consult shows as done, its cost is in the channel's budget. A
    consult that stops on an error instead calls `abandon`.
    """

    def __init__(self, inner: ConsultThread, store: Store, tab: Tab) -> None:
        self.inner = inner
        self.store = store
        self.tab = tab
        self.asked = False  # the thread opened, so the models were asked
        self.settled = False

    async def open(
        self,
        request: ConsultRequest,
        models: list[ModelSpec],
        *,
        stances: dict[str, Stance] | None = None,
    ) -> str | None:
        opened = await self.inner.open(request, models, stances=stances)
        self.asked = True
        return opened

    async def show(self, event: PanelEvent) -> None:
        await self.inner.show(event)

    async def close(self, result: ConsultResult) -> None:
        if not self.settled:
            self.settled = True
            await close_tab(self.store, self.tab, result)
        await self.inner.close(result)

    async def abandon(self) -> None:
        """Settle a consult that stopped on an error, if it has not been."""
        if not self.settled:
            self.settled = True
            await abandon_tab(self.store, self.tab, asked=self.asked)
