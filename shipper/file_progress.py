"""How far one file has been read and how far Elasticsearch has acknowledged it.

Delivery guarantee: ``acked`` (the offset saved in the registry and resumed from after
a crash) only moves past a line once that line AND every line before it in the file
has been acknowledged. Bulk requests complete out of order and failed items are
retried alone, so acknowledgements arrive in any order; the pending spans are kept in
read order and ``acked`` advances over the acknowledged head only.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field


@dataclass
class FileProgress:
    fingerprint: str
    path: str
    acked: int = 0
    size: int = 0
    read: int = -1
    missing_since: float | None = None
    # [start, end, read_at] of each line handed downstream and not yet acknowledged.
    _pending: deque[list[float]] = field(default_factory=deque, repr=False)
    _acked_starts: set[int] = field(default_factory=set, repr=False)

    def __post_init__(self) -> None:
        if self.read < 0:
            self.read = self.acked

    def track(self, start: int, end: int) -> None:
        """Record that the line at [start, end) was handed downstream."""
        self._pending.append([start, end, time.monotonic()])
        self.read = end

    def skip(self, start: int, end: int) -> None:
        """Record bytes that produce no event (an empty line): they ride with the line before."""
        if self._pending:
            self._pending[-1][1] = end
        elif self.acked == start:
            self.acked = end
        self.read = end

    def acknowledge(self, start: int) -> bool:
        """Mark the line starting at ``start`` as stored; True when ``acked`` moved."""
        self._acked_starts.add(start)
        moved = False
        while self._pending and int(self._pending[0][0]) in self._acked_starts:
            head_start, head_end, _ = self._pending.popleft()
            self._acked_starts.discard(int(head_start))
            self.acked = int(head_end)
            moved = True
        return moved

    @property
    def pending(self) -> int:
        return len(self._pending)

    @property
    def oldest_pending_age(self) -> float:
        """Seconds since the oldest unacknowledged line was read; 0 when there is none."""
        if not self._pending:
            return 0.0
        return time.monotonic() - self._pending[0][2]

    @property
    def lag_bytes(self) -> int:
        return max(0, self.size - self.acked)

    @property
    def complete(self) -> bool:
        """Every byte of the file as last seen is acknowledged."""
        return not self._pending and self.acked >= self.size
