"""Per-client, per-endpoint token buckets, bounded in memory whatever the number of clients."""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class RateDecision:
    allowed: bool
    retry_after_seconds: int = 0


class TokenBucketLimiter:
    """Each (endpoint, client) has a bucket of ``burst`` tokens refilled at ``per_minute``/60
    tokens per second. The least recently seen clients are forgotten beyond ``max_clients``
    (a forgotten client starts again with a full bucket — the safe direction for users)."""

    def __init__(
        self,
        per_minute: float,
        burst: int,
        max_clients: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._rate = per_minute / 60.0
        self._burst = float(burst)
        self._max_clients = max_clients
        self._clock = clock
        self._buckets: OrderedDict[tuple[str, str], tuple[float, float]] = OrderedDict()

    def check(self, endpoint: str, client: str) -> RateDecision:
        """Take one token for ``client`` on ``endpoint`` if it has one."""
        now = self._clock()
        key = (endpoint, client)
        tokens, last = self._buckets.pop(key, (self._burst, now))
        tokens = min(self._burst, tokens + (now - last) * self._rate)
        if tokens >= 1.0:
            decision = RateDecision(allowed=True)
            tokens -= 1.0
        else:
            wait = (1.0 - tokens) / self._rate
            decision = RateDecision(allowed=False, retry_after_seconds=max(1, math.ceil(wait)))
        self._buckets[key] = (tokens, now)
        while len(self._buckets) > self._max_clients:
            self._buckets.popitem(last=False)
        return decision

    def __len__(self) -> int:
        return len(self._buckets)
