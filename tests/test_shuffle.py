"""Blind and fair: the synthesis model sees the answers in a new order each time.

Consults run through the real core (litellm's OpenAI client against the local
model server); the assertions are on the synthesis requests the server got.
"""

import re
from collections import Counter

from bot.consult import ConsultRequest, ConsultResult, run_consult
from bot.fanout import PanelEvent
from bot.prompts import SYNTHESIS_SYSTEM
from bot.sandbox.demo import demo_panel
from bot.sandbox.model_server import Behavior, ModelServer, Pace
from bot.sandbox.scripts import DEMO_BOOK, PANEL_MODELS

INSTANT = Pace(ttft_s=0.0, tokens_per_s=1_000_000)
# Short answers that say who wrote them keep forty consults quick.
SIGNED = {
    model: Behavior(INSTANT, reply=f"Answer by {model}.") for model in PANEL_MODELS
}
SESSIONS = DEMO_BOOK["sessions"]
# With the production shuffle, the chance that one of three answers is never
# first in 40 consults is 3 * (2/3) ** 40, about 3 in ten million.
CONSULTS = 40
ANSWER = re.compile(r'<answer label="([A-Z])">\n(.*?)\n</answer>', re.DOTALL)


class Recorder:
    """A `ConsultThread` that keeps what it is shown."""

    def __init__(self) -> None:
        self.events: list[PanelEvent] = []
        self.result: ConsultResult | None = None

    async def open(self, request, models, *, stances=None) -> None:
        pass

    async def show(self, event: PanelEvent) -> None:
        self.events.append(event)

    async def close(self, result: ConsultResult) -> None:
        self.result = result


def shown_order(user_message: str) -> list[tuple[str, str]]:
    """(letter, model) of each answer in a synthesis prompt, in prompt order."""
    return [
        (letter, text.removeprefix("Answer by ").removesuffix("."))
        for letter, text in ANSWER.findall(user_message)
    ]


async def test_over_many_consults_each_answer_comes_first_to_the_synthesis_model():
    request = ConsultRequest(SESSIONS.question, "full", "U0ASKER", "T0", "C0")
    async with ModelServer(DEMO_BOOK, SIGNED, default=Behavior(INSTANT)) as models:
        panel = demo_panel(models.base_url)
        for _ in range(CONSULTS):
            thread = Recorder()
            await run_consult(request, panel, thread)
            assert thread.result is not None
            assert len(thread.result.answers) == 3

    synthesis_prompts = [
        r.messages[-1]["content"]
        for r in models.requests
        if r.messages[0]["content"] == SYNTHESIS_SYSTEM
    ]
    orders = [shown_order(prompt) for prompt in synthesis_prompts]
    assert len(orders) == CONSULTS
    for order in orders:
        assert [letter for letter, _ in order] == ["A", "B", "C"]
        assert sorted(model for _, model in order) == sorted(PANEL_MODELS)
    firsts = Counter(order[0][1] for order in orders)
    assert set(firsts) == set(PANEL_MODELS)
