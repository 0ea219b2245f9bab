"""Daily cost caps end to end: signed requests through the real app, the local
Slack Web API, the scripted model server and a real Redis.

Each test sends as its own team, so its budget keys are its own."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from decimal import Decimal
from importlib import resources
from urllib.parse import urlsplit

from conftest import RedisSpace
from slackkit import (
    CHANNEL,
    FAST,
    TIMEOUT,
    answer_of,
    block_text,
    consult,
    consults_done,
    deliver,
    mention,
    reaction,
)

from bot.budget import (
    BudgetSpec,
    ChannelDay,
    LedgerEntry,
    budget_day,
    read_budget,
    settle_spend,
    snippet,
)
from bot.consult import ConsultRequest, plan_consult
from bot.estimate import Ceiling, consult_ceiling
from bot.fanout import AnswerFinished
from bot.panel import ModelSpec, Panel, TierName, parse_panel
from bot.sandbox.demo import DemoStack, demo_panel, demo_stack
from bot.sandbox.scripts import DEMO_BOOK
from bot.sandbox.slack_api import SandboxMessage
from bot.slack.blocks import format_usd
from bot.slack.budget_texts import reset_time
from bot.store import Store, ThreadRef, escalation_key

SESSIONS = DEMO_BOOK["sessions"]
QUESTION = SESSIONS.question
NOWHERE = "http://127.0.0.1:9/v1"  # these panels price and plan; nothing calls them
PANEL = demo_panel(NOWHERE)
DEMO_TOML = (
    resources.files("bot.sandbox")
    .joinpath("demo_panel.toml")
    .read_text("utf-8")
    .replace("{api_base}", NOWHERE)
)
NEW_YORK = "America/New_York"
FULL_CONSULT = 4  # three panelists and the synthesis


def ceiling(tier: TierName, panel: Panel = PANEL, **plan) -> int:
    """The micro-dollars the app holds for `QUESTION` at `tier`."""
    request = ConsultRequest(QUESTION, tier, "U0ASKER", "T0", CHANNEL)
    planned = plan_consult(request, panel, **plan)
    held = consult_ceiling(
        QUESTION, planned.asked, planned.models, planned.synthesis_models
    )
    assert isinstance(held, Ceiling)
    return held.micros


def capped(micros: int, zone: str = "UTC") -> BudgetSpec:
    spec = BudgetSpec(daily_cap_usd=float(Decimal(micros) / 10**6), timezone=zone)
    assert spec.cap_micros(CHANNEL) == micros
    return spec


def today(space: RedisSpace, zone: str = "UTC") -> ChannelDay:
    day = budget_day(datetime.now(UTC), BudgetSpec(timezone=zone).zone)
    return ChannelDay(space.team, CHANNEL, day)


async def spend_already(store: Store, space: RedisSpace, micros: int) -> None:
    """An earlier consult's spend today, settled straight into the budget."""
    earlier = LedgerEntry(
        at=datetime.now(UTC),
        kind="consult",
        tier="full",
        question="an earlier question",
        charged_micros=micros,
    )
    await settle_spend(store, today(space), earlier)


def dollars(text: str) -> list[int]:
    """Every amount shown in `text`, in micro-dollars."""
    return [int(Decimal(m) * 10**6) for m in re.findall(r"\$(\d+\.\d+)", text)]


def earlier_answer(spec: ModelSpec) -> AnswerFinished:
    return AnswerFinished(spec.alias, spec.label, "Redis.", 10, 5, 20, 1.0)


def status_line(message: SandboxMessage) -> str:
    """An answer's first line: its label, time, tokens and cost."""
    return message.blocks[0]["elements"][0]["text"]


async def responses(stack: DemoStack, count: int) -> list[dict]:
    return await stack.slack.wait_for(
        lambda s: s.responses if len(s.responses) >= count else None,
        TIMEOUT,
        what=f"{count} response(s) to the asker",
    )


async def ephemerals(stack: DemoStack, count: int) -> list:
    return await stack.slack.wait_for(
        lambda s: s.ephemerals if len(s.ephemerals) >= count else None,
        TIMEOUT,
        what=f"{count} ephemeral message(s)",
    )


async def test_twelve_consults_at_once_on_a_cap_that_fits_three_run_three(
    redis_url: str, store: Store, redis_space: RedisSpace
):
    full = ceiling("full")
    cap = 3 * full + full // 2
    async with demo_stack(
        behaviors=dict(FAST), redis_url=redis_url, budget=capped(cap)
    ) as stack:
        stack.models.hold_requests()  # every hold is taken before any consult ends

        acks = await asyncio.gather(
            *(
                consult(stack, f"full {QUESTION}", team=redis_space.team)
                for _ in range(12)
            )
        )
        refusals = await responses(stack, 9)
        await asyncio.wait_for(stack.models.wait_for_requests(3 * 3), TIMEOUT)
        held = await read_budget(store, today(redis_space))
        stack.models.release_requests()
        await consults_done(stack, 3)

        assert [a.status for a in acks] == [200] * 12
        assert (held.running, held.held) == (3, 3 * full)
        assert stack.models.request_count() == 3 * FULL_CONSULT  # none for the nine
        assert len(refusals) == 9
        assert all(r["response_type"] == "ephemeral" for r in refusals)
        assert all("daily cost cap" in r["text"] for r in refusals)
        roots = [m for m in stack.slack.messages(CHANNEL) if not m.thread_ts]
        assert len(roots) == 3
    status = await read_budget(store, today(redis_space))
    assert (status.held, len(status.recent)) == (0, 3)
    assert 0 < status.spent <= cap  # the worst overshoot: none


async def test_a_consult_over_the_cap_is_refused_with_the_numbers_and_a_cheaper_tier(
    redis_url: str, store: Store, redis_space: RedisSpace
):
    full, dual = ceiling("full"), ceiling("dual")
    earlier = 1_234
    cap = earlier + dual + 10  # room for a dual consult, not a full one
    await spend_already(store, redis_space, earlier)
    async with demo_stack(
        behaviors=dict(FAST), redis_url=redis_url, budget=capped(cap, NEW_YORK)
    ) as stack:
        await consult(stack, f"full {QUESTION}", team=redis_space.team)
        (response,) = await responses(stack, 1)

        assert stack.models.request_count() == 0
        assert stack.slack.calls_to("chat.postMessage") == []
    resets = reset_time(today(redis_space, NEW_YORK).day.resets_at)
    lines = response["text"].split("\n")
    assert response["response_type"] == "ephemeral"
    assert lines[:4] + lines[5:] == [
        "I did not run that consult: it would go over this channel's daily cost cap.",
        f"• Spent today: {format_usd(earlier)}",
        f"• Daily cap: {format_usd(cap)}",
        f"• This one would cost up to {format_usd(full)}",
        f"A *dual* consult fits (up to {format_usd(dual)}): "
        "`/consult dual &lt;question&gt;`.",
    ]
    assert re.fullmatch(
        rf"• The cap resets at {re.escape(resets)}, in \d+ h \d+ min\.", lines[4]
    )
    assert resets.startswith("00:00 America/New_York (0")  # 04:00 or 05:00 UTC


async def test_with_a_cap_a_model_without_a_price_is_refused_before_any_call(
    redis_url: str, store: Store, redis_space: RedisSpace
):
    # a model litellm has no price for either (the demo's own are registered)
    swift = 'model = "openai/quorum-swift"\n'
    swift += 'label = "Swift (scripted)"\n'
    swift += f'api_base = "{NOWHERE}"\n'
    swift += "input_cost_per_mtok = 0.25\noutput_cost_per_mtok = 2.0\n"
    house = swift.split("input_cost")[0].replace("quorum-swift", "quorum-unpriced")
    unpriced = parse_panel(DEMO_TOML.replace(swift, house), source="demo panel")
    assert unpriced.models["swift"].price() is None
    async with demo_stack(
        unpriced, behaviors=dict(FAST), redis_url=redis_url, budget=capped(10**6)
    ) as stack:
        await consult(stack, f"dual {QUESTION}", team=redis_space.team)
        (response,) = await responses(stack, 1)

        assert stack.models.request_count() == 0
    assert response["text"] == (
        "I did not run that consult: this channel has a daily cost cap, and Swift "
        "(scripted) has no known price, so its cost cannot be held against the "
        "cap. Set `input_cost_per_mtok` and `output_cost_per_mtok` (USD per "
        "million tokens) under `[models.swift]` in quorum.toml."
    )


async def test_the_answers_and_the_synthesis_add_up_to_the_footer_and_the_charge(
    redis_url: str, store: Store, redis_space: RedisSpace
):
    async with demo_stack(
        behaviors=dict(FAST), redis_url=redis_url, budget=capped(10**6)
    ) as stack:
        await consult(stack, f"full {QUESTION}", team=redis_space.team)
        (root,) = await consults_done(stack, 1)
        thread = stack.slack.thread(CHANNEL, root.ts)

    labels = [spec.label for spec in PANEL.tier("full")]
    answers = [dollars(status_line(answer_of(thread, label)))[0] for label in labels]
    footer = block_text(thread[-1]).split("\n")[-1]
    synthesis, total = dollars(footer)
    assert "synthesis by Synth (scripted) ($" in footer
    assert sum(answers) + synthesis == total
    status = await read_budget(store, today(redis_space))
    assert status.spent == total  # every usage was known: charged exactly that
    assert [(e.tier, e.charged_micros, e.exact) for e in status.recent] == [
        ("full", total, True)
    ]


async def test_consult_budget_shows_the_spend_the_cap_and_the_last_consults(
    redis_url: str, store: Store, redis_space: RedisSpace
):
    cap = 10**6
    async with demo_stack(
        behaviors=dict(FAST), redis_url=redis_url, budget=capped(cap, NEW_YORK)
    ) as stack:
        await consult(stack, f"dual {QUESTION}", team=redis_space.team)
        await consults_done(stack, 1)
        await consult(stack, "budget", team=redis_space.team)
        (response,) = await responses(stack, 1)

    spent = (await read_budget(store, today(redis_space, NEW_YORK))).spent
    day = today(redis_space, NEW_YORK).day
    lines = response["text"].split("\n")
    assert response["response_type"] == "ephemeral"
    assert lines[0] == (
        f"*Quorum in this channel today* ({day.date:%a} {day.date.day} "
        f"{day.date:%b}, America/New_York)"
    )
    assert lines[1] == (
        f"Spent {format_usd(spent)} of the $1.00 daily cap; "
        f"{format_usd(cap - spent)} left."
    )
    assert lines[2].startswith(f"The day resets at {reset_time(day.resets_at)}, in ")
    assert lines[3] == "*Last consults*"
    assert re.fullmatch(
        rf"• \d\d:\d\d · dual · {re.escape(format_usd(spent))} · "
        + re.escape(snippet(QUESTION)),
        lines[4],
    )
    assert len(lines) == 5


async def test_a_follow_up_over_the_cap_is_refused_privately(
    redis_url: str, store: Store, redis_space: RedisSpace
):
    dual = ceiling("dual")
    async with demo_stack(
        behaviors=dict(FAST), redis_url=redis_url, budget=capped(dual)
    ) as stack:
        await consult(stack, f"dual {QUESTION}", team=redis_space.team)
        (root,) = await consults_done(stack, 1)
        before = stack.models.request_count()
        asked = stack.slack.post_user_message(
            CHANNEL, "<@UQUORUM> dual And for shopping carts?", thread_ts=root.ts
        )

        # the first consult spent something, and a follow-up's prompt is longer
        await deliver(
            stack,
            mention("dual And for shopping carts?", asked.ts, thread_ts=root.ts),
            team=redis_space.team,
        )
        (told,) = await ephemerals(stack, 1)

        assert stack.models.request_count() == before
    assert told.user == "U0ASKER"
    assert told.thread_ts == root.ts
    assert told.text.startswith(
        "I did not run that consult: it would go over this channel's daily cost cap."
    )


async def test_an_escalation_holds_only_the_models_it_asks(
    redis_url: str, store: Store, redis_space: RedisSpace
):
    async with demo_stack(
        behaviors=dict(FAST), redis_url=redis_url, budget=capped(10**6)
    ) as stack:
        await consult(stack, f"dual {QUESTION}", team=redis_space.team)
        (root,) = await consults_done(stack, 1)
        stack.models.hold_requests()

        await deliver(stack, reaction(root.ts, user="U0TWO"), team=redis_space.team)
        await asyncio.wait_for(stack.models.wait_for_requests(3 + 1), TIMEOUT)
        during = await read_budget(store, today(redis_space))
        stack.models.release_requests()
        await consults_done(stack, 2)

    # Deep alone is asked; the synthesis reads all three answers
    answered = [earlier_answer(spec) for spec in PANEL.tier("dual")]
    missing_only = ceiling("full", reused=answered)
    assert missing_only < ceiling("full")
    assert (during.running, during.held) == (1, missing_only)
    after = await read_budget(store, today(redis_space))
    assert [e.kind for e in after.recent] == ["escalation", "consult"]
    assert after.recent[0].charged_micros <= missing_only


async def test_an_escalation_over_the_cap_is_refused_and_can_be_asked_again(
    redis_url: str, store: Store, redis_space: RedisSpace
):
    cap = 10**6
    async with demo_stack(
        behaviors=dict(FAST), redis_url=redis_url, budget=capped(cap)
    ) as stack:
        await consult(stack, f"dual {QUESTION}", team=redis_space.team)
        (root,) = await consults_done(stack, 1)
        spent = (await read_budget(store, today(redis_space))).spent
        await spend_already(store, redis_space, cap - spent - 1)  # $0.000001 left

        await deliver(stack, reaction(root.ts, user="U0TWO"), team=redis_space.team)
        (told,) = await ephemerals(stack, 1)

        assert stack.models.request_count() == 3  # the dual consult's, no more
    assert told.user == "U0TWO"
    assert told.text.startswith(
        "I did not escalate: it would go over this channel's daily cost cap."
    )
    ref = ThreadRef(team=redis_space.team, channel=CHANNEL, thread_ts=root.ts)
    assert not await store.redis.exists(escalation_key(ref, 0))


class RedisLink:
    """A TCP relay in front of Redis that a test cuts and mends, as a network
    failure would: while cut, nothing listens and every connection is closed."""

    def __init__(self, redis_url: str) -> None:
        target = urlsplit(redis_url)
        self.target = (target.hostname or "127.0.0.1", target.port or 6379)
        self.path = target.path
        self.port = 0
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}{self.path}"

    async def __aenter__(self) -> RedisLink:
        await self.mend()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.cut()

    async def mend(self) -> None:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        for writer in list(self.writers):
            writer.close()
        self.writers.clear()

    async def _relay(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self.writers |= {writer, up_writer}
        await asyncio.gather(
            _pipe(reader, up_writer), _pipe(up_reader, writer), return_exceptions=True
        )


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        writer.close()


async def test_without_redis_a_capped_consult_is_refused_and_service_comes_back(
    redis_url: str, store: Store, redis_space: RedisSpace
):
    async with (
        RedisLink(redis_url) as link,
        demo_stack(
            behaviors=dict(FAST), redis_url=link.url, budget=capped(10**6)
        ) as stack,
    ):
        await link.cut()
        reply = await consult(stack, f"dual {QUESTION}", team=redis_space.team)
        (refusal,) = await responses(stack, 1)
        assert stack.models.request_count() == 0

        await link.mend()
        await consult(stack, f"dual {QUESTION}", team=redis_space.team)
        await consults_done(stack, 1)

    assert reply.status == 200
    assert refusal["response_type"] == "ephemeral"
    assert refusal["text"] == (
        "I did not run that consult: this channel has a daily cost cap, and its "
        "spending cannot be checked right now (cannot reach Redis; is it "
        "running?); try again in a minute."
    )
