"""The seed's business KPIs, computed by Elasticsearch aggregations over a time window.

- messages per hour: ``chat_request`` events in an hourly ``date_histogram``;
- active users: distinct ``user_id`` over all events, and per chat transport (http / ws);
- top errors per user: ``chat_error`` events by ``user_id`` then by ``error``;
- error rate by stage: ``chat_error`` per ``stage`` divided by the ``chat_request`` count;
- request duration per endpoint: ``http_access`` by ``route``, mean and p95 of ``duration_ms``;
- LLM response time: mean and p95 of ``llm_seconds`` over ``chat_success``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from jarvis.logline import (
    ACTION,
    DURATION_MS,
    ERROR,
    LLM_SECONDS,
    ROUTE,
    STAGE,
    TRANSPORT,
    USER_ID,
    Action,
)
from shipper.query.filters import EventFilter
from shipper.query.queries import time_range

_TOP_USERS = 10
_TOP_ERRORS = 3
_MAX_ROUTES = 100
_MAX_STAGES = 20
# Below this many distinct values the cardinality aggregation counts exactly.
_EXACT_CARDINALITY = 40_000
UNKNOWN_USER = "(unknown)"


@dataclass(frozen=True)
class HourCount:
    hour: str
    messages: int


@dataclass(frozen=True)
class UserErrors:
    user_id: str
    errors: int
    top: list[tuple[str, int]]


@dataclass(frozen=True)
class StageErrors:
    stage: str
    errors: int
    rate: float | None


@dataclass(frozen=True)
class RouteDurations:
    route: str
    requests: int
    mean_ms: float | None
    p95_ms: float | None


@dataclass(frozen=True)
class StatsReport:
    since: str
    until: str
    events: int
    chat_requests: int
    chat_errors: int
    messages_per_hour: list[HourCount]
    active_users: int
    active_users_by_transport: dict[str, int]
    top_errors_per_user: list[UserErrors]
    error_rate_by_stage: list[StageErrors]
    duration_by_route: list[RouteDurations]
    llm_mean_seconds: float | None
    llm_p95_seconds: float | None

    def as_json(self) -> dict[str, Any]:
        """Plain JSON-ready data; tuples become ``[error, count]`` pairs."""
        return asdict(self)


def stats_aggregations(since: datetime, until: datetime) -> dict[str, Any]:
    """The aggregations one size-0 search needs to compute a :class:`StatsReport`."""
    return {
        "chat_requests": {
            "filter": {"term": {ACTION: Action.CHAT_REQUEST}},
            "aggs": {
                "per_hour": {
                    "date_histogram": {
                        "field": "@timestamp",
                        "calendar_interval": "hour",
                        "min_doc_count": 0,
                        "extended_bounds": {
                            "min": int(since.timestamp() * 1000),
                            "max": int(until.timestamp() * 1000),
                        },
                    }
                },
                "by_transport": {
                    "terms": {"field": TRANSPORT, "size": 10},
                    "aggs": {"users": _distinct_users()},
                },
            },
        },
        "active_users": _distinct_users(),
        "chat_errors": {
            "filter": {"term": {ACTION: Action.CHAT_ERROR}},
            "aggs": {
                "by_stage": {"terms": {"field": STAGE, "size": _MAX_STAGES}},
                "by_user": {
                    "terms": {"field": USER_ID, "size": _TOP_USERS, "missing": UNKNOWN_USER},
                    "aggs": {"top": {"terms": {"field": ERROR, "size": _TOP_ERRORS}}},
                },
            },
        },
        "http": {
            "filter": {"term": {ACTION: Action.HTTP_ACCESS}},
            "aggs": {
                "by_route": {
                    "terms": {"field": ROUTE, "size": _MAX_ROUTES},
                    "aggs": {
                        "mean": {"avg": {"field": DURATION_MS}},
                        "p95": {"percentiles": {"field": DURATION_MS, "percents": [95]}},
                    },
                }
            },
        },
        "llm": {
            "filter": {"term": {ACTION: Action.CHAT_SUCCESS}},
            "aggs": {
                "mean": {"avg": {"field": LLM_SECONDS}},
                "p95": {"percentiles": {"field": LLM_SECONDS, "percents": [95]}},
            },
        },
    }


def stats_query(since: datetime, until: datetime) -> dict[str, Any]:
    """The events the figures are computed over: those inside the window."""
    return {"bool": {"filter": [time_range(EventFilter(since=since, until=until))]}}


def build_report(result: dict[str, Any], since: datetime, until: datetime) -> StatsReport:
    """Reads the aggregation ``result`` (with ``total``) into figures a person can read."""
    chat = result.get("chat_requests", {})
    chat_requests = int(chat.get("doc_count", 0))
    errors = result.get("chat_errors", {})
    return StatsReport(
        since=_iso(since),
        until=_iso(until),
        events=int(result.get("total", 0)),
        chat_requests=chat_requests,
        chat_errors=int(errors.get("doc_count", 0)),
        messages_per_hour=[
            HourCount(hour=_iso_millis(bucket["key"]), messages=int(bucket["doc_count"]))
            for bucket in _buckets(chat, "per_hour")
        ],
        active_users=int(result.get("active_users", {}).get("value", 0)),
        active_users_by_transport={
            str(bucket["key"]): int(bucket["users"]["value"])
            for bucket in _buckets(chat, "by_transport")
        },
        top_errors_per_user=[
            UserErrors(
                user_id=str(bucket["key"]),
                errors=int(bucket["doc_count"]),
                top=[(str(top["key"]), int(top["doc_count"])) for top in _buckets(bucket, "top")],
            )
            for bucket in _buckets(errors, "by_user")
        ],
        error_rate_by_stage=[
            StageErrors(
                stage=str(bucket["key"]),
                errors=int(bucket["doc_count"]),
                rate=bucket["doc_count"] / chat_requests if chat_requests else None,
            )
            for bucket in _buckets(errors, "by_stage")
        ],
        duration_by_route=[
            RouteDurations(
                route=str(bucket["key"]),
                requests=int(bucket["doc_count"]),
                mean_ms=bucket["mean"]["value"],
                p95_ms=_percentile(bucket["p95"]),
            )
            for bucket in _buckets(result.get("http", {}), "by_route")
        ],
        llm_mean_seconds=result.get("llm", {}).get("mean", {}).get("value"),
        llm_p95_seconds=_percentile(result.get("llm", {}).get("p95", {})),
    )


def _distinct_users() -> dict[str, Any]:
    return {"cardinality": {"field": USER_ID, "precision_threshold": _EXACT_CARDINALITY}}


def _buckets(parent: dict[str, Any], name: str) -> list[dict[str, Any]]:
    return list(parent.get(name, {}).get("buckets", []))


def _percentile(aggregation: dict[str, Any]) -> float | None:
    values = aggregation.get("values") or {}
    value = next(iter(values.values()), None)
    return float(value) if value is not None else None


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _iso_millis(epoch_millis: int) -> str:
    return _iso(datetime.fromtimestamp(epoch_millis / 1000, UTC))
