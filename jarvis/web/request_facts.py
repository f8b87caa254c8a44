"""What the middleware learnt about a request, kept on the request for code that runs
outside the handler's context (the access logger, the response hook, the shutdown step)."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from jarvis.request_context import TraceContext


@dataclass(slots=True)
class RequestFacts:
    # None only for a request aiohttp answered before the middleware ran (malformed HTTP).
    request_id: str | None
    # None when the request came without a (valid) W3C trace.
    trace: TraceContext | None
    # The client behind our trusted proxies (step 2).
    client: str
    # The route template it is counted and logged under (``jarvis.web.responses.route_of``).
    route: str
    # The response whose headers went out, once they did: set by ``prepare_response`` for a
    # handler that sends its own (``jarvis.web.middlewares``), for step 4.
    started: web.StreamResponse | None = None
