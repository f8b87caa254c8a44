"""The sink: sends batches of events to ``_bulk`` until each one is stored or dead-lettered.

Delivery guarantee: at least once delivery, exactly once storage. Every action is
``create`` with the deterministic ``_id`` of its line, so an event sent twice (after a
crash, or a retry of a request whose answer was lost) comes back 409 and counts as
delivered. Whole-request failures (no connection, 429, 5xx) and per-item 429/5xx are
retried forever with exponential backoff and jitter, and only the failed items are
sent again: an item that succeeded is never re-sent, a retryable one is never dropped.

An item Elasticsearch will never accept as it is (400 mapping conflict and the like) is
sent again at once as its fallback, a safe document (``shipper/fallback.py``) under the same
``_id``: a refused ``create`` stored nothing, so the line is still stored once. Only an item
refused even then goes to the dead-letter file, and only once it is on disk does it count as
done; while the disk refuses it, it stays unacknowledged and is tried again with the backoff.

The sink owns its senders: loops that each take a batch from the batcher and deliver it,
``senders`` bulk requests in flight at once. There is one loop more than that, its body
built, waiting for a request to come back: the next request goes out the moment one does,
not after the answer has been read and acknowledged. What is done is handed to the
acknowledgements.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from shipper import fallback
from shipper.acknowledgements import Acknowledgements
from shipper.batcher import BatchQueue, IdleSenders
from shipper.disk_health import DEAD_LETTER, DiskHealth
from shipper.event import END_OF_STREAM, Event
from shipper.metrics import ShipperMetrics
from shipper.sink.bulk_client import BulkClient, ElasticsearchUnreachable, RequestRefused
from shipper.sink.dead_letter import DeadLetterFile, Rejection
from shipper.sink.index_template import TEMPLATE_NAME, template_body

log = logging.getLogger("shipper.bulk_sink")

# Whole requests refused for their content: halved until the offending document is alone.
_BAD_REQUEST = (400, 413)
# How a ``_bulk`` answer filtered to BULK_FILTER starts when every item was stored (a 409,
# already stored, counts as an error there): then nothing else in it needs reading.
_ALL_STORED = b'{"errors":false'


@dataclass(frozen=True)
class RetryPolicy:
    initial: float = 0.2
    maximum: float = 30.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based): exponential, jittered."""
        ceiling = min(self.maximum, self.initial * 2 ** min(attempt, 32))
        # Half fixed, half random: spreads retries of many shippers without ever being ~0.
        return ceiling / 2 + random.uniform(0, ceiling / 2)


def is_retryable(status: int, error_type: object = None) -> bool:
    """Failures that may succeed later: overload (429), server-side failures (5xx), and
    write blocks on an index (403), which an operator or freed disk space lifts."""
    return status == 429 or status >= 500 or error_type == "cluster_block_exception"


class BulkSink:
    def __init__(
        self,
        client: BulkClient,
        batches: BatchQueue,
        idle_senders: IdleSenders,
        acknowledgements: Acknowledgements,
        dead_letters: DeadLetterFile,
        metrics: ShipperMetrics,
        retry: RetryPolicy,
        *,
        senders: int,
        disk: DiskHealth | None = None,
    ) -> None:
        self._client = client
        self._batches = batches
        self._idle_senders = idle_senders
        self._acknowledgements = acknowledgements
        self._dead_letters = dead_letters
        self._metrics = metrics
        self._retry = retry
        self._senders = senders
        self._in_flight = asyncio.Semaphore(senders)
        # Without the pipeline's, a health of its own: disk errors are still logged and counted.
        self._disk = disk or DiskHealth(metrics)
        self._refusals = 0
        self._reachable = False

    @property
    def reachable(self) -> bool:
        """True when the last request reached an Elasticsearch able to take documents;
        the ``shipper_elasticsearch_up`` gauge reports this state."""
        return self._reachable

    async def run(self) -> None:
        """Install the template, then deliver batches until END_OF_STREAM."""
        await self._install_template()
        async with asyncio.TaskGroup() as senders:
            for number in range(self._senders + 1):
                senders.create_task(self._send_batches(), name=f"sender-{number}")

    async def _send_batches(self) -> None:
        while True:
            with self._idle_senders.waiting():
                batch = await self._batches.get()
            if batch is END_OF_STREAM:
                # Let the other senders see the end too.
                await self._batches.put(END_OF_STREAM)
                return
            await self.deliver(batch)

    async def _install_template(self) -> None:
        """Install the index template, retrying until Elasticsearch takes it."""
        attempt = 0
        while True:
            try:
                await self._client.put_index_template(TEMPLATE_NAME, template_body())
            except (ElasticsearchUnreachable, RequestRefused) as error:
                self._set_reachable(
                    isinstance(error, RequestRefused) and not is_retryable(error.status)
                )
                delay = self._retry.delay(attempt)
                if attempt % 10 == 0:
                    log.warning(
                        "index template not installed, retrying",
                        extra={"error": _describe(error), "attempt": attempt + 1},
                    )
                await asyncio.sleep(delay)
                attempt += 1
            else:
                self._set_reachable(True)
                log.info("index template installed")
                return

    async def deliver(self, events: Sequence[Event]) -> None:
        """Return once every event is stored (2xx, or 409: already there), as it is or as its
        fallback, or dead-lettered."""
        remaining = list(events)
        attempt = 0
        while remaining:
            retry, replaced = await self._send(remaining)
            # Fallbacks go out at once; only a retry waits for the backoff.
            remaining = retry + replaced
            if retry:
                self._metrics.events_retried.add({}, len(retry))
                delay = self._retry.delay(attempt)
                if attempt == 0 or attempt % 10 == 0:
                    log.warning(
                        "bulk items failed, retrying them",
                        extra={"events": len(retry), "attempt": attempt + 1},
                    )
                await asyncio.sleep(delay)
                attempt += 1

    async def _send(self, events: list[Event]) -> tuple[list[Event], list[Event]]:
        """One ``_bulk`` request; returns the events to send again after a backoff, and the
        fallbacks to send now."""
        try:
            answer = await self._post(bulk_body(events))
        except RequestRefused as error:
            self._observe("error")
            self._set_reachable(not is_retryable(error.status) or error.status == 429)
            if error.status in _BAD_REQUEST:
                return await self._rejected_request(events, error)
            # Anything else (5xx, 429, 401/403 until credentials are fixed...) is not the
            # documents' fault: they are kept and sent again.
            self._refusals += 1
            if self._refusals % 10 == 1:
                log.warning("bulk request refused, retrying", extra={"error": _describe(error)})
            return events, []
        except ElasticsearchUnreachable as error:
            self._observe("error")
            if self._reachable:
                log.warning("Elasticsearch unreachable", extra={"error": _describe(error)})
            self._set_reachable(False)
            return events, []
        self._set_reachable(True)
        if answer.startswith(_ALL_STORED):
            self._observe("ok")
            self._finish(events)
            return [], []
        return await self._sort_items(events, _items_of(answer))

    async def _post(self, body: bytes) -> bytes:
        """POST ``body`` to ``_bulk``, holding one of the ``senders`` slots only while the
        request is out."""
        async with self._in_flight:
            started = time.perf_counter()
            try:
                answer = await self._client.bulk(body)
            finally:
                self._metrics.bulk_seconds.observe({}, time.perf_counter() - started)
        # The slot is free: the sender waiting on it, its body built, sends before this one
        # acknowledges its events and builds its next body (milliseconds for a full batch),
        # or Elasticsearch would have one request fewer to work on meanwhile.
        await asyncio.sleep(0)
        return answer

    async def _sort_items(
        self, events: list[Event], items: list[dict[str, Any]]
    ) -> tuple[list[Event], list[Event]]:
        """Acknowledge the items stored; return those to retry and the fallbacks to send."""
        retry: list[Event] = []
        rejected: list[Rejection] = []
        done: list[Event] = []
        for position, event in enumerate(events):
            result = next(iter(items[position].values())) if position < len(items) else {}
            status = int(result.get("status", 503))
            if 200 <= status < 300 or status == 409:
                done.append(event)
            elif is_retryable(status, (result.get("error") or {}).get("type")):
                retry.append(event)
            else:
                rejected.append(Rejection(event, status, dict(result.get("error") or {})))
        self._observe("ok" if not retry and not rejected else "partial")
        self._finish(done)
        again, replaced = await self._refused(rejected)
        return retry + again, replaced

    async def _rejected_request(
        self, events: list[Event], error: RequestRefused
    ) -> tuple[list[Event], list[Event]]:
        # A whole request refused with a 4xx (e.g. too large): halve it to isolate the culprit.
        if len(events) == 1:
            reason: dict[str, object] = {"type": "request_rejected", "reason": _describe(error)}
            return await self._refused([Rejection(events[0], error.status, reason)])
        middle = len(events) // 2
        await self.deliver(events[:middle])
        await self.deliver(events[middle:])
        return [], []

    async def _refused(self, rejected: list[Rejection]) -> tuple[list[Event], list[Event]]:
        """Fallbacks for the refused events that have one; the others dead-lettered. Returns
        the events to send again later (the dead-letter file could not take them) and the
        fallbacks to send now."""
        last_resort = [rejection for rejection in rejected if fallback.is_safe(rejection.event)]
        replaced = [
            fallback.replacement(rejection.event, _refusal_reason(rejection))
            for rejection in rejected
            if not fallback.is_safe(rejection.event)
        ]
        if replaced:
            first = rejected[0]
            log.warning(
                "events refused by Elasticsearch, sending fallback documents",
                extra={
                    "events": len(replaced),
                    "status": first.status,
                    "error_type": first.reason.get("type"),
                },
            )
        return await self._dead_letter(last_resort), replaced

    async def _dead_letter(self, rejected: list[Rejection]) -> list[Event]:
        """Write ``rejected`` to the dead-letter file and acknowledge them; returns their events
        instead when the disk refuses, to be tried again."""
        if not rejected:
            return []
        try:
            written = await self._dead_letters.write(rejected)
        except OSError as error:
            # Unacknowledged, they hold the registry back: nothing is lost if we stop now.
            self._disk.failed(DEAD_LETTER, self._dead_letters.path, error)
            return [rejection.event for rejection in rejected]
        self._disk.succeeded(DEAD_LETTER)
        self._metrics.dead_letter_bytes.add({}, written.bytes)
        if written.rotated:
            self._metrics.dead_letter_rotations.inc({})
        self._metrics.events_dead_lettered.add({}, len(rejected))
        first = rejected[0]
        log.error(
            "events refused by Elasticsearch even as fallbacks, dead-lettered",
            extra={
                "events": len(rejected),
                "status": first.status,
                "error_type": first.reason.get("type"),
                "dead_letter": str(self._dead_letters.path),
            },
        )
        self._acknowledgements.acknowledge([rejection.event for rejection in rejected])
        return []

    def _finish(self, done: list[Event]) -> None:
        if not done:
            return
        for event in done:
            if event.fallback:
                self._metrics.events_fallback.inc({"reason": event.fallback})
        self._metrics.events_shipped.add({}, len(done))
        self._metrics.bytes_shipped.add({}, sum(event.end - event.offset for event in done))
        self._acknowledgements.acknowledge(done)

    def _observe(self, outcome: str) -> None:
        self._metrics.bulk_requests.inc({"outcome": outcome})

    def _set_reachable(self, reachable: bool) -> None:
        if reachable and not self._reachable:
            log.info("Elasticsearch reachable")
        self._reachable = reachable
        self._metrics.elasticsearch_up.set({}, 1 if reachable else 0)


def bulk_body(events: Sequence[Event]) -> bytes:
    """The NDJSON ``_bulk`` body of ``events``: a ``create`` of each under its ``_id``."""
    return b"".join(
        [
            b'{"create":{"_index":"%s","_id":"%s"}}\n%s\n'
            % (event.index.encode(), event.doc_id.encode(), event.source)
            for event in events
        ]
    )


def _items_of(answer: bytes) -> list[dict[str, Any]]:
    """The items of a ``_bulk`` answer; none (so every event is retried) if it is unreadable."""
    try:
        response = orjson.loads(answer)
    except orjson.JSONDecodeError:
        return []
    items = response.get("items") if isinstance(response, dict) else None
    return items if isinstance(items, list) else []


def _refusal_reason(rejection: Rejection) -> str:
    error_type, reason = rejection.reason.get("type"), rejection.reason.get("reason")
    return f"refused by Elasticsearch ({rejection.status} {error_type}): {reason}"


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:500]
