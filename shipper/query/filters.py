"""Which events a command wants: one typed filter, used by every source.

Elasticsearch sources translate it into a structured query (``queries.py``); file sources
apply :meth:`EventFilter.matches` to each parsed line. Both give the same answer for the
fields the contract defines.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from jarvis.logline import ACTION, LEVEL, LEVELS, LOGGER, MESSAGE, REQUEST_ID, TIMESTAMP, USER_ID

_WORD = re.compile(r"\w+")


def levels_at_least(level: str) -> tuple[str, ...]:
    """The level names as severe as ``level`` or more (``WARNING`` → WARNING, ERROR, CRITICAL)."""
    name = level.upper()
    if name == "WARN":
        name = "WARNING"
    if name not in LEVELS:
        raise ValueError(f"{level!r} is not a level; use one of {', '.join(LEVELS)}")
    return LEVELS[LEVELS.index(name) :]


def message_words(text: str) -> set[str]:
    """The lower-cased words of a text, roughly as Elasticsearch's standard analyzer sees them."""
    return {word.lower() for word in _WORD.findall(text)}


@dataclass(frozen=True)
class EventFilter:
    """Every set criterion must hold; ``None`` means "any"."""

    request_id: str | None = None
    user_id: str | None = None
    levels: tuple[str, ...] | None = None
    # A logger and its children, as in Python's logging hierarchy.
    logger: str | None = None
    action: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    # Every word must appear in the message (a ``match`` query with operator ``and``).
    text: str | None = None

    def matches(self, event: Mapping[str, Any]) -> bool:
        """True when the decoded log line ``event`` satisfies every criterion."""
        checks = (
            (self.request_id, REQUEST_ID),
            (self.user_id, USER_ID),
            (self.action, ACTION),
        )
        for wanted, field in checks:
            if wanted is not None and event.get(field) != wanted:
                return False
        if self.levels is not None and event.get(LEVEL) not in self.levels:
            return False
        if self.logger is not None:
            logger = event.get(LOGGER)
            if not isinstance(logger, str) or not (
                logger == self.logger or logger.startswith(self.logger + ".")
            ):
                return False
        if self.since is not None or self.until is not None:
            timestamp = event.get(TIMESTAMP)
            if not isinstance(timestamp, int | float):
                return False
            if self.since is not None and timestamp < self.since.timestamp():
                return False
            if self.until is not None and timestamp > self.until.timestamp():
                return False
        if self.text is not None:
            message = event.get(MESSAGE)
            if not isinstance(message, str):
                return False
            if not message_words(self.text) <= message_words(message):
                return False
        return True
