"""Wiring of the stages, and the way acknowledgements flow back.

    Tailer ──LineGroup──▶ transform ──Event[]──▶ Batcher ──batch──▶ BulkSink × senders
      ▲ (registry of offsets)                                           │
      └──────────── FileProgress.acknowledge(offset) ◀── on_done ───────┘
    Rotator (rename, gzip, prune: only settled files)   status server (/metrics, /health)

Every queue is bounded, so memory stays bounded whatever the backlog: when the sink is
slow the queues fill and the tailer waits on its put, i.e. stops reading.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from typing import Any

from elasticsearch import AsyncElasticsearch

from shipper.batcher import END_OF_STREAM, Batcher, BatchQueue, EventQueue
from shipper.bulk_sink import BulkSink, RetryPolicy
from shipper.dead_letter import DeadLetterFile
from shipper.metrics import ShipperMetrics
from shipper.registry import FileRegistry
from shipper.rotator import Rotator
from shipper.settings import ShipperSettings
from shipper.status_server import create_status_app, start_status_server
from shipper.tailer import LineQueue, Tailer
from shipper.transform import Event, to_event

log = logging.getLogger("shipper.pipeline")

REGISTRY_SAVE_INTERVAL = 1.0


class Pipeline:
    def __init__(
        self,
        settings: ShipperSettings,
        client: AsyncElasticsearch,
        metrics: ShipperMetrics | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics or ShipperMetrics.create()
        self.registry = FileRegistry(settings.registry_path)
        self.status_port: int | None = None
        self._client = client
        self._dirty = False
        self._idle_senders = 0
        self._lines: LineQueue = asyncio.Queue(settings.queue_chunks)
        self._events: EventQueue = asyncio.Queue(settings.queue_chunks)
        self._batches: BatchQueue = asyncio.Queue(settings.senders)
        self.tailer = Tailer(
            settings.path,
            self.registry,
            self._lines,
            self.metrics,
            max_line_bytes=settings.max_line_bytes,
            read_chunk_bytes=settings.read_chunk_bytes,
            poll_interval=settings.poll_interval,
            close_inactive=settings.close_inactive,
        )
        self.rotator = Rotator(
            settings.path,
            self.registry,
            self.tailer.settled,
            self.metrics,
            rotate_size=settings.rotate_size,
            keep=settings.keep,
            interval=settings.poll_interval,
        )
        self.sink = BulkSink(
            client,
            DeadLetterFile(settings.dead_letter_path),
            self.metrics,
            RetryPolicy(settings.retry_initial, settings.retry_max),
            on_done=self._acknowledge,
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Ship until ``stop`` is set, then drain for at most ``shutdown_timeout`` and save."""
        await self.registry.load()
        runner, self.status_port = await start_status_server(
            create_status_app(self.metrics, self.health, self._refresh_gauges),
            self.settings.metrics_host,
            self.settings.metrics_port,
        )
        log.info(
            "jarvis-shipper started",
            extra={
                "path": self.settings.path,
                "status_port": self.status_port,
                "elasticsearch": repr(self.settings.elasticsearch),
                "files_in_registry": len(self.registry),
            },
        )
        sources = [
            asyncio.create_task(self.tailer.run(), name="tailer"),
            asyncio.create_task(self.rotator.run(), name="rotator"),
        ]
        downstream = [
            asyncio.create_task(self._transform(), name="transform"),
            asyncio.create_task(self._deliver(), name="deliver"),
        ]
        saver = asyncio.create_task(self._save_registry(), name="registry")
        everything = [*sources, *downstream, saver]
        stopped = asyncio.create_task(stop.wait())
        try:
            done, _ = await asyncio.wait(
                [*everything, stopped], return_when=asyncio.FIRST_COMPLETED
            )
            for task in done:
                if task is not stopped and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
            log.info("stopping: no more reading, flushing what was read")
            await _cancel(sources)
            await self._drain(downstream)
        finally:
            stopped.cancel()
            await _cancel(everything)
            await self.registry.save()
            await runner.cleanup()
            log.info("jarvis-shipper stopped", extra=self._lag())

    async def _drain(self, downstream: list[asyncio.Task[None]]) -> None:
        async def flush() -> None:
            await self._lines.put(END_OF_STREAM)
            await asyncio.gather(*downstream)

        try:
            await asyncio.wait_for(flush(), self.settings.shutdown_timeout)
        except TimeoutError:
            log.warning(
                "shutdown timeout: unacknowledged lines will be read again at the next start",
                extra=self._lag(),
            )

    async def _transform(self) -> None:
        host = self.settings.host_name
        while (group := await self._lines.get()) is not END_OF_STREAM:
            events = [to_event(line, group.progress, group.path, host) for line in group.lines]
            await self._events.put(events)
        await self._events.put(END_OF_STREAM)

    async def _deliver(self) -> None:
        await self.sink.prepare()
        batcher = Batcher(
            self._events,
            self._batches,
            self.settings.batch_size,
            self.settings.batch_bytes,
            self.settings.flush_interval,
            sender_idle=lambda: self._idle_senders > 0,
        )
        senders = [asyncio.create_task(self._send()) for _ in range(self.settings.senders)]
        try:
            await batcher.run()
            await asyncio.gather(*senders)
        finally:
            await _cancel(senders)

    async def _send(self) -> None:
        while True:
            self._idle_senders += 1
            try:
                batch = await self._batches.get()
            finally:
                self._idle_senders -= 1
            if batch is END_OF_STREAM:
                break
            await self.sink.deliver(batch)
        # Let the other senders see the end too.
        await self._batches.put(END_OF_STREAM)

    def _acknowledge(self, events: Sequence[Event]) -> None:
        for event in events:
            event.progress.acknowledge(event.offset)
        self._dirty = True

    async def _save_registry(self) -> None:
        while True:
            await asyncio.sleep(REGISTRY_SAVE_INTERVAL)
            if self._dirty:
                self._dirty = False
                await self.registry.save()

    def _refresh_gauges(self) -> None:
        lag = self._lag()
        self.metrics.lag_bytes.set({}, lag["lag_bytes"])
        self.metrics.lag_seconds.set({}, lag["lag_seconds"])
        self.metrics.queue_events.set({}, lag["events_in_flight"])

    def _lag(self) -> dict[str, Any]:
        files = list(self.registry)
        return {
            "lag_bytes": sum(p.lag_bytes for p in files),
            "lag_seconds": round(max((p.oldest_pending_age for p in files), default=0.0), 3),
            "events_in_flight": sum(p.pending for p in files),
        }

    def health(self) -> dict[str, Any]:
        """A summary for ``/health``: status ``ok``, or ``degraded`` while Elasticsearch is down."""
        up = self.metrics.elasticsearch_up.get({}) == 1
        return {
            "status": "ok" if up else "degraded",
            "elasticsearch_up": up,
            "files_held_back": self.rotator.held_back,
            "time": time.time(),
            **self._lag(),
        }


async def _cancel(tasks: Sequence[asyncio.Task[Any]]) -> None:
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
