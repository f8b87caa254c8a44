"""Token buckets per client and endpoint: 429 with Retry-After, counted by client type."""

from __future__ import annotations

from support.jarvis_server import receive_turn, sample

from jarvis.rate_limit.limiter import TokenBucketLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_allows_its_burst_then_refills_at_the_rate():
    clock = FakeClock()
    limiter = TokenBucketLimiter(per_minute=60, burst=3, clock=clock)
    assert [limiter.check("/chat", "u").allowed for _ in range(4)] == [True, True, True, False]
    assert limiter.check("/chat", "u").retry_after_seconds == 1
    clock.now += 1.0
    assert limiter.check("/chat", "u").allowed
    assert not limiter.check("/chat", "u").allowed
    assert limiter.check("/ws", "u").allowed, "endpoints have separate buckets"
    assert limiter.check("/chat", "other").allowed, "clients have separate buckets"


def test_retry_after_tells_when_a_token_will_be_back():
    clock = FakeClock()
    limiter = TokenBucketLimiter(per_minute=6, burst=1, clock=clock)
    limiter.check("/chat", "u")
    assert limiter.check("/chat", "u").retry_after_seconds == 10


def test_memory_stays_bounded_whatever_the_number_of_clients():
    limiter = TokenBucketLimiter(per_minute=60, burst=1, max_clients=100)
    for i in range(10_000):
        limiter.check("/chat", f"client-{i}")
    assert len(limiter) == 100


async def test_over_the_limit_chat_gets_429_with_retry_after(jarvis_server):
    server = await jarvis_server(rate_limit_burst=2, rate_limit_per_minute=1)
    statuses = []
    for _ in range(3):
        async with server.session.post(
            server.url + "/chat", json={"message": "hi", "user_id": "enzo"}
        ) as response:
            statuses.append(response.status)
            body = await response.json()
    assert statuses == [200, 200, 429]
    assert int(response.headers["Retry-After"]) >= 59
    assert body["request_id"] == response.headers["X-Request-ID"]
    async with server.session.post(
        server.url + "/chat", json={"message": "hi", "user_id": "someone-else"}
    ) as response:
        assert response.status == 200, "another user has its own bucket"
    text = await server.metrics_text()
    assert sample(text, "rate_limit_hits_total", endpoint="/chat", client_type="user") == 1
    assert sample(text, "rate_limit_hits_total", endpoint="/chat", client_type="ip") == 0
    hit = await server.wait_for_log(lambda line: line.get("action") == "rate_limited")
    assert hit["user_id"] == "enzo" and hit["endpoint"] == "/chat"


async def test_garbage_floods_are_limited_by_address(jarvis_server):
    server = await jarvis_server(rate_limit_burst=2, rate_limit_per_minute=1)
    statuses = []
    for _ in range(3):
        async with server.session.post(server.url + "/chat", data=b"{garbage") as response:
            statuses.append(response.status)
    assert statuses == [400, 400, 429]
    text = await server.metrics_text()
    assert sample(text, "rate_limit_hits_total", endpoint="/chat", client_type="ip") == 1


async def test_websocket_upgrades_and_messages_are_limited(jarvis_server):
    server = await jarvis_server(rate_limit_burst=2, rate_limit_per_minute=1)
    async with server.session.ws_connect(server.url + "/ws") as ws:
        results = []
        for _ in range(3):
            await ws.send_json({"message": "hi", "user_id": "enzo"})
            results.append((await receive_turn(ws))[-1])
    assert [r["type"] for r in results] == ["done", "done", "error"]
    assert results[-1]["error"] == "rate limit exceeded" and results[-1]["retry_after"] >= 59
    async with server.session.ws_connect(server.url + "/ws"):
        pass
    async with server.session.get(server.url + "/ws") as response:
        assert response.status == 429
        assert "Retry-After" in response.headers
        assert "X-Request-ID" in response.headers
    text = await server.metrics_text()
    assert sample(text, "rate_limit_hits_total", endpoint="/ws", client_type="user") == 1
    assert sample(text, "rate_limit_hits_total", endpoint="/ws", client_type="ip") == 1


async def test_rate_limiting_can_be_switched_off(jarvis_server):
    server = await jarvis_server(rate_limit_enabled=False, rate_limit_burst=1)
    for _ in range(5):
        async with server.session.post(
            server.url + "/chat", json={"message": "hi", "user_id": "enzo"}
        ) as response:
            assert response.status == 200
