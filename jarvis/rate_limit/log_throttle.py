"""At most one log line per key and window: a flood of refusals (or of failures) from one
client writes one line a minute, not one per request. Metrics still count every event."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable


class LogThrottle:
    """Says which events of a key to log: the first one, then the first one at least
    ``window`` seconds after the last logged one. Remembers at most ``max_keys`` keys (the
    least recently seen are forgotten, with their count of suppressed events: a forgotten key
    is logged at its next event)."""

    def __init__(
        self, window: float, max_keys: int = 100_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._window = window
        self._max_keys = max_keys
        self._clock = clock
        # key → (when its last line was logged, events suppressed since)
        self._keys: OrderedDict[str, tuple[float, int]] = OrderedDict()

    def admit(self, key: str) -> int | None:
        """None when this event of ``key`` is not to be logged; else log it, and say how many
        events of the key were suppressed since its last logged one."""
        now = self._clock()
        logged_at, suppressed = self._keys.pop(key, (None, 0))
        if logged_at is not None and now - logged_at < self._window:
            self._keys[key] = (logged_at, suppressed + 1)
            return None
        self._keys[key] = (now, 0)
        while len(self._keys) > self._max_keys:
            self._keys.popitem(last=False)
        return suppressed

    def __len__(self) -> int:
        return len(self._keys)
