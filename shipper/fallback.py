"""What a line becomes when Elasticsearch cannot store it as it is: one document all the same.

Three degrees, each tagged, with its reason in ``event.fallback_reason`` and the whole line as
text in ``event.original``, so that a search for any word of the line finds it:

- ``_fields_moved``: the top-level fields Elasticsearch would refuse, or the shipper would
  overwrite, are left out (an ``_id``, an object in a field the contract maps as a value,
  a ``host`` that is a string, ...); every other field stays a field.
- ``_original_kept``: every field stays, but some of the line would not be indexed (a long
  string, more fields than an index takes, nesting past the mapping depth) or it was not
  strict JSON (``NaN``, a number too large for a double, a raw control character).
- ``_mapping_fallback``: only safe parts, for a line that cannot be encoded (nested beyond
  orjson's limit) or that Elasticsearch refused: the contract's fields (any value but an
  object fits their mapping), ``@timestamp``, ``log``, ``host``, ``tags``.

A safe document can still be refused (a closed index, say); only then does the event go to
the dead-letter file.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Iterator
from typing import Any

import orjson

from shipper.event import Event
from shipper.event_time import epoch_of
from shipper.metrics import FALLBACK_REASONS
from shipper.sink.index_template import (
    CONTRACT_FIELDS,
    CONTRACT_KEYWORD_LIMIT,
    DYNAMIC_KEYWORD_LIMIT,
)

FIELDS_MOVED, ORIGINAL_KEPT, UNENCODABLE, REFUSED = FALLBACK_REASONS
TAGS = {
    FIELDS_MOVED: "_fields_moved",
    ORIGINAL_KEPT: "_original_kept",
    UNENCODABLE: "_mapping_fallback",
    REFUSED: "_mapping_fallback",
}

# Names Elasticsearch keeps for itself: as a field of a document, refused or worse
# (``_doc_count`` would multiply the line in every aggregation).
METADATA_FIELDS = frozenset(
    "_id _index _source _routing _ignored _ignored_source _field_names _seq_no _primary_term "
    "_version _nested_path _data_stream_timestamp _doc_count _tier _tsid _ts_routing_hash "
    "_feature _meta _size _type _uid _parent _all".split()
)
# Set by the shipper on every document.
OWN_FIELDS = ("@timestamp", "tags", "log", "host", "event")

# Beyond these, part of a line may go unindexed: it is kept whole in ``event.original`` too.
MAPPING_DEPTH = 20
MANY_FIELDS = 256
_TEXT_FIELDS = frozenset(name for name, kind in CONTRACT_FIELDS.items() if kind == "text")
_REASON_CHARS = 2000
_NAME_CHARS = 80
_FALLBACK_TAGS = frozenset(TAGS.values())
_WATCHED = METADATA_FIELDS | frozenset(OWN_FIELDS)
_CONTAINERS = (dict, list)


def decode_lenient(text: str) -> dict[str, Any] | None:
    """The object of a line orjson refuses but Python's parser takes (``NaN``, ``1e400``,
    a raw control character in a string, a lone surrogate), or None."""
    try:
        value = json.loads(text, strict=False)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def set_aside(fields: dict[str, Any], used_time: float | None) -> list[str]:
    """Remove from ``fields`` the top-level values Elasticsearch would refuse or the shipper
    overwrite; return why, one reason per field (empty when nothing moved). ``used_time`` is
    the time read from the line: an ``@timestamp`` holding another one is moved aside."""
    reasons = []
    # Most names are plain identifiers, outside the shipper's and Elasticsearch's own, with a
    # plain value: only the others are looked at closely.
    suspects = [
        name
        for name, value in fields.items()
        if not name.isidentifier()
        or name in _WATCHED
        or (type(value) in _CONTAINERS and name in CONTRACT_FIELDS)
    ]
    for name in suspects:
        why = _why_set_aside(name, fields[name], used_time)
        if why:
            del fields[name]
            reasons.append(f"{_shown(name)}: {why}")
    return reasons


@functools.lru_cache(maxsize=256)
def plain_names(names: tuple[str, ...]) -> bool:
    """True when none of these top-level names needs a closer look (``set_aside``): each a
    plain identifier, none Elasticsearch's or the shipper's own. A program writes the same few
    sets of names over and over: each set is looked at once."""
    return all(name.isidentifier() for name in names) and _WATCHED.isdisjoint(names)


def merge_own(fields: dict[str, Any], name: str, ours: dict[str, Any]) -> list[str]:
    """Put the shipper's object ``ours`` under ``name``, merged into the line's own object
    there; return why, for each of the line's values it replaces (they live on in
    ``event.original``)."""
    if name not in fields:
        fields[name] = ours
        return []
    replaced: list[str] = []
    fields[name] = _merged(fields[name], ours, name, replaced)
    return [f"{_shown(path)}: set by the shipper" for path in replaced]


def tag_list(value: object) -> list[str] | None:
    """A line's own ``tags`` as strings, or None when they are not a string or a list of
    plain values."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(tag, str | int | float) for tag in value):
        return [str(tag) for tag in value]
    return None


def not_indexed(fields: dict[str, Any], text: str) -> str | None:
    """Why part of ``fields`` (parsed from ``text``) would be stored but not indexed, or None.
    Looks at every value once at most, without recursion, and stops at the first reason."""
    if len(text) <= DYNAMIC_KEYWORD_LIMIT and text.count("{") <= MAPPING_DEPTH:
        return None  # too short for a long string or many fields, too flat to be deep
    count = 0
    for depth, name, value in _walk(fields):
        if isinstance(value, dict):
            count += len(value)
            if count > MANY_FIELDS:
                return f"more than {MANY_FIELDS} fields"
        if depth > MAPPING_DEPTH:
            return f"nested deeper than {MAPPING_DEPTH}"
        if isinstance(value, str) and len(value) > _keyword_limit(name, depth):
            return f"{_shown(name)}: a string too long to index as a keyword"
    return None


def keep_original(fields: dict[str, Any], original: str, reasons: list[str]) -> None:
    """Add the whole line to ``fields`` as ``event.original``, and why; a line's own ``event``
    object stays, but for those two (its values are in the line, after all)."""
    event = fields.get("event")
    fields["event"] = {
        **(event if isinstance(event, dict) else {}),
        "original": original,
        "fallback_reason": "; ".join(reasons)[:_REASON_CHARS],
    }


def safe_document(document: dict[str, Any], original: str, reason: str) -> dict[str, Any]:
    """The ``_mapping_fallback`` of ``document`` (as built by the transform): its safe parts,
    the line as text and the reason. Always encodable."""
    safe: dict[str, Any] = {}
    for name in CONTRACT_FIELDS:
        if name in document:
            value = _safe_value(document[name])
            if value is not None:
                safe[name] = value
    safe["@timestamp"] = document.get("@timestamp")
    safe["log"] = {
        "file": {"path": _picked(document, "log", "file", "path")},
        "offset": _picked(document, "log", "offset"),
    }
    safe["host"] = {"name": _picked(document, "host", "name")}
    tags = [tag for tag in document.get("tags", ()) if tag not in _FALLBACK_TAGS]
    safe["tags"] = [*tags, TAGS[REFUSED]]
    safe["event"] = {"original": original, "fallback_reason": reason[:_REASON_CHARS]}
    return safe


def replacement(event: Event, reason: str) -> Event:
    """The event to send in place of one Elasticsearch refused: its safe document, under the
    same ``_id`` (nothing was stored under it, so the line is still stored once)."""
    document = orjson.loads(event.source)
    original = event.line.decode("utf-8", "replace")
    safe = safe_document(document, original, reason)
    return dataclasses.replace(event, source=orjson.dumps(safe), fallback=REFUSED)


def is_safe(event: Event) -> bool:
    """True when ``event`` already holds a safe document: if refused, nothing is left to try."""
    return event.fallback in (UNENCODABLE, REFUSED)


def _why_set_aside(name: str, value: object, used_time: float | None) -> str | None:
    if name in METADATA_FIELDS:
        return "an Elasticsearch metadata field"
    if _refused_name(name):
        return "a field name Elasticsearch refuses"
    if name in CONTRACT_FIELDS and _holds_object(value):
        return f"an object where the contract has a {CONTRACT_FIELDS[name]}"
    if name == "@timestamp":
        epoch = epoch_of(value)
        if epoch is None or used_time is None or abs(epoch - used_time) >= 0.001:
            return "not the time the shipper read (it sets @timestamp)"
    if name == "tags" and tag_list(value) is None:
        return "tags must be a string or a list of them"
    if name == "event" and not isinstance(value, dict):
        return "the shipper's event object"
    if name in ("log", "host") and not isinstance(value, dict):
        return f"the shipper's {name} object"
    return None


def _refused_name(name: str) -> bool:
    if name and "." not in name and not name.isspace():
        return False
    parts = name.split(".")
    if len(parts) > 1 and parts[-1] == "":
        parts.pop()  # "a." is taken as "a"
    return any(not part.strip() for part in parts)


def _holds_object(value: object) -> bool:
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            return True
        if isinstance(item, list):
            pending.extend(item)
    return False


def _merged(line_value: object, ours: dict[str, Any], path: str, replaced: list[str]) -> Any:
    if not isinstance(line_value, dict):
        if line_value is not None:
            replaced.append(path)
        return ours
    merged = dict(line_value)
    for key, value in ours.items():
        if isinstance(value, dict):
            merged[key] = _merged(merged.get(key), value, f"{path}.{key}", replaced)
        else:
            if merged.get(key, value) != value:
                replaced.append(f"{path}.{key}")
            merged[key] = value
    return merged


def _walk(fields: dict[str, Any]) -> Iterator[tuple[int, str, object]]:
    """(depth, top-level name, value) of ``fields`` (at depth 0) and of every value under it,
    depth first."""
    yield 0, "", fields
    pending: list[tuple[int, str, object]] = [(1, name, value) for name, value in fields.items()]
    while pending:
        depth, name, value = pending.pop()
        yield depth, name, value
        if isinstance(value, dict):
            pending.extend((depth + 1, name, item) for item in value.values())
        elif isinstance(value, list):
            pending.extend((depth, name, item) for item in value)


def _keyword_limit(name: str, depth: int) -> float:
    if depth == 1 and name in _TEXT_FIELDS:
        return float("inf")
    if depth == 1 and name in CONTRACT_FIELDS:
        return CONTRACT_KEYWORD_LIMIT
    return DYNAMIC_KEYWORD_LIMIT


def _safe_value(value: object) -> object:
    if isinstance(value, list):
        items = [_safe_scalar(item) for item in value if not isinstance(item, list | dict)]
        return [item for item in items if item is not None] or None
    return _safe_scalar(value)


def _safe_scalar(value: object) -> object:
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, int) and not isinstance(value, bool) and not -(2**63) <= value < 2**64:
        # Beyond orjson's 64 bits: as a double, or left to event.original when even that
        # overflows.
        return float(value) if abs(value) < 2**1023 else None
    if isinstance(value, bool | int | float):
        return value
    return None


def _picked(document: object, *path: str) -> object:
    for key in path:
        if not isinstance(document, dict):
            return None
        document = document.get(key)
    return document


def _shown(name: str) -> str:
    return repr(name[:_NAME_CHARS])
