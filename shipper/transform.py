"""The transform stage: one log line in, one Elasticsearch document out (the seed's Logstash
filter), from the lines queue to the events queue.

Nothing is dropped: a line that is not a JSON object is shipped as its raw text in
``message`` tagged ``_jsonparsefailure``; invalid UTF-8 is replaced and tagged;
a cut line is tagged ``_truncated``. ``traced`` marks events with a ``request_id``
(Logstash's ``if [request_id]``).
"""

from __future__ import annotations

import functools
import math
import time
from datetime import UTC, datetime

import orjson

from jarvis.logline import MESSAGE, REQUEST_ID, TIMESTAMP, decode_line
from shipper.elastic import index_for
from shipper.event import END_OF_STREAM, Event, EventQueue, document_id
from shipper.file_progress import FileProgress
from shipper.source.line_decoder import Line
from shipper.source.tailer import LineQueue

# Timestamps outside this range cannot name a daily index; they are treated as missing.
_EPOCH_MIN = 0.0
_EPOCH_MAX = 253402300799.0  # 9999-12-31T23:59:59Z


class Transformer:
    """Turns each group of lines into a group of events until END_OF_STREAM, then passes it on.

    The events queue is bounded: when the batcher falls behind, the put waits, the lines
    queue fills, and the tailer stops reading.
    """

    def __init__(self, lines: LineQueue, events: EventQueue, *, host_name: str) -> None:
        self._lines = lines
        self._events = events
        self._host_name = host_name

    async def run(self) -> None:
        while (group := await self._lines.get()) is not END_OF_STREAM:
            progress, path = group.progress, group.path
            events = [to_event(line, progress, path, self._host_name) for line in group.lines]
            await self._events.put(events)
        await self._events.put(END_OF_STREAM)


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
    document = decode_line(text)
    if document is None:
        document = {MESSAGE: text}
        tags.append("_jsonparsefailure")
    if document.get(REQUEST_ID):
        tags.append("traced")
    epoch = _epoch_of(document.get(TIMESTAMP))
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
