"""Writes a consult into a Slack thread as it happens.

Each model's answer is a live message: posted when its first text arrives,
then edited at most about once a second while it streams, and always written
in full when the model finishes. An answer longer than one message continues
in further messages.
"""

from __future__ import annotations

import asyncio
import logging
import time

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.consult import ConsultRequest, ConsultResult
from bot.errors import ThreadUnavailable, slack_thread_error
from bot.fanout import AnswerDelta, AnswerFailed, AnswerFinished, PanelEvent
from bot.panel import ModelSpec, Stance
from bot.slack import blocks
from bot.slack.text import split_message

logger = logging.getLogger(__name__)

UPDATE_INTERVAL_S = 1.0
DONE_EVENT = "quorum_consult_done"


class SlackThread:
    """A consult's thread in one channel; implements `ConsultThread`."""

    def __init__(
        self,
        client: AsyncWebClient,
        channel: str,
        *,
        thread_ts: str | None = None,
        update_interval_s: float = UPDATE_INTERVAL_S,
    ) -> None:
        self.client = client
        self.channel = channel
        self.thread_ts = thread_ts  # set: the consult lives under an existing message
        self.root_ts: str | None = None
        self.update_interval_s = update_interval_s
        self._answers: dict[str, _LiveAnswer] = {}
        self._request: ConsultRequest | None = None
        self._models: list[ModelSpec] = []
        self._stances: dict[str, Stance] = {}
        self.gone: ThreadUnavailable | None = None

    async def open(
        self,
        request: ConsultRequest,
        models: list[ModelSpec],
        *,
        stances: dict[str, Stance] | None = None,
    ) -> str:
        self._request, self._models = request, models
        self._stances = dict(stances or {})
        response = await self.call(
            "chat_postMessage",
            channel=self.channel,
            thread_ts=self.thread_ts,
            text=blocks.root_text(request),
            blocks=blocks.root_blocks(request, models, "_asking…_", self._stances),
            unfurl_links=False,
            unfurl_media=False,
        )
        self.root_ts = self.thread_ts or response["ts"]
        self._root_message_ts = response["ts"]
        return self.root_ts

    async def show(self, event: PanelEvent) -> None:
        if self.gone:
            raise self.gone
        live = self._answers.get(event.alias)
        if live is None:
            stance = self._stances.get(event.alias)
            live = self._answers[event.alias] = _LiveAnswer(self, event.label, stance)
        if isinstance(event, AnswerDelta):
            live.grow(event.text)
        elif isinstance(event, AnswerFinished | AnswerFailed):
            live.end(event)

    async def close(self, result: ConsultResult) -> None:
        await asyncio.gather(*(live.flushed() for live in self._answers.values()))
        if self.gone:
            raise self.gone
        if result.synthesis is not None:
            await self.call(
                "chat_postMessage",
                channel=self.channel,
                thread_ts=self.root_ts,
                text=blocks.synthesis_text(result),
                blocks=blocks.synthesis_blocks(result),
                unfurl_links=False,
                unfurl_media=False,
            )
        await self._mark_done(result)

    async def _mark_done(self, result: ConsultResult) -> None:
        status = "done"
        if result.confidence is not None:
            status = f"done · {blocks.confidence_line(result.confidence)}"
        await self.call(
            "chat_update",
            channel=self.channel,
            ts=self._root_message_ts,
            text=blocks.root_text(result.request),
            blocks=blocks.root_blocks(
                result.request, result.models, status, result.stances
            ),
            metadata={"event_type": DONE_EVENT, "event_payload": {"status": "done"}},
        )

    async def call(self, method: str, **kwargs: object) -> dict:
        """Call the Web API; an error that closes the thread is `ThreadUnavailable`."""
        try:
            response = await getattr(self.client, method)(**kwargs)
        except SlackApiError as exc:
            code = exc.response.get("error") if exc.response else None
            gone = slack_thread_error(code)
            if gone is None:
                raise
            self.gone = self.gone or gone
            raise gone from exc
        return response.data if hasattr(response, "data") else response


class _LiveAnswer:
    """One model's answer: its messages in the thread and the text they show."""

    def __init__(
        self, thread: SlackThread, label: str, stance: Stance | None = None
    ) -> None:
        self.thread = thread
        self.label = label
        self.stance = stance
        self.text = ""
        self.outcome: AnswerFinished | AnswerFailed | None = None
        self.sent: list[tuple[str, list]] = []  # (ts, blocks) per part
        self._changed = asyncio.Event()
        self._task = asyncio.create_task(self._run())

    def grow(self, text: str) -> None:
        self.text += text
        self._changed.set()

    def end(self, outcome: AnswerFinished | AnswerFailed) -> None:
        self.outcome = outcome
        if isinstance(outcome, AnswerFinished):
            self.text = outcome.text
        else:
            self.text = outcome.partial_text or self.text
        self._changed.set()

    async def flushed(self) -> None:
        """Wait until the final state is in Slack (or the thread is gone)."""
        try:
            await self._task
        except ThreadUnavailable:
            pass

    async def _run(self) -> None:
        last_sent = 0.0
        while True:
            await self._changed.wait()
            wait = last_sent + self.thread.update_interval_s - time.monotonic()
            if wait > 0 and self.outcome is None:
                await asyncio.sleep(wait)  # pace edits; the final one goes at once
            self._changed.clear()
            last_sent = time.monotonic()
            try:
                await self._send()
            except SlackApiError as exc:
                # a passing failure: the next change (or the final text) tries again
                logger.warning(
                    "slack update failed error=%s", exc.response.get("error")
                )
                if self.outcome is not None:
                    return
            if self.outcome is not None and not self._changed.is_set():
                return

    async def _send(self) -> None:
        if isinstance(self.outcome, AnswerFailed) and not self.text:
            rendered = [blocks.failure_blocks(self.outcome, self.stance)]
        else:
            parts = split_message(self.text)
            status = blocks.answer_status(self.outcome)
            rendered = [
                blocks.answer_blocks(
                    self.label, part, status, i + 1, len(parts), self.stance
                )
                for i, part in enumerate(parts)
            ]
        for index, message_blocks in enumerate(rendered):
            await self._put(index, message_blocks)

    async def _put(self, index: int, message_blocks: list) -> None:
        fallback = f"{self.label}: answer"
        thread = self.thread
        if index < len(self.sent):
            ts, shown = self.sent[index]
            if shown == message_blocks:
                return
            await thread.call(
                "chat_update",
                channel=thread.channel,
                ts=ts,
                text=fallback,
                blocks=message_blocks,
            )
            self.sent[index] = (ts, message_blocks)
            return
        response = await thread.call(
            "chat_postMessage",
            channel=thread.channel,
            thread_ts=thread.root_ts,
            text=fallback,
            blocks=message_blocks,
            unfurl_links=False,
            unfurl_media=False,
        )
        self.sent.append((response["ts"], message_blocks))
