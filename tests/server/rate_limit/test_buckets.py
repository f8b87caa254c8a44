"""The token buckets, in process and in Redis (the Lua script), keep the same promises: burst,
refill, a refusal that says when to come back, and a chat charged to several buckets takes a
token from all of them or from none."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
from redis.asyncio import Redis

from jarvis.rate_limit.limiter import BucketStoreError, Charge, InProcessBuckets, Limit
from jarvis.rate_limit.redis_buckets import TAKE_TOKENS_SHA, RedisBuckets
from jarvis.redis_client import create_redis_client
from jarvis.settings import Settings

pytestmark = pytest.mark.timeout(30)

ONE_PER_SECOND_BURST_3 = Limit(per_second=1.0, burst=3.0)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def redis(redis_server) -> AsyncIterator[Redis]:
    client = create_redis_client(Settings(redis_url=redis_server.url))
    yield client
    await client.aclose()


@pytest.fixture(params=["in_process", "redis"])
def make_buckets(request) -> Callable[[FakeClock], object]:
    """Builds the store under test, on a fake clock."""
    if request.param == "in_process":
        return lambda clock: InProcessBuckets(clock=clock)
    redis = request.getfixturevalue("redis")
    return lambda clock: RedisBuckets(redis, clock=clock)


def charge(key: str, limit: Limit = ONE_PER_SECOND_BURST_3) -> Charge:
    return Charge(key, limit)


async def test_a_bucket_gives_its_burst_then_refills_at_its_rate(make_buckets):
    clock = FakeClock()
    buckets = make_buckets(clock)
    decisions = [await buckets.take([charge("u")]) for _ in range(4)]
    assert [d.allowed for d in decisions] == [True, True, True, False]
    assert decisions[-1].retry_after_seconds == 1 and decisions[-1].refused_by == 0
    clock.now += 1.0
    assert (await buckets.take([charge("u")])).allowed
    assert not (await buckets.take([charge("u")])).allowed
    clock.now += 60.0
    allowed = [(await buckets.take([charge("u")])).allowed for _ in range(4)]
    assert allowed == [True, True, True, False], "a long pause refills up to the burst, no more"
    assert (await buckets.take([charge("other")])).allowed, "keys have separate buckets"


async def test_retry_after_is_when_a_token_is_back(make_buckets):
    clock = FakeClock()
    buckets = make_buckets(clock)
    slow = Limit.per_minute(6, 1)
    assert (await buckets.take([charge("u", slow)])).allowed
    assert (await buckets.take([charge("u", slow)])).retry_after_seconds == 10
    clock.now += 4.0
    assert (await buckets.take([charge("u", slow)])).retry_after_seconds == 6


async def test_a_refused_chat_takes_no_token_from_its_other_bucket(make_buckets):
    clock = FakeClock()
    buckets = make_buckets(clock)
    address, user = charge("ip:1"), charge("user:enzo", Limit(1.0, 1.0))
    assert (await buckets.take([address, user])).allowed
    for _ in range(5):
        refused = await buckets.take([address, user])
        assert not refused.allowed and refused.refused_by == 1
    # The address paid for one chat only: two more are left in its burst of three.
    assert (await buckets.take([address, charge("user:other")])).allowed
    assert (await buckets.take([address, charge("user:third")])).allowed
    refused = await buckets.take([address, charge("user:fourth")])
    assert refused.refused_by == 0, "now the address is empty, and a fresh user is no way round"
    assert (await buckets.take([charge("user:fourth")])).allowed, "...which kept its token"


async def test_when_both_buckets_are_empty_the_first_is_named_and_the_wait_covers_both(
    make_buckets,
):
    clock = FakeClock()
    buckets = make_buckets(clock)
    address, user = charge("ip:1", Limit(1.0, 1.0)), charge("user:u", Limit(0.1, 1.0))
    assert (await buckets.take([address, user])).allowed
    refused = await buckets.take([address, user])
    assert refused.refused_by == 0 and refused.retry_after_seconds == 10


async def test_replicas_charging_one_user_at_once_never_overspend(redis_server, redis):
    """Two clients (two replicas) race for one user's burst of 5: exactly 5 chats pass."""
    other = create_redis_client(Settings(redis_url=redis_server.url))
    try:
        replicas = [RedisBuckets(redis), RedisBuckets(other)]
        user = charge("user:enzo", Limit(0.001, 5.0))
        decisions = await asyncio.gather(
            *(replicas[i % 2].take([charge(f"ip:{i}"), user]) for i in range(100))
        )
    finally:
        await other.aclose()
    assert sum(d.allowed for d in decisions) == 5
    assert {d.refused_by for d in decisions if not d.allowed} == {1}


async def test_redis_keys_expire_once_their_bucket_is_full_again(redis):
    buckets = RedisBuckets(redis, prefix="t:")
    await buckets.take([charge("slow", Limit(1.0, 3.0)), charge("fast", Limit(50.0, 2.0))])
    assert 900 < await redis.pttl("t:slow") <= 1000, "one token short: full in a second"
    assert 0 < await redis.pttl("t:fast") <= 20
    await asyncio.sleep(0.1)
    assert await redis.exists("t:fast") == 0
    assert await redis.exists("t:slow") == 1


async def test_redis_buckets_use_the_servers_clock_by_default(redis):
    buckets = RedisBuckets(redis)
    allowed = [(await buckets.take([charge("u", Limit(0.01, 2.0))])).allowed for _ in range(3)]
    assert allowed == [True, True, False]


async def test_a_redis_that_lost_the_script_is_sent_it_again(redis):
    buckets = RedisBuckets(redis)
    assert (await buckets.take([charge("u")])).allowed
    await redis.script_flush()
    assert await redis.script_exists(TAKE_TOKENS_SHA) == [False]
    assert (await buckets.take([charge("u")])).allowed
    assert await redis.script_exists(TAKE_TOKENS_SHA) == [True], "EVAL cached it again"


async def test_an_unreachable_redis_is_a_bucket_store_error_until_it_is_back(redis_server):
    client = create_redis_client(Settings(redis_url=redis_server.url, redis_timeout=0.5))
    buckets = RedisBuckets(client)
    try:
        assert (await buckets.take([charge("u")])).allowed
        redis_server.kill()
        with pytest.raises(BucketStoreError, match="redis"):
            await buckets.take([charge("u")])
        await redis_server.restart()
        assert (await buckets.take([charge("u")])).allowed, "a fresh Redis: a full bucket"
    finally:
        await client.aclose()


async def test_in_process_buckets_stay_bounded_whatever_the_number_of_clients():
    buckets = InProcessBuckets(max_buckets=100)
    for i in range(10_000):
        await buckets.take([charge(f"client-{i}")])
    assert len(buckets) == 100
