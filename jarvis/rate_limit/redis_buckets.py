"""Token buckets in Redis, shared by every replica: one Lua script takes a chat's tokens from
all its buckets at once, so two replicas charging the same user at the same moment cannot both
take its last token, and a refused chat takes no token from any bucket."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence

from redis.asyncio import Redis
from redis.exceptions import NoScriptError, RedisError

from jarvis.rate_limit.limiter import ALLOWED, BucketStoreError, Charge, RateDecision

# A bucket is a hash {tokens, at}; a key missing is a full bucket. Each key expires when its
# bucket would be full again, so idle clients cost Redis nothing. The clock is Redis's own
# (TIME), so replicas whose clocks disagree still refill buckets alike; ARGV[1] may give a
# time instead (tests).
#   KEYS[i]: the buckets. ARGV[1]: now in seconds, or "". ARGV[2i], ARGV[2i+1]: per_second
#   and burst of KEYS[i].
#   Returns {0, 0} when every bucket gave a token, else {i, ms}: KEYS[i] is the first empty
#   bucket, and every empty one has a token again in ms milliseconds.
TAKE_TOKENS = """
local now = tonumber(ARGV[1])
if not now then
  local time = redis.call('TIME')
  now = tonumber(time[1]) + tonumber(time[2]) / 1000000
end
local tokens = {}
local refused, wait = 0, 0
for i, key in ipairs(KEYS) do
  local per_second, burst = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1])
  local state = redis.call('HMGET', key, 'tokens', 'at')
  local had, at = tonumber(state[1]), tonumber(state[2])
  local left = burst
  if had and at then
    left = math.min(burst, had + math.max(0, now - at) * per_second)
  end
  if left < 1 then
    if refused == 0 then refused = i end
    wait = math.max(wait, (1 - left) / per_second)
  end
  tokens[i] = left
end
if refused > 0 then
  return {refused, math.ceil(wait * 1000)}
end
for i, key in ipairs(KEYS) do
  local per_second, burst = tonumber(ARGV[2 * i]), tonumber(ARGV[2 * i + 1])
  local left = tokens[i] - 1
  redis.call('HSET', key, 'tokens', string.format('%.17g', left), 'at', string.format('%.17g', now))
  redis.call('PEXPIRE', key, math.ceil((burst - left) / per_second * 1000))
end
return {0, 0}
"""
TAKE_TOKENS_SHA = hashlib.sha1(TAKE_TOKENS.encode()).hexdigest()


class RedisBuckets:
    """Buckets under ``prefix`` in Redis. Raises ``BucketStoreError`` when Redis does not
    answer; reconnects by itself (the client's pool) when it is back."""

    def __init__(
        self,
        client: Redis,
        prefix: str = "jarvis:ratelimit:",
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._client = client
        self._prefix = prefix
        self._clock = clock

    async def take(self, charges: Sequence[Charge]) -> RateDecision:
        keys = [self._prefix + charge.key for charge in charges]
        args = ["" if self._clock is None else repr(self._clock())]
        for charge in charges:
            args += [repr(charge.limit.per_second), repr(charge.limit.burst)]
        try:
            refused, wait_ms = await self._run(keys, args)
        except RedisError as exc:
            raise BucketStoreError(f"redis: {exc}") from exc
        if refused == 0:
            return ALLOWED
        return RateDecision(
            allowed=False,
            retry_after_seconds=max(1, math.ceil(int(wait_ms) / 1000)),
            refused_by=int(refused) - 1,
        )

    async def _run(self, keys: list[str], args: list[str]) -> list[int]:
        # EVALSHA sends 40 bytes instead of the script. A Redis that has not seen the script
        # (first call, restarted, SCRIPT FLUSH) answers NOSCRIPT: EVAL then sends it whole,
        # and Redis caches it again for the next EVALSHA.
        try:
            result = await self._client.evalsha(TAKE_TOKENS_SHA, len(keys), *keys, *args)
        except NoScriptError:
            result = await self._client.eval(TAKE_TOKENS, len(keys), *keys, *args)
        return list(result)
