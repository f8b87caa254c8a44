"""Acknowledgements flow back from the sink to the registry, and the registry onto disk.

Delivery guarantee, end to end: the sink acknowledges an event only once Elasticsearch has
stored it (2xx, or 409: already there) or it is on disk in the dead-letter file. Each
acknowledgement goes to the ``FileProgress`` of its file, whose saved offset moves past a
line only when that line and every earlier one are acknowledged (``file_progress.py``).
The registry is saved within ``save_interval`` of an offset moving, and at shutdown: a
crash in between only means lines read and sent again, stored once all the same (same
``_id``, so a 409).

A save that fails on a disk error (full, failing, over quota) changes nothing on disk (the
previous registry stays whole, see ``registry.py``) and loses nothing in memory: the offsets
stay unsaved and the next round tries again, until the disk takes them. Meanwhile shipping
goes on; the only cost of an old registry is lines sent again after a restart.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from itertools import groupby
from operator import attrgetter

from shipper.disk_health import REGISTRY, DiskHealth
from shipper.event import Event
from shipper.metrics import ShipperMetrics
from shipper.registry import FileRegistry

REGISTRY_SAVE_INTERVAL = 1.0
_progress_of = attrgetter("progress")


class Acknowledgements:
    def __init__(
        self,
        registry: FileRegistry,
        disk: DiskHealth | None = None,
        save_interval: float = REGISTRY_SAVE_INTERVAL,
    ):
        self._registry = registry
        # Without the pipeline's, a health of its own: disk errors are still logged and counted.
        self._disk = disk or DiskHealth(ShipperMetrics.create())
        self._save_interval = save_interval
        self._unsaved = False

    def acknowledge(self, events: Sequence[Event]) -> None:
        """Record that ``events`` are stored (or dead-lettered) for good."""
        # A batch holds runs of lines of one file: each run is acknowledged at once.
        for progress, run in groupby(events, _progress_of):
            if progress.acknowledge_all([event.offset for event in run]):
                self._unsaved = True

    async def run(self) -> None:
        """Save the registry whenever an offset has moved or a new file waits for its identity
        to be saved (the tailer reads it only then), forever (until cancelled); a save that
        fails is tried again every ``save_interval``."""
        while True:
            await asyncio.sleep(self._save_interval)
            if self._unsaved or self._new_file_waiting():
                await self.save()

    def _new_file_waiting(self) -> bool:
        return any(self._registry.unsaved(progress.fingerprint) for progress in self._registry)

    async def save(self) -> bool:
        """Save the registry now; False (reported to the disk health) when the disk refused."""
        # Cleared first: an offset moving while the save runs asks for the next one.
        self._unsaved = False
        try:
            await self._registry.save()
        except OSError as error:
            self._unsaved = True
            self._disk.failed(REGISTRY, self._registry.path, error)
            return False
        self._disk.succeeded(REGISTRY)
        return True
