"""Disk errors the shipper lives through: a full disk (ENOSPC, EDQUOT) or a failing one (EIO)
while it writes its registry, a compressed backup or the dead-letter file.

None of them stops the shipper: the stage that hit one keeps what it had (the registry in
memory, the uncompressed backup, the events not yet acknowledged), retries on its next round,
and reports here. ``/health`` turns ``degraded`` and names each failing target until a write
to it succeeds again; ``shipper_disk_errors_total{target}`` counts every failure.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from shipper.metrics import DISK_TARGETS, ShipperMetrics

log = logging.getLogger("shipper.disk")

REGISTRY, BACKUP, DEAD_LETTER = DISK_TARGETS


@dataclass(frozen=True)
class DiskProblem:
    path: str
    error: str
    since: float


class DiskHealth:
    def __init__(self, metrics: ShipperMetrics) -> None:
        self._metrics = metrics
        self._problems: dict[str, DiskProblem] = {}

    def failed(self, target: str, path: object, error: OSError) -> None:
        """A write to ``target`` failed; logged when the problem starts, counted every time."""
        self._metrics.disk_errors.inc({"target": target})
        text = error.strerror or str(error)
        problem = self._problems.get(target)
        if problem is None:
            log.error(
                "disk error, will retry",
                extra={"target": target, "path": str(path), "error": text, "errno": error.errno},
            )
        self._problems[target] = DiskProblem(
            str(path), text, problem.since if problem else time.time()
        )

    def succeeded(self, target: str) -> None:
        """A write to ``target`` worked: its problem, if any, is over."""
        problem = self._problems.pop(target, None)
        if problem is not None:
            log.info(
                "disk writes work again",
                extra={
                    "target": target,
                    "path": problem.path,
                    "failing_for": time.time() - problem.since,
                },
            )

    @property
    def ok(self) -> bool:
        return not self._problems

    def report(self) -> dict[str, dict[str, object]]:
        """Each failing target with its path, the last error and since when (epoch seconds)."""
        return {
            target: {"path": p.path, "error": p.error, "since": p.since}
            for target, p in sorted(self._problems.items())
        }
