"""Batcher: batches close on count, bytes, time, or an idle sender with nothing waiting."""

from __future__ import annotations

import asyncio
import contextlib

from shipper.batcher import Batcher, BatchQueue, IdleSenders
from shipper.event import END_OF_STREAM, Event, EventQueue
from shipper.file_progress import FileProgress

PROGRESS = FileProgress("fp", "app.jsonl")


def events(count: int, size: int = 10) -> list[Event]:
    return [Event(PROGRESS, n, n + 1, f"id-{n}", "idx", b"x" * size) for n in range(count)]


def batcher(
    source: EventQueue,
    sink: BatchQueue,
    senders: IdleSenders,
    *,
    size: int = 100,
    nbytes: int = 10**6,
    flush_interval: float,
) -> Batcher:
    return Batcher(
        source, sink, senders, batch_size=size, batch_bytes=nbytes, flush_interval=flush_interval
    )


async def run_batcher(
    groups: list[list[Event]], *, size: int, nbytes: int, idle: bool
) -> list[list[int]]:
    source: EventQueue = asyncio.Queue()
    sink: BatchQueue = asyncio.Queue()
    for group in groups:
        source.put_nowait(group)
    source.put_nowait(END_OF_STREAM)
    senders = IdleSenders()
    with senders.waiting() if idle else contextlib.nullcontext():
        await batcher(source, sink, senders, size=size, nbytes=nbytes, flush_interval=0.05).run()
    batches = []
    while (batch := sink.get_nowait()) is not END_OF_STREAM:
        batches.append([event.offset for event in batch])
    return batches


async def test_batches_close_at_the_count_limit_across_groups() -> None:
    batches = await run_batcher([events(3), events(4)], size=5, nbytes=10**6, idle=False)
    assert batches == [[0, 1, 2, 0, 1], [2, 3]]


async def test_batches_close_at_the_byte_limit() -> None:
    one = events(1)[0].size
    batches = await run_batcher([events(5)], size=100, nbytes=2 * one, idle=False)
    assert [len(batch) for batch in batches] == [2, 2, 1]


async def test_with_an_idle_sender_a_lone_event_does_not_wait_for_more() -> None:
    source: EventQueue = asyncio.Queue()
    sink: BatchQueue = asyncio.Queue()
    senders = IdleSenders()
    with senders.waiting():
        task = asyncio.create_task(batcher(source, sink, senders, flush_interval=3600.0).run())
        source.put_nowait(events(1))
        batch = await asyncio.wait_for(sink.get(), 10)
        assert batch is not None and len(batch) == 1
        source.put_nowait(END_OF_STREAM)
        await task


async def test_with_busy_senders_events_wait_to_fill_the_batch() -> None:
    source: EventQueue = asyncio.Queue()
    sink: BatchQueue = asyncio.Queue()
    task = asyncio.create_task(batcher(source, sink, IdleSenders(), flush_interval=3600.0).run())
    source.put_nowait(events(1))
    await asyncio.sleep(0.05)  # the batcher has taken the first event and found no more
    source.put_nowait(events(2))
    source.put_nowait(END_OF_STREAM)
    await task
    batch = sink.get_nowait()
    assert batch is not None and len(batch) == 3  # one batch, not two
    assert sink.get_nowait() is END_OF_STREAM
