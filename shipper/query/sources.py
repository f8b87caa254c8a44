"""What a place to read events from offers, whatever it is (Elasticsearch or local files)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Sequence
from typing import Any, Protocol

from shipper.query.filters import EventFilter

# One log line as read back: decoded from a file, or the document the shipper indexed for it.
LogEntry = dict[str, Any]
# Events per Elasticsearch request (``--page-size``), and per batch read from the files.
DEFAULT_PAGE_SIZE = 1000


class SourceUnavailable(Exception):
    """The source cannot be read at all (unreachable, refused, misconfigured).

    The message is one line a user can act on; it never contains credentials.
    """


class EventSource(Protocol):
    @property
    def place(self) -> str:
        """Where the events are read, for messages."""
        ...

    @property
    def notes(self) -> list[str]:
        """What the last ``find`` could not read, for the user; empty when it read everything."""
        ...

    async def find(self, event_filter: EventFilter, *, latest: int | None = None) -> list[LogEntry]:
        """Every matching event, oldest first; with ``latest``, only the newest ``latest`` ones."""
        ...

    def stream(
        self, event_filter: EventFilter, *, without: Sequence[str] = ()
    ) -> AsyncGenerator[list[LogEntry], None]:
        """Every matching event, oldest first, a batch at a time as it is read: however many
        there are, only a batch or two is held at once. The top-level fields named in
        ``without`` may be left out."""
        ...


class NothingToRead(Exception):
    """The source holds nothing to look at (no such index, no file matching the path)."""
