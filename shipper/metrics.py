"""jarvis-shipper's own Prometheus metrics, named exactly as the contract names them.

The registry is injected (a fresh one per shipper, per test). Every series exists from
the first scrape, at zero.
"""

from __future__ import annotations

from dataclasses import dataclass

from aioprometheus import Counter, Gauge, Histogram, Registry

BULK_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
BULK_OUTCOMES = ("ok", "partial", "error")
# What the shipper writes to its own disk (see disk_health.py).
DISK_TARGETS = ("registry", "backup", "dead_letter")
# Why a document is not the line as it is (see fallback.py).
FALLBACK_REASONS = ("fields_moved", "original_kept", "unencodable", "refused")


@dataclass(frozen=True)
class ShipperMetrics:
    registry: Registry
    events_read: Counter
    events_shipped: Counter
    events_retried: Counter
    events_dead_lettered: Counter
    events_fallback: Counter
    dead_letter_bytes: Counter
    dead_letter_rotations: Counter
    bytes_read: Counter
    bytes_shipped: Counter
    bulk_seconds: Histogram
    bulk_requests: Counter
    lag_bytes: Gauge
    lag_seconds: Gauge
    elasticsearch_up: Gauge
    files_held_back: Gauge
    queue_events: Gauge
    files_rotated: Counter
    empty_lines: Counter
    disk_errors: Counter

    @classmethod
    def create(cls, registry: Registry | None = None) -> ShipperMetrics:
        """Define every family on ``registry`` (a new one by default), all at zero."""
        registry = registry or Registry()

        def counter(name: str, text: str) -> Counter:
            return Counter(name, text, registry=registry)

        def gauge(name: str, text: str) -> Gauge:
            return Gauge(name, text, registry=registry)

        m = cls(
            registry=registry,
            events_read=counter("shipper_events_read_total", "Lines read from the log files"),
            events_shipped=counter(
                "shipper_events_shipped_total", "Events acknowledged by Elasticsearch"
            ),
            events_retried=counter(
                "shipper_events_retried_total", "Events sent again after a retryable failure"
            ),
            events_dead_lettered=counter(
                "shipper_events_dead_lettered_total", "Events Elasticsearch will never accept"
            ),
            events_fallback=counter(
                "shipper_events_fallback_total",
                "Events stored with fields set aside, the line kept whole in event.original, "
                "or as a safe document in place of one that could not be stored, by reason",
            ),
            dead_letter_bytes=counter(
                "shipper_dead_letter_bytes_total", "Bytes written to the dead-letter file"
            ),
            dead_letter_rotations=counter(
                "shipper_dead_letter_rotations_total",
                "Dead-letter files rotated at their size limit",
            ),
            bytes_read=counter("shipper_bytes_read_total", "Bytes read from the log files"),
            bytes_shipped=counter(
                "shipper_bytes_shipped_total", "Bytes of lines acknowledged by Elasticsearch"
            ),
            bulk_seconds=Histogram(
                "shipper_bulk_seconds",
                "Duration of _bulk requests",
                registry=registry,
                buckets=BULK_BUCKETS,
            ),
            bulk_requests=counter("shipper_bulk_requests_total", "_bulk requests by outcome"),
            lag_bytes=gauge(
                "shipper_lag_bytes", "Bytes written to the files, not yet acknowledged"
            ),
            lag_seconds=gauge(
                "shipper_lag_seconds", "Age of the oldest unacknowledged event (0 when caught up)"
            ),
            elasticsearch_up=gauge(
                "shipper_elasticsearch_up", "1 when the last request reached Elasticsearch"
            ),
            files_held_back=gauge(
                "shipper_files_held_back",
                "Rotated files kept uncompressed or undeleted: not fully acknowledged",
            ),
            queue_events=gauge(
                "shipper_queue_events", "Events read and not yet acknowledged (queued or in flight)"
            ),
            files_rotated=counter("shipper_files_rotated_total", "Live files rotated by size"),
            # Beyond the contract's list: empty lines are skipped, and this says how many.
            empty_lines=counter("shipper_empty_lines_total", "Empty lines skipped, not shipped"),
            disk_errors=counter(
                "shipper_disk_errors_total",
                "Failed writes of the registry, a compressed backup or the dead-letter file",
            ),
        )
        for plain in (
            m.events_read,
            m.events_shipped,
            m.events_retried,
            m.events_dead_lettered,
            m.dead_letter_bytes,
            m.dead_letter_rotations,
            m.bytes_read,
            m.bytes_shipped,
            m.files_rotated,
            m.empty_lines,
        ):
            plain.add({}, 0)
        for outcome in BULK_OUTCOMES:
            m.bulk_requests.add({"outcome": outcome}, 0)
        for level in (m.lag_bytes, m.lag_seconds, m.files_held_back, m.queue_events):
            level.set({}, 0)
        m.elasticsearch_up.set({}, 0)
        for target in DISK_TARGETS:
            m.disk_errors.add({"target": target}, 0)
        for reason in FALLBACK_REASONS:
            m.events_fallback.add({"reason": reason}, 0)
        return m
