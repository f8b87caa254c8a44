"""What flows from the transform to the sink: events, in groups, and the end of the stream.

An event is one log line made into an Elasticsearch document. It carries the position of
its line in its file, so that once stored it can be acknowledged back to the registry, and
the line itself, so that a document Elasticsearch refuses can be replaced by a fallback.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from shipper.file_progress import FileProgress

# Put on a stage's input queue to say that nothing follows; each stage passes it on.
END_OF_STREAM = None


@dataclass(slots=True)
class Event:
    """A document ready for ``_bulk``, with the file position that acknowledges it."""

    progress: FileProgress
    offset: int
    end: int
    doc_id: str
    index: str
    source: bytes
    # The line as read: should Elasticsearch refuse ``source``, its fallback is built from it.
    line: bytes = b""
    # Why ``source`` is not the line as it is (a FALLBACK_REASONS label), if it is not.
    fallback: str | None = None

    @property
    def size(self) -> int:
        return len(self.source) + len(self.doc_id) + len(self.index) + 40


def document_id(fingerprint: str, offset: int) -> str:
    """The same line of the same file always gets the same ``_id``: re-sending it is a 409."""
    return f"{fingerprint}-{offset}"


# Groups of events, from the transform to the batcher.
EventQueue = asyncio.Queue[list[Event] | None]
