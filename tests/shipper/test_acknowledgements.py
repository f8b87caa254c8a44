"""Acknowledgements: stored events move their file's offset, and the registry is saved."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson

from shipper.acknowledgements import Acknowledgements
from shipper.event import Event
from shipper.file_progress import FileProgress
from shipper.registry import FileRegistry


def event(progress: FileProgress, start: int, end: int) -> Event:
    return Event(progress, start, end, f"fp-{start}", "index", b"{}")


async def saved_offset(registry: FileRegistry, timeout: float = 10.0) -> int:
    for _ in range(int(timeout / 0.01)):
        if registry.path.exists():
            return int(orjson.loads(registry.path.read_bytes())["files"]["fp"]["offset"])
        await asyncio.sleep(0.01)
    raise AssertionError("the registry was never saved")


async def test_the_registry_is_saved_once_an_offset_moves(tmp_path: Path) -> None:
    registry = FileRegistry(tmp_path / "registry.json")
    progress = registry.get_or_create("fp", "/logs/app.jsonl")
    progress.track(0, 10)
    progress.track(10, 20)
    acknowledgements = Acknowledgements(registry, save_interval=0.01)
    saver = asyncio.create_task(acknowledgements.run())
    try:
        acknowledgements.acknowledge([event(progress, 10, 20)])
        await asyncio.sleep(0.1)
        # Out of order: the first line is not stored yet, so nothing moved, nothing saved.
        assert progress.acked == 0 and not registry.path.exists()
        acknowledgements.acknowledge([event(progress, 0, 10)])
        assert await saved_offset(registry) == 20
    finally:
        saver.cancel()
