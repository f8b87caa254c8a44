"""Acknowledgements flow back from the sink to the registry, and the registry onto disk.

Delivery guarantee, end to end: the sink acknowledges an event only once Elasticsearch has
stored it (2xx, or 409: already there) or it is on disk in the dead-letter file. Each
acknowledgement goes to the ``FileProgress`` of its file, whose saved offset moves past a
line only when that line and every earlier one are acknowledged (``file_progress.py``).
The registry is saved within ``save_interval`` of an offset moving, and at shutdown: a
crash in between only means lines read and sent again, stored once all the same (same
``_id``, so a 409).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from shipper.event import Event
from shipper.registry import FileRegistry

REGISTRY_SAVE_INTERVAL = 1.0


class Acknowledgements:
    def __init__(self, registry: FileRegistry, save_interval: float = REGISTRY_SAVE_INTERVAL):
        self._registry = registry
        self._save_interval = save_interval
        self._unsaved = False

    def acknowledge(self, events: Sequence[Event]) -> None:
        """Record that ``events`` are stored (or dead-lettered) for good."""
        for event in events:
            if event.progress.acknowledge(event.offset):
                self._unsaved = True

    async def run(self) -> None:
        """Save the registry whenever an offset has moved, forever (until cancelled)."""
        while True:
            await asyncio.sleep(self._save_interval)
            if self._unsaved:
                self._unsaved = False
                await self._registry.save()
