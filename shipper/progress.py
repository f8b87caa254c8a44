"""A progress line while the shipper works through a backlog, so that an operator watching its
logs sees it is busy, how fast it goes and how far behind it is; nothing while it is idle.

Every ``interval`` seconds, when events were shipped since the last line or the lag changed::

    shipping: 12000.0 events/s, 480000 shipped, 52.0 MiB behind (~9 s at this rate), 2 files

with the same figures as fields: ``events_per_second`` (over the interval),
``events_shipped`` (since start), ``lag_bytes`` (written to the files and not yet
acknowledged), ``lag_seconds_estimated`` and ``files_watched``. The lag in seconds is an
estimate: ``lag_bytes`` divided by the bytes acknowledged per second over the interval, the time
the backlog takes at this rate (None when nothing was shipped: no rate to divide by). The age
of the oldest unshipped line would need reading it; ``shipper_lag_seconds`` gives the age of
the oldest line read and not yet acknowledged.

A lag that does not move with nothing shipped (a last line still being written, or no new
lines while Elasticsearch is down, which the sink already reports) logs nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aioprometheus import Counter

from shipper.metrics import ShipperMetrics
from shipper.registry import FileRegistry

log = logging.getLogger("shipper.progress")


@dataclass
class _Reading:
    at: float
    events: float
    bytes: float
    lag_bytes: int


class ProgressReporter:
    """Logs a progress line every ``interval`` seconds while the shipper is busy."""

    def __init__(
        self,
        metrics: ShipperMetrics,
        registry: FileRegistry,
        interval: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._metrics = metrics
        self._registry = registry
        self._interval = interval
        self._clock = clock
        self._last = self._read()

    async def run(self) -> None:
        # From here: the registry is loaded, its lag is where the first interval starts.
        self._last = self._read()
        while True:
            await asyncio.sleep(self._interval)
            self.report()

    def report(self) -> dict[str, Any] | None:
        """Log the figures since the last call, when busy; returns them (None when idle)."""
        now, last = self._read(), self._last
        self._last = now
        shipped = now.events - last.events
        if shipped == 0 and now.lag_bytes == last.lag_bytes:
            return None
        seconds = max(now.at - last.at, 1e-9)
        bytes_per_second = (now.bytes - last.bytes) / seconds
        figures: dict[str, Any] = {
            "events_per_second": round(shipped / seconds, 1),
            "events_shipped": int(now.events),
            "lag_bytes": now.lag_bytes,
            "lag_seconds_estimated": (
                round(now.lag_bytes / bytes_per_second, 1) if bytes_per_second > 0 else None
            ),
            "files_watched": sum(1 for p in self._registry if not p.released),
        }
        log.info(_sentence(figures), extra=figures)
        return figures

    def _read(self) -> _Reading:
        return _Reading(
            at=self._clock(),
            events=_value(self._metrics.events_shipped),
            bytes=_value(self._metrics.bytes_shipped),
            lag_bytes=self._registry.lag().lag_bytes,
        )


def _value(counter: Counter) -> float:
    value = counter.get({})
    return float(value) if isinstance(value, int | float) else 0.0


def _sentence(figures: dict[str, Any]) -> str:
    estimate, files = figures["lag_seconds_estimated"], figures["files_watched"]
    behind = f"{_bytes_text(figures['lag_bytes'])} behind" if figures["lag_bytes"] else "caught up"
    if figures["lag_bytes"] and estimate is not None:
        behind += f" (~{estimate:g} s at this rate)"
    return (
        f"shipping: {figures['events_per_second']:g} events/s,"
        f" {figures['events_shipped']} shipped, {behind}, {files} file{'' if files == 1 else 's'}"
    )


def _bytes_text(count: int) -> str:
    for unit, factor in (("GiB", 1024**3), ("MiB", 1024**2), ("KiB", 1024)):
        if count >= factor:
            return f"{count / factor:.1f} {unit}"
    return f"{count} B"
