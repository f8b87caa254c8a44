"""Step 2: finds the client's address, through a known number of trusted reverse proxies.

Behind a proxy every request comes from the proxy's address, so per-client rate limits and the
access log would see one client. With ``TRUSTED_PROXY_HOPS=N`` the address is the one the
outermost of our N proxies saw: the N-th entry from the right of ``X-Forwarded-For``. Entries
further left are client-supplied and never trusted.
"""

from __future__ import annotations

import ipaddress

from aiohttp import hdrs, web

from jarvis.request_context import current_request


def client_address_of(request: web.BaseRequest) -> str:
    """The resolved client address (found by the steps, serving ``request``), else the
    socket's peer."""
    facts = current_request.get()
    if facts is not None:
        return facts.client
    return request.remote or "unknown"


def forwarded_client(remote: str | None, forwarded_for: str | None, hops: int) -> str | None:
    """The client address given ``hops`` trusted proxies, or ``remote`` when it cannot be told."""
    if hops <= 0 or not forwarded_for:
        return remote
    entries = [entry.strip() for entry in forwarded_for.split(",")]
    if len(entries) < hops:
        return remote
    candidate = entries[-hops]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote


def client_address(request: web.BaseRequest, trusted_proxy_hops: int) -> str:
    """The client's address behind ``trusted_proxy_hops`` proxies, ``unknown`` when unknown."""
    address = request.remote
    if trusted_proxy_hops > 0:
        forwarded_for = request.headers.get(hdrs.X_FORWARDED_FOR)
        address = forwarded_client(address, forwarded_for, trusted_proxy_hops)
    return address or "unknown"
