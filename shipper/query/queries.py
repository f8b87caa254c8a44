"""Elasticsearch query bodies built from an :class:`EventFilter`.

Only structured clauses (``term``, ``terms``, ``prefix``, ``range``, ``match``) carry what a
user typed, as values: nothing typed can change the query's structure (no ``query_string``).
"""

from __future__ import annotations

from typing import Any, Literal

from jarvis.logline import ACTION, LEVEL, LOGGER, MESSAGE, REQUEST_ID, TIMESTAMP, USER_ID
from shipper.query.filters import EventFilter

Order = Literal["asc", "desc"]


def event_query(event_filter: EventFilter) -> dict[str, Any]:
    """A ``bool`` filter query selecting exactly the events ``event_filter`` describes."""
    clauses: list[dict[str, Any]] = []
    for value, field in (
        (event_filter.request_id, REQUEST_ID),
        (event_filter.user_id, USER_ID),
        (event_filter.action, ACTION),
    ):
        if value is not None:
            clauses.append({"term": {field: value}})
    if event_filter.levels is not None:
        clauses.append({"terms": {LEVEL: list(event_filter.levels)}})
    if event_filter.logger is not None:
        clauses.append(
            {
                "bool": {
                    "should": [
                        {"term": {LOGGER: event_filter.logger}},
                        {"prefix": {LOGGER: event_filter.logger + "."}},
                    ],
                    "minimum_should_match": 1,
                }
            }
        )
    if event_filter.since is not None or event_filter.until is not None:
        clauses.append(time_range(event_filter))
    if event_filter.text is not None:
        clauses.append({"match": {MESSAGE: {"query": event_filter.text, "operator": "and"}}})
    return {"bool": {"filter": clauses}}


def time_range(event_filter: EventFilter) -> dict[str, Any]:
    """A ``range`` clause on ``@timestamp`` for the filter's since/until, in epoch milliseconds."""
    bounds: dict[str, Any] = {"format": "epoch_millis"}
    if event_filter.since is not None:
        bounds["gte"] = int(event_filter.since.timestamp() * 1000)
    if event_filter.until is not None:
        bounds["lte"] = int(event_filter.until.timestamp() * 1000)
    return {"range": {"@timestamp": bounds}}


def timeline_sort(order: Order) -> list[dict[str, Any]]:
    """Time order that keeps the order lines had in their file when times are equal.

    ``@timestamp`` has millisecond precision; the original ``timestamp`` is finer, and the
    byte offset orders lines written within the same instant. ``unmapped_type`` keeps indices
    that lack a field (older or partial ones) from failing the whole search. The point in
    time adds its own ``_shard_doc`` tiebreaker, which makes ``search_after`` pages exact.
    """
    return [
        {"@timestamp": {"order": order, "unmapped_type": "date"}},
        {TIMESTAMP: {"order": order, "unmapped_type": "double"}},
        {"log.offset": {"order": order, "unmapped_type": "long"}},
    ]
