"""Behind trusted proxies, rate limits and logs see the real client, and nobody can forge it."""

from __future__ import annotations

import pytest
from support.jarvis_server import sample

from jarvis.web.middlewares.step2_client_address import forwarded_client


@pytest.mark.parametrize(
    ("forwarded_for", "hops", "expected"),
    [
        (None, 1, "10.0.0.1"),
        ("203.0.113.7", 0, "10.0.0.1"),
        ("203.0.113.7", 1, "203.0.113.7"),
        ("1.2.3.4, 203.0.113.7", 1, "203.0.113.7"),
        ("1.2.3.4, 203.0.113.7, 10.0.0.9", 2, "203.0.113.7"),
        ("203.0.113.7", 2, "10.0.0.1"),
        ("not-an-ip", 1, "10.0.0.1"),
        ("2001:db8::1", 1, "2001:db8::1"),
    ],
)
def test_the_client_is_the_address_our_outermost_proxy_saw(forwarded_for, hops, expected):
    assert forwarded_client("10.0.0.1", forwarded_for, hops) == expected


async def test_behind_one_proxy_clients_have_their_own_buckets_and_log_lines(jarvis_server):
    server = await jarvis_server(
        trusted_proxy_hops=1,
        rate_limit_burst=1,
        rate_limit_per_minute=1,
        rate_limit_address_factor=1,
    )
    statuses = {}
    for client in ("198.51.100.1", "198.51.100.2", "198.51.100.1"):
        async with server.session.post(
            server.url + "/chat",
            data=b"{broken",
            headers={"X-Forwarded-For": f"6.6.6.6, {client}"},
        ) as response:
            statuses.setdefault(client, []).append(response.status)
    assert statuses == {"198.51.100.1": [400, 429], "198.51.100.2": [400]}
    access = await server.wait_for_log(lambda line: line.get("status") == 429)
    assert access["client"] == "198.51.100.1"
    refusal = await server.wait_for_log(lambda line: line.get("action") == "rate_limited")
    assert refusal["client"] == "198.51.100.1"
    assert sample(await server.metrics_text(), "rate_limit_hits_total", endpoint="/chat",
                  client_type="ip") == 1  # fmt: skip


async def test_without_trusted_proxies_the_header_is_ignored(jarvis_server):
    server = await jarvis_server(
        rate_limit_burst=1, rate_limit_per_minute=1, rate_limit_address_factor=1
    )
    statuses = []
    for client in ("198.51.100.1", "198.51.100.2"):
        async with server.session.post(
            server.url + "/chat", data=b"{broken", headers={"X-Forwarded-For": client}
        ) as response:
            statuses.append(response.status)
    assert statuses == [400, 429], "a client cannot dodge its limit by inventing addresses"
