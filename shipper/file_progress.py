"""How far one file has been read and how far Elasticsearch has acknowledged it.

Delivery guarantee: ``acked`` (the offset saved in the registry and resumed from after
a crash) only moves past a line once that line AND every line before it in the file
has been acknowledged. Bulk requests complete out of order and failed items are
retried alone, so acknowledgements arrive in any order; the pending spans are kept in
read order and ``acked`` advances over the acknowledged head only.

It also keeps what tells the file apart from others (``source/identity.py``): its head,
the inode it was last seen on, its generation, and anchors of the content read so far,
the first one at or below ``acked`` (the one a restart can rely on), the others at the end
of each group of lines read since.
"""

from __future__ import annotations

import bisect
import time
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from shipper.source.identity import Anchor


@dataclass
class FileProgress:
    # The file's identity: the prefix of the ``_id`` of each of its lines.
    fingerprint: str
    path: str
    head: str = ""
    # The inode the file was last seen on; None for an entry of a version 1 registry.
    dev: int | None = None
    ino: int | None = None
    generation: int = 0
    # Seen truncated or rewritten in place: its inode holds another file now.
    replaced: bool = False
    # Let go with every line acknowledged, and so handed to the rotator to compress or delete.
    released: bool = False
    # Released, then compressed or deleted by the rotator: forgotten once no longer listed.
    removed: bool = False
    acked: int = 0
    size: int = 0
    read: int = -1
    missing_since: float | None = None
    anchors: list[Anchor] = field(default_factory=list)
    # [start, end, read_at] of each line handed downstream and not yet acknowledged.
    _pending: deque[list[float]] = field(default_factory=deque, repr=False)
    _acked_starts: set[int] = field(default_factory=set, repr=False)

    def __post_init__(self) -> None:
        if self.read < 0:
            self.read = self.acked

    def track(self, start: int, end: int, read_at: float | None = None) -> None:
        """Record that the line at [start, end) was handed downstream (``read_at``, a
        ``time.monotonic()``: now by default; lines read together share one)."""
        self._pending.append([start, end, time.monotonic() if read_at is None else read_at])
        self.read = end

    def track_lines(self, lines: Sequence[tuple[int, int, bytes, bool]], read_at: float) -> None:
        """``track`` each of ``lines`` (a ``Line``'s start and end come first), read together
        at ``read_at``."""
        self._pending.extend([[start, end, read_at] for start, end, _, _ in lines])
        self.read = lines[-1][1]

    def skip(self, start: int, end: int) -> None:
        """Record bytes that produce no event (an empty line): they ride with the line before."""
        if self._pending:
            self._pending[-1][1] = end
        elif self.acked == start:
            self.acked = end
            self._drop_passed_anchors()
        self.read = end

    def mark(self, anchor: Anchor) -> None:
        """Remember an anchor of the content read (one at the same offset is replaced)."""
        offsets = [known.offset for known in self.anchors]
        index = bisect.bisect_left(offsets, anchor.offset)
        if index < len(offsets) and offsets[index] == anchor.offset:
            self.anchors[index] = anchor
        else:
            self.anchors.insert(index, anchor)
        self._drop_passed_anchors()

    def keep_anchors_up_to(self, offset: int) -> None:
        """Forget the anchors past ``offset``: the file now followed (a copy) ends before them."""
        self.anchors = [anchor for anchor in self.anchors if anchor.offset <= offset]

    @property
    def saved_anchors(self) -> list[Anchor]:
        """The anchors worth saving: the one at or below ``acked`` and the highest."""
        return self.anchors[:1] + self.anchors[-1:] if len(self.anchors) > 1 else self.anchors

    def acknowledge(self, start: int) -> bool:
        """Mark the line starting at ``start`` as stored; True when ``acked`` moved."""
        return self.acknowledge_all((start,))

    def acknowledge_all(self, starts: Iterable[int]) -> bool:
        """Mark the lines starting at ``starts`` as stored; True when ``acked`` moved."""
        pending, acked_starts = self._pending, self._acked_starts
        moved = False
        for start in starts:
            # The usual case, a batch acknowledged in read order: each line is the oldest
            # pending one, and nothing needs remembering.
            if pending and pending[0][0] == start:
                self.acked = int(pending.popleft()[1])
                moved = True
            else:
                acked_starts.add(start)
        while acked_starts and pending and int(pending[0][0]) in acked_starts:
            head_start, head_end, _ = pending.popleft()
            acked_starts.discard(int(head_start))
            self.acked = int(head_end)
            moved = True
        if moved:
            self._drop_passed_anchors()
        return moved

    def _drop_passed_anchors(self) -> None:
        while len(self.anchors) > 1 and self.anchors[1].offset <= self.acked:
            del self.anchors[0]

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
