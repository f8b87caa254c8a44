"""The stages of jarvis-shipper, wired together: each owns its loop; this only builds them
and their queues, starts them, and stops them in order.

    source.Tailer ──lines──▶ Transformer ──events──▶ Batcher ──batches──▶ BulkSink × senders
      ▲ (registry of offsets)                                                  │
      └──── FileRegistry ◀── FileProgress ◀── Acknowledgements ◀── stored ─────┘
    Rotator (rename, gzip, prune: only settled files)   status server (/metrics, /health)

Every queue is bounded, so memory stays bounded whatever the backlog: when the sink is
slow the queues fill and the tailer waits on its put, i.e. stops reading.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Sequence
from typing import Any

from shipper.acknowledgements import Acknowledgements
from shipper.batcher import Batcher, BatchQueue, IdleSenders
from shipper.disk_health import REGISTRY, DiskHealth
from shipper.event import END_OF_STREAM, EventQueue
from shipper.metrics import ShipperMetrics
from shipper.open_files import raise_open_files_limit
from shipper.progress import ProgressReporter
from shipper.registry import FileRegistry
from shipper.rotator import Rotator
from shipper.settings import ShipperSettings
from shipper.sink.bulk_client import BulkClient
from shipper.sink.bulk_sink import BulkSink, RetryPolicy
from shipper.sink.dead_letter import DeadLetterFile
from shipper.source.tailer import LineQueue, Tailer
from shipper.status_server import ShipperStatus, create_status_app, start_status_server
from shipper.transform import Transformer

log = logging.getLogger("shipper.pipeline")


class Pipeline:
    def __init__(
        self,
        settings: ShipperSettings,
        client: BulkClient,
        metrics: ShipperMetrics | None = None,
    ) -> None:
        self.settings = settings
        self.metrics = metrics or ShipperMetrics.create()
        self.registry = FileRegistry(settings.registry_path)
        self.disk = DiskHealth(self.metrics)
        self.status_port: int | None = None
        self._lines: LineQueue = asyncio.Queue(settings.queue_chunks)
        events: EventQueue = asyncio.Queue(settings.queue_chunks)
        batches: BatchQueue = asyncio.Queue(settings.senders)
        idle_senders = IdleSenders()
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
        self.transformer = Transformer(self._lines, events, host_name=settings.host_name)
        self.batcher = Batcher(
            events,
            batches,
            idle_senders,
            batch_size=settings.batch_size,
            batch_bytes=settings.batch_bytes,
            flush_interval=settings.flush_interval,
        )
        self.acknowledgements = Acknowledgements(self.registry, self.disk)
        self.sink = BulkSink(
            client,
            batches,
            idle_senders,
            self.acknowledgements,
            DeadLetterFile(
                settings.dead_letter_path,
                max_bytes=settings.dead_letter_max_bytes,
                keep=settings.dead_letter_keep,
            ),
            self.metrics,
            RetryPolicy(settings.retry_initial, settings.retry_max),
            senders=settings.senders,
            disk=self.disk,
        )
        self.rotator = Rotator(
            settings.path,
            self.registry,
            self.tailer.settled,
            self.metrics,
            rotate_size=settings.rotate_size,
            keep=settings.keep,
            interval=settings.poll_interval,
            disk=self.disk,
        )
        self.status = ShipperStatus(self.metrics, self.registry, self.sink, self.rotator, self.disk)
        self.progress = ProgressReporter(self.metrics, self.registry, settings.progress_interval)

    async def run(self, stop: asyncio.Event) -> None:
        """Ship until ``stop`` is set, then drain for at most ``shutdown_timeout`` and save."""
        # One descriptor a live file followed: the usual soft limit would stop at ~1,000.
        open_files = raise_open_files_limit()
        await self.registry.load()
        runner, self.status_port = await start_status_server(
            create_status_app(self.status), self.settings.metrics_host, self.settings.metrics_port
        )
        log.info(
            "jarvis-shipper started",
            extra={
                "path": self.settings.path,
                "status_port": self.status_port,
                "elasticsearch": repr(self.settings.elasticsearch),
                "files_in_registry": len(self.registry),
                "open_files_limit": open_files,
            },
        )
        sources = [
            asyncio.create_task(self.tailer.run(), name="tailer"),
            asyncio.create_task(self.rotator.run(), name="rotator"),
        ]
        downstream = [
            asyncio.create_task(self.transformer.run(), name="transform"),
            asyncio.create_task(self.batcher.run(), name="batcher"),
            asyncio.create_task(self.sink.run(), name="sink"),
        ]
        saver = asyncio.create_task(self.acknowledgements.run(), name="registry")
        progress = asyncio.create_task(self.progress.run(), name="progress")
        everything = [*sources, *downstream, saver, progress]
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
            await self._save_registry_at_exit()
            await runner.cleanup()
            log.info("jarvis-shipper stopped", extra=self._lag())

    async def _drain(self, downstream: list[asyncio.Task[None]]) -> None:
        """Let every line read so far through the stages, each passing END_OF_STREAM on."""

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

    async def _save_registry_at_exit(self) -> None:
        """The last save of the offsets. A disk that refuses it is logged and does not make
        the stop a failure (the exit status stays 0): what it loses is only the offsets moved
        since the last good save, whose lines are read and sent again at the next start and
        stored once all the same (same ``_id``)."""
        if not await self.acknowledgements.save():
            problem = self.disk.report().get(REGISTRY, {})
            log.error(
                "registry not saved at shutdown: lines shipped since its last save will be "
                "sent again at the next start (Elasticsearch keeps one copy of each)",
                extra={"registry": str(self.registry.path), "error": problem.get("error")},
            )

    def _lag(self) -> dict[str, Any]:
        return dataclasses.asdict(self.registry.lag())


async def _cancel(tasks: Sequence[asyncio.Task[Any]]) -> None:
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
