"""Writes a consult into a Slack thread as it happens.

Each model's answer is a live message: posted when its first text arrives,
then brought up to date while it streams, and always written in full when the
model finishes. An answer longer than one message continues in further
messages; a part that is complete is written once more, in full, and then
left alone. Every post and edit goes through the channel's `ChannelScheduler`,
which paces them and decides which intermediate frames to drop.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.consult import ConsultRequest, ConsultResult
from bot.errors import SlackWriteError, ThreadUnavailable
from bot.fanout import AnswerDelta, AnswerFailed, AnswerFinished, PanelEvent
from bot.panel import ModelSpec, Stance
from bot.slack import blocks
from bot.slack.scheduler import ChannelScheduler, ChannelSchedulers, Payload, Render
from bot.slack.text import (
    fallback_text,
    fit_blocks,
    shorten,
    split_long_sections,
    split_message,
)

logger = logging.getLogger(__name__)

DONE_EVENT = "quorum_consult_done"
ROOT_QUESTION_CHARS = 2000  # the models get all of it; the root shows this much


class SlackThread:
    """A consult's thread in one channel; implements `ConsultThread`.

    Pass the app's `ChannelSchedulers` so that every consult in a channel
    shares one scheduler; without it the thread paces itself alone.
    """

    def __init__(
        self,
        client: AsyncWebClient,
        channel: str,
        *,
        thread_ts: str | None = None,
        schedulers: ChannelSchedulers | None = None,
    ) -> None:
        self.client = client
        self.channel = channel
        self.thread_ts = thread_ts  # set: the consult lives under an existing message
        self.root_ts: str | None = None
        self.scheduler: ChannelScheduler = (
            schedulers or ChannelSchedulers()
        ).for_channel(client, channel)
        self.gone: ThreadUnavailable | None = None
        self._answers: dict[str, _LiveAnswer] = {}
        self._stances: dict[str, Stance] = {}
        self._root_message_ts: str | None = None

    async def open(
        self,
        request: ConsultRequest,
        models: list[ModelSpec],
        *,
        stances: dict[str, Stance] | None = None,
    ) -> str:
        self._stances = dict(stances or {})
        root = self._root(request, models, "_asking…_", self._stances)
        response = await self.post(
            lambda: {
                **root,
                "thread_ts": self.thread_ts,
                "unfurl_links": False,
                "unfurl_media": False,
            }
        )
        self.root_ts = self.thread_ts or response["ts"]
        self._root_message_ts = response["ts"]
        if len(request.question) > ROOT_QUESTION_CHARS:
            await self._post_whole_question(request.question)
        return self.root_ts

    async def _post_whole_question(self, question: str) -> None:
        """A question too long for the root goes into the thread in full."""
        parts = split_message(question)
        for number, part in enumerate(parts, 1):
            payload = {
                "text": "The whole question",
                "blocks": blocks.question_part_blocks(part, number, len(parts)),
                "thread_ts": self.root_ts,
                "unfurl_links": False,
                "unfurl_media": False,
            }
            await self.post(lambda payload=payload: payload)

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
        try:
            await asyncio.gather(*(live.flushed() for live in self._answers.values()))
            if self.gone:
                raise self.gone
            if result.synthesis is not None:
                await self._post_synthesis(result)
            await self._mark_done(result)
        finally:
            self.scheduler.forget(self)

    def lost(self, error: ThreadUnavailable) -> None:
        """The thread is gone: stop every live answer; the consult stops next."""
        self.gone = self.gone or error
        self.stop()

    def stop(self) -> None:
        """Stop writing answers: the consult ended without `close`."""
        for live in self._answers.values():
            live.stop()

    async def post(self, render: Render) -> Payload:
        """Post a reply (or the root) through the channel's scheduler."""
        if self.gone:
            raise self.gone
        return await self.scheduler.post(self, render)

    def edit(self, ts: str, render: Render, *, final: bool) -> asyncio.Future[Any]:
        return self.scheduler.edit(self, ts, render, final=final)

    async def _post_synthesis(self, result: ConsultResult) -> None:
        text = blocks.synthesis_text(result)
        messages = fit_blocks(blocks.synthesis_blocks(result))
        for index, message_blocks in enumerate(messages):
            shown = text if index == 0 else f"{text} (continued)"
            payload = {
                "thread_ts": self.root_ts,
                "text": shown,
                "blocks": message_blocks,
                "unfurl_links": False,
                "unfurl_media": False,
            }
            await self.post(lambda payload=payload: payload)

    async def _mark_done(self, result: ConsultResult) -> None:
        status = "done"
        if result.confidence is not None:
            status = f"done · {blocks.confidence_line(result.confidence)}"
        root = self._root(result.request, result.models, status, result.stances)
        metadata = {"event_type": DONE_EVENT, "event_payload": {"status": "done"}}
        await self.edit(
            str(self._root_message_ts),
            lambda: {**root, "metadata": metadata},
            final=True,
        )

    def _root(
        self,
        request: ConsultRequest,
        models: list[ModelSpec],
        status: str,
        stances: dict[str, Stance],
    ) -> Payload:
        shown = dataclasses.replace(
            request, question=shorten(request.question, ROOT_QUESTION_CHARS)
        )
        root = blocks.root_blocks(shown, models, status, stances)
        return {"text": blocks.root_text(request), "blocks": split_long_sections(root)}


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
        self.ts: list[str] = []  # one per part posted
        self._complete_parts = 0  # parts whose full text has been handed over
        self._stopped = False
        self._changed = asyncio.Event()
        self._ended = asyncio.Event()
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
        self._ended.set()

    def stop(self) -> None:
        self._stopped = True
        self._changed.set()
        self._ended.set()

    async def flushed(self) -> None:
        """Wait until the final state is in Slack (or cannot be)."""
        await self._task

    async def _run(self) -> None:
        try:
            while True:
                await self._changed.wait()
                self._changed.clear()
                if self._stopped:
                    return
                final = self.outcome is not None
                pending = await self._hand_over(final)
                if final:
                    await asyncio.gather(*pending)
                    return
                await self._sent_or_ended(pending[-1])
        except ThreadUnavailable as exc:
            self.thread.lost(exc)
        except SlackWriteError as exc:
            logger.error("answer not written label=%s error=%s", self.label, exc.code)

    async def _hand_over(self, final: bool) -> list[asyncio.Future[Any]]:
        """Queue the complete parts' last edits, post the parts Slack lacks,
        then queue an edit of the last part."""
        count = self._part_count()
        pending = self._complete(count)  # before posting: they need not wait
        while len(self.ts) < count:
            response = await self.thread.post(self._render(len(self.ts), thread=True))
            self.ts.append(response["ts"])
        pending += self._complete(count)
        last = count - 1
        pending.append(self.thread.edit(self.ts[last], self._render(last), final=final))
        return pending

    def _complete(self, count: int) -> list[asyncio.Future[Any]]:
        """A part followed by another is complete: its full text, once, as final."""
        done = range(self._complete_parts, min(count - 1, len(self.ts)))
        self._complete_parts = max(self._complete_parts, done.stop)
        return [
            self.thread.edit(self.ts[index], self._render(index), final=True)
            for index in done
        ]

    async def _sent_or_ended(self, frame: asyncio.Future[Any]) -> None:
        """Let the scheduler send the frame before rendering again, unless the
        answer ends first: its final text then replaces the frame."""
        ended = asyncio.ensure_future(self._ended.wait())
        try:
            await asyncio.wait({frame, ended}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ended.cancel()
        if frame.done() and not frame.cancelled() and frame.exception():
            raise frame.exception()  # type: ignore[misc]

    def _part_count(self) -> int:
        if self.outcome is None and not self.text:
            return 0
        return len(split_message(self.text))

    def _render(self, index: int, *, thread: bool = False) -> Render:
        """How part `index` reads at the moment the scheduler sends it."""

        def render() -> Payload:
            payload = self._message(index)
            if thread:
                payload |= {
                    "thread_ts": self.thread.root_ts,
                    "unfurl_links": False,
                    "unfurl_media": False,
                }
            return payload

        return render

    def _message(self, index: int) -> Payload:
        outcome = self.outcome
        if isinstance(outcome, AnswerFailed) and not self.text:
            why = f"did not answer: {outcome.reason}"
            return {
                "text": fallback_text(self.label, why),
                "blocks": blocks.failure_blocks(outcome, self.stance),
            }
        parts = split_message(self.text)
        body = parts[index] if index < len(parts) else ""
        title = self.label if len(parts) == 1 else f"{self.label} (part {index + 1})"
        return {
            "text": fallback_text(title, body),
            "blocks": blocks.answer_blocks(
                self.label, body, self._status(index, len(parts)), 1, 1, self.stance
            ),
        }

    def _status(self, index: int, count: int) -> str:
        """The status line; a long answer's parts are numbered in it, because
        the number of parts is not known until the answer ends."""
        if index < count - 1:
            return f"part {index + 1} · continued below"
        status = blocks.answer_status(self.outcome)
        if count == 1:
            return status
        if self.outcome is None:
            return f"part {index + 1} · {status}"
        return f"part {count} of {count} · {status}"
