"""The transform stage: one log line in, one Elasticsearch document out (the seed's Logstash
filter), from the lines queue to the events queue.

Nothing is dropped, and nothing a line holds stops the stage: a line that is not a JSON
object is shipped as its raw text in ``message`` tagged ``_jsonparsefailure``; invalid
UTF-8 is replaced and tagged; a cut line is tagged ``_truncated``. ``traced`` marks events
with a ``request_id`` (Logstash's ``if [request_id]``). The event time is the line's own
(``shipper/event_time.py``), else the time it was read, tagged ``_timestamp_missing``. What
Elasticsearch would refuse or not index, or what cannot be encoded, is handled as
``shipper/fallback.py`` says, before the sink ever sees it.
"""

from __future__ import annotations

import asyncio
import functools
import time
from typing import Any

import orjson

from jarvis.logline import MESSAGE, REQUEST_ID, decode_line
from shipper import fallback
from shipper.elastic import index_for
from shipper.event import END_OF_STREAM, Event, EventQueue, document_id
from shipper.event_time import event_time, event_time_in_text, iso_time
from shipper.file_progress import FileProgress
from shipper.sink.index_template import DYNAMIC_KEYWORD_LIMIT
from shipper.source.line_decoder import Line
from shipper.source.tailer import LineQueue

# No field of a line this short can be too long to index (fallback.not_indexed).
_PLAIN_MAX_BYTES = DYNAMIC_KEYWORD_LIMIT
# Lines transformed between two looks at the event loop: a group read from a file holds
# hundreds, and meanwhile an answer from Elasticsearch waits to be read and the next request
# to be sent. About a millisecond: while the next request waits, Elasticsearch has one fewer
# to work on.
SLICE_LINES = 100


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
            progress, path, lines = group.progress, group.path, group.lines
            for start in range(0, len(lines), SLICE_LINES):
                if start:
                    await asyncio.sleep(0)
                sliced = lines[start : start + SLICE_LINES]
                await self._events.put(
                    [to_event(line, progress, path, self._host_name) for line in sliced]
                )
        await self._events.put(END_OF_STREAM)


def to_event(line: Line, progress: FileProgress, path: str, host_name: str) -> Event:
    """Build the document of ``line``, read at byte ``line.start`` of ``path``. Never raises:
    whatever the line holds, one event comes out."""
    built = _plain_document(line, path, host_name) or _document(line, path, host_name)
    fields, epoch, reason = built
    try:
        source = orjson.dumps(fields)
    except TypeError as error:  # nested beyond orjson's limit, an integer beyond 64 bits...
        reason = fallback.UNENCODABLE
        text = _text_of(line.data)[0]
        safe = fallback.safe_document(fields, text, f"cannot be encoded: {error}")
        source = orjson.dumps(safe)
    return Event(
        progress=progress,
        offset=line.start,
        end=line.end,
        doc_id=document_id(progress.fingerprint, line.start),
        index=_daily_index(int(epoch // 86400)),
        # orjson keeps its whole output buffer (4 KiB and up) behind a short document: held
        # in the queues and batches, that was 8 KiB an event, 80 MiB for a backlog of 10k
        # lines. An exact copy costs a fraction of a microsecond.
        source=bytes(memoryview(source)),
        line=line.data,
        fallback=reason,
    )


_Built = tuple[dict[str, Any], float, str | None]


def _plain_document(line: Line, path: str, host_name: str) -> _Built | None:
    """The document of the common line, a flat JSON object with ordinary field names, built
    as ``_document`` would build it but without its checks (nearly all the transform's time);
    None for any other line."""
    data = line.data
    # One brace and no bracket: no object or list inside (one inside a string only sends the
    # line the careful way). Short enough that no value can be too long to index.
    if line.truncated or len(data) > _PLAIN_MAX_BYTES or data.count(b"{") != 1 or b"[" in data:
        return None
    try:
        # Bytes straight in: orjson checks the UTF-8 itself, and refuses a byte order mark.
        fields = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    if type(fields) is not dict or not fallback.plain_names(tuple(fields)):
        return None
    epoch = event_time(fields)
    tags = ["traced"] if fields.get(REQUEST_ID) else []
    if epoch is None:
        epoch = time.time()
        tags.append("_timestamp_missing")
    fields["@timestamp"] = iso_time(epoch)
    fields["log"] = {"file": {"path": path}, "offset": line.start}
    fields["host"] = {"name": host_name}
    fields["tags"] = tags
    return fields, epoch, None


def _document(line: Line, path: str, host_name: str) -> _Built:
    """The document of any line, whatever it holds."""
    text, tags = _text_of(line.data)
    if line.truncated:
        tags.append("_truncated")
    moved: list[str] = []  # why fields were set aside
    kept: list[str] = []  # why the line is also kept whole
    fields = decode_line(text)
    if fields is None and (fields := fallback.decode_lenient(text)) is not None:
        kept.append("not strict JSON")
    if fields is None:
        fields = {MESSAGE: text}
        tags.append("_jsonparsefailure")
        epoch = event_time_in_text(text)
    else:
        epoch = event_time(fields)
    moved += fallback.set_aside(fields, epoch)
    if why := fallback.not_indexed(fields, text):
        kept.append(why)
    if fields.get(REQUEST_ID):
        tags.append("traced")
    if epoch is None:
        epoch = time.time()
        tags.append("_timestamp_missing")
    own_tags = fallback.tag_list(fields.get("tags")) or []
    fields["@timestamp"] = iso_time(epoch)
    moved += fallback.merge_own(fields, "log", {"file": {"path": path}, "offset": line.start})
    moved += fallback.merge_own(fields, "host", {"name": host_name})
    reason = None
    if moved or kept:
        reason = fallback.FIELDS_MOVED if moved else fallback.ORIGINAL_KEPT
        tags.append(fallback.TAGS[reason])
        fallback.keep_original(fields, text, moved + kept)
    fields["tags"] = list(dict.fromkeys(own_tags + tags))
    return fields, epoch, reason


def _text_of(data: bytes) -> tuple[str, list[str]]:
    """The line as text, and its tag if it was not UTF-8."""
    tags = []
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("utf-8", "replace")
        tags.append("_invalid_utf8")
    # A byte order mark (a file begun by a Windows editor) is not part of the line.
    return text.removeprefix("\ufeff"), tags


@functools.lru_cache(maxsize=64)
def _daily_index(day: int) -> str:
    # Formatting a date per event costs more than all the rest of the index name logic.
    return index_for(day * 86400)
