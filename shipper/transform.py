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

import functools
import time

import orjson

from jarvis.logline import MESSAGE, REQUEST_ID, decode_line
from shipper import fallback
from shipper.elastic import index_for
from shipper.event import END_OF_STREAM, Event, EventQueue, document_id
from shipper.event_time import event_time, event_time_in_text, iso_time
from shipper.file_progress import FileProgress
from shipper.source.line_decoder import Line
from shipper.source.tailer import LineQueue


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
    """Build the document of ``line``, read at byte ``line.start`` of ``path``. Never raises:
    whatever the line holds, one event comes out."""
    tags: list[str] = []
    try:
        text = line.data.decode("utf-8")
    except UnicodeDecodeError:
        text = line.data.decode("utf-8", "replace")
        tags.append("_invalid_utf8")
    if line.truncated:
        tags.append("_truncated")
    # A byte order mark (a file begun by a Windows editor) is not part of the line.
    text = text.removeprefix("\ufeff")
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
    try:
        source = orjson.dumps(fields)
    except TypeError as error:  # nested beyond orjson's limit, an integer beyond 64 bits...
        reason = fallback.UNENCODABLE
        safe = fallback.safe_document(fields, text, f"cannot be encoded: {error}")
        source = orjson.dumps(safe)
    return Event(
        progress=progress,
        offset=line.start,
        end=line.end,
        doc_id=document_id(progress.fingerprint, line.start),
        index=_daily_index(int(epoch // 86400)),
        source=source,
        line=line.data,
        fallback=reason,
    )


@functools.lru_cache(maxsize=64)
def _daily_index(day: int) -> str:
    # Formatting a date per event costs more than all the rest of the index name logic.
    return index_for(day * 86400)
