"""The batch stage: groups events into bulk batches by count, by bytes, and by time.

A batch is closed when it holds ``batch_size`` events or ``batch_bytes`` bytes, or
``flush_interval`` seconds after its first event arrived, or as soon as no more events
are waiting while a sender sits idle: under load batches fill up, and a lone line is
not held back for a flush interval when nothing else would be sent meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

from shipper.event import END_OF_STREAM, Event, EventQueue

# Batches, from the batcher to the sink's senders.
BatchQueue = asyncio.Queue[list[Event] | None]


class IdleSenders:
    """How many of the sink's senders are waiting for a batch right now.

    The sink counts its senders in and out of their wait; the batcher only asks whether
    any is idle, to send a short batch at once rather than hold it for the flush interval.
    """

    def __init__(self) -> None:
        self._waiting = 0

    @property
    def any(self) -> bool:
        return self._waiting > 0

    @contextlib.contextmanager
    def waiting(self) -> Iterator[None]:
        """Count the caller as idle for as long as the ``with`` block lasts."""
        self._waiting += 1
        try:
            yield
        finally:
            self._waiting -= 1


class Batcher:
    def __init__(
        self,
        events: EventQueue,
        batches: BatchQueue,
        idle_senders: IdleSenders,
        *,
        batch_size: int,
        batch_bytes: int,
        flush_interval: float,
    ) -> None:
        self._events = events
        self._batches = batches
        self._idle_senders = idle_senders
        self._batch_size = batch_size
        self._batch_bytes = batch_bytes
        self._flush_interval = flush_interval
        self._carry: list[Event] = []

    async def run(self) -> None:
        """Batch until END_OF_STREAM, flushing what is left; then pass END_OF_STREAM on."""
        ended = False
        while not ended:
            batch, ended = await self._next_batch()
            if batch:
                await self._batches.put(batch)
        await self._batches.put(END_OF_STREAM)

    async def _next_batch(self) -> tuple[list[Event], bool]:
        loop = asyncio.get_running_loop()
        batch: list[Event] = []
        size = 0
        deadline: float | None = None
        while len(batch) < self._batch_size and size < self._batch_bytes:
            if not self._carry:
                if batch and self._events.empty() and self._idle_senders.any:
                    break
                timeout = None if deadline is None else deadline - loop.time()
                if timeout is not None and timeout <= 0:
                    break
                try:
                    group = await asyncio.wait_for(self._events.get(), timeout)
                except TimeoutError:
                    break
                if group is END_OF_STREAM:
                    return batch, True
                self._carry = group
            if deadline is None:
                deadline = loop.time() + self._flush_interval
            taken = 0
            for event in self._carry:
                if len(batch) >= self._batch_size or size >= self._batch_bytes:
                    break
                batch.append(event)
                size += event.size
                taken += 1
            self._carry = self._carry[taken:]
        return batch, False
