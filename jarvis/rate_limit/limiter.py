"""Token buckets: what a chat is charged (``Charge``), what the buckets decide
(``RateDecision``), and the in-process store of buckets used when no Redis is configured.

A chat may be charged to several buckets at once (its address's and its user's). The charge is
all or nothing: it goes through only when every bucket has a token, and a refused chat takes no
token from any of them. ``redis_buckets.RedisBuckets`` keeps the same promise across replicas.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple, Protocol


@dataclass(frozen=True)
class Limit:
    """A bucket of ``burst`` tokens refilled at ``per_second`` tokens per second."""

    per_second: float
    burst: float

    @classmethod
    def per_minute(cls, per_minute: float, burst: float) -> Limit:
        return cls(per_minute / 60.0, float(burst))


class Charge(NamedTuple):
    """One token taken from the bucket named ``key``, which follows ``limit`` (a NamedTuple:
    every chat makes one or two)."""

    key: str
    limit: Limit


@dataclass(frozen=True)
class RateDecision:
    """``allowed``, or refused because the bucket of ``charges[refused_by]`` was empty (the
    first empty one); a token is back in every empty bucket after ``retry_after_seconds``."""

    allowed: bool
    retry_after_seconds: int = 0
    refused_by: int | None = None


ALLOWED = RateDecision(allowed=True)


class BucketStoreError(Exception):
    """The buckets could not be read or written (their store is unreachable)."""


class BucketStore(Protocol):
    async def take(self, charges: Sequence[Charge]) -> RateDecision:
        """Take one token from each charged bucket if every one has a token, else none.

        Raises ``BucketStoreError`` when the store cannot answer."""
        ...


def refilled(tokens: float, elapsed: float, limit: Limit) -> float:
    """The tokens of a bucket that had ``tokens`` ``elapsed`` seconds ago."""
    return min(limit.burst, tokens + max(0.0, elapsed) * limit.per_second)


def seconds_to_next_token(tokens: float, limit: Limit) -> float:
    return (1.0 - tokens) / limit.per_second


def refusal(waits: dict[int, float]) -> RateDecision:
    """The decision when the buckets of ``waits`` (charge index → seconds to their next token)
    are empty: the client may retry once every one of them has a token again."""
    return RateDecision(
        allowed=False,
        retry_after_seconds=max(1, math.ceil(max(waits.values()))),
        refused_by=min(waits),
    )


class InProcessBuckets:
    """The buckets of one server process, bounded in memory whatever the number of clients:
    the least recently charged are forgotten beyond ``max_buckets`` (a forgotten client starts
    again with a full bucket, the safe direction for users)."""

    def __init__(
        self, max_buckets: int = 100_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._max_buckets = max_buckets
        self._clock = clock
        # key → (tokens, when they were counted)
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    async def take(self, charges: Sequence[Charge]) -> RateDecision:
        now = self._clock()
        tokens = []
        for charge in charges:
            had, at = self._buckets.get(charge.key, (charge.limit.burst, now))
            tokens.append(refilled(had, now - at, charge.limit))
        waits = {
            i: seconds_to_next_token(left, charges[i].limit)
            for i, left in enumerate(tokens)
            if left < 1.0
        }
        if waits:
            return refusal(waits)
        for charge, left in zip(charges, tokens, strict=True):
            self._buckets[charge.key] = (left - 1.0, now)
            self._buckets.move_to_end(charge.key)
        while len(self._buckets) > self._max_buckets:
            self._buckets.popitem(last=False)
        return ALLOWED

    def __len__(self) -> int:
        return len(self._buckets)
