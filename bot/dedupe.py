"""Exactly-once claims: the first process to claim a piece of work does it.

A claim is one `SET key owner NX EX ttl` (keys and TTLs in `bot.store`), so it
is atomic across every process that shares the Redis, and the first caller
alone gets True.

How long claims live:

- An event claim lives 1 hour. Slack redelivers an unacknowledged event three
  times: at once, after about a minute and after about five, so its whole
  retry schedule ends some 6 minutes after the first try. An hour covers that
  tenfold, and duplicates that arrive without retry headers as well, at the
  price of one ~100-byte key per event for an hour (about 4 MB at 10 events a
  second).
- A message claim lives 1 hour too: the `app_mention` and `message` events of
  one user message, and their retries, all arrive within that schedule.
- An escalation claim lives as long as the thread's conversation (7 days by
  default): a question is escalated once for as long as Quorum remembers it.

A crash after a claim loses that piece of work. Claims are taken before the
work and never handed over, so if the process dies between claiming and
posting, Slack's retries (and the other process) find the claim and skip; the
person sees no answer and asks again. The alternative, a short lease renewed
while the consult runs, would re-run consults whenever a process stalls, and a
duplicate consult costs money and posts twice; losing a rare one is the lesser
harm. A failure the process survives is different: whoever catches it before
anything was posted calls `release_*`, so Slack's next retry is done.
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import timedelta

from bot.store import (
    EVENT_CLAIM_TTL,
    MESSAGE_CLAIM_TTL,
    THREAD_TTL,
    Store,
    ThreadRef,
    escalation_key,
    event_key,
    message_key,
    store_errors,
)

logger = logging.getLogger(__name__)


async def claim_event(store: Store, event_id: str) -> bool:
    """True for the first claim of a Slack event id, False for every repeat."""
    return await _claim(store, event_key(event_id), EVENT_CLAIM_TTL)


async def release_event(store: Store, event_id: str) -> None:
    """Let a later delivery of `event_id` be processed after a failed start."""
    await _release(store, event_key(event_id))


async def claim_message(store: Store, team: str, channel: str, ts: str) -> bool:
    """True for the first event about a user message (`app_mention`, `message`)."""
    return await _claim(store, message_key(team, channel, ts), MESSAGE_CLAIM_TTL)


async def release_message(store: Store, team: str, channel: str, ts: str) -> None:
    await _release(store, message_key(team, channel, ts))


async def claim_escalation(
    store: Store, thread: ThreadRef, turn: int, *, ttl: timedelta = THREAD_TTL
) -> bool:
    """True once per (thread, turn), however many people react, however often.

    Pass the thread TTL the conversation is saved with as `ttl`.
    """
    return await _claim(store, escalation_key(thread, turn), ttl)


async def release_escalation(store: Store, thread: ThreadRef, turn: int) -> None:
    await _release(store, escalation_key(thread, turn))


async def _claim(store: Store, key: str, ttl: timedelta) -> bool:
    with store_errors():
        claimed = await store.redis.set(key, _owner(), nx=True, ex=ttl)
    if not claimed:
        logger.info("duplicate skipped key=%s", key)
    return bool(claimed)


async def _release(store: Store, key: str) -> None:
    # A plain DEL: a release follows its failed claim within seconds, long
    # before the claim could have expired and been taken by someone else.
    with store_errors():
        await store.redis.delete(key)
    logger.info("claim released key=%s", key)


def _owner() -> str:
    """Who holds a claim, for whoever debugs a lost event: host and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"
