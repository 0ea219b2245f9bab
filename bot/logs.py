"""Log context: which team, channel and thread a line belongs to.

The consult sets the context once; every task it starts inherits it, so each
log line of a model call carries it without passing it around.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar

_where: ContextVar[str] = ContextVar("quorum_where", default="-")


def set_where(*, team: str, channel: str, thread: str | None) -> None:
    _where.set(f"team={team} channel={channel} thread={thread or '-'}")


class WhereFilter(logging.Filter):
    """Adds `%(where)s` to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.where = _where.get()
        return True


def configure_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler()
    handler.addFilter(WhereFilter())
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s %(where)s %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
