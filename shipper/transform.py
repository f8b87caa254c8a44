"""One log line in, one Elasticsearch document out: the seed's Logstash filter.

Nothing is dropped: a line that is not a JSON object is shipped as its raw text in
``message`` tagged ``_jsonparsefailure``; invalid UTF-8 is replaced and tagged;
a cut line is tagged ``_truncated``. ``traced`` marks events with a ``request_id``
(Logstash's ``if [request_id]``).
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from shipper.elastic import index_for
from shipper.file_progress import FileProgress
from shipper.line_decoder import Line

# Timestamps outside this range cannot name a daily index; they are treated as missing.
_EPOCH_MIN = 0.0
_EPOCH_MAX = 253402300799.0  # 9999-12-31T23:59:59Z


@dataclass(slots=True)
class Event:
    """A document ready for ``_bulk``, with the file position that acknowledges it."""

    progress: FileProgress
    offset: int
    end: int
    doc_id: str
    index: str
    source: bytes

    @property
    def size(self) -> int:
        return len(self.source) + len(self.doc_id) + len(self.index) + 40


def document_id(fingerprint: str, offset: int) -> str:
    """The same line of the same file always gets the same ``_id``: re-sending it is a 409."""
    return f"{fingerprint}-{offset}"


def to_event(line: Line, progress: FileProgress, path: str, host_name: str) -> Event:
    """Build the document of ``line``, read at byte ``line.start`` of ``path``."""
    tags: list[str] = []
    try:
        text = line.data.decode("utf-8")
    except UnicodeDecodeError:
        text = line.data.decode("utf-8", "replace")
        tags.append("_invalid_utf8")
    if line.truncated:
        tags.append("_truncated")
    document = _parse_object(text)
    if document is None:
        document = {"message": text}
        tags.append("_jsonparsefailure")
    if document.get("request_id"):
        tags.append("traced")
    epoch = _epoch_of(document.get("timestamp"))
    if epoch is None:
        epoch = time.time()
        tags.append("_timestamp_missing")
    document["@timestamp"] = (
        datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )
    document["tags"] = list(dict.fromkeys(_existing_tags(document.get("tags")) + tags))
    document["log"] = {"file": {"path": path}, "offset": line.start}
    document["host"] = {"name": host_name}
    return Event(
        progress=progress,
        offset=line.start,
        end=line.end,
        doc_id=document_id(progress.fingerprint, line.start),
        index=_daily_index(int(epoch // 86400)),
        source=orjson.dumps(document),
    )


@functools.lru_cache(maxsize=64)
def _daily_index(day: int) -> str:
    # Formatting a date per event costs more than all the rest of the index name logic.
    return index_for(day * 86400)


def _parse_object(text: str) -> dict[str, Any] | None:
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _epoch_of(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    epoch = float(value)
    if not math.isfinite(epoch) or not _EPOCH_MIN <= epoch <= _EPOCH_MAX:
        return None
    return epoch


def _existing_tags(value: object) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(tag) for tag in value]
    return [str(value)]
