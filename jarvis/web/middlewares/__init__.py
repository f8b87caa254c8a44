"""What the server does around every request, in one middleware; the file names number the
steps, outermost first:

1. ``step1_request_id``: the request's ID (and W3C trace), so every later log line has it;
2. ``step2_client_address``: the real client behind trusted proxies, for the rate limiter
   and the access log;
3. ``step3_errors``: any error becomes a JSON body naming the request ID;
4. ``step4_shutdown``: a request still running when a shutdown's grace period ends is
   answered 503 and logged, not dropped.

What it learnt (``RequestFacts``) stays on the request for the response hook below (the ID on
every response) and for aiohttp's access logger (``jarvis.web.access_log``), which writes the
access line and records the request's metrics once its last byte is sent.

One middleware runs the four steps, as the function below shows: each aiohttp middleware is one
more coroutine and partial per request, which five of them made a fifth of what observing a
request cost.
"""

from __future__ import annotations

import asyncio

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from multidict import istr

from jarvis.settings import Settings
from jarvis.web.keys import REQUEST_FACTS_KEY, REQUEST_ID_KEY
from jarvis.web.middlewares.step1_request_id import RequestIdentity
from jarvis.web.middlewares.step2_client_address import client_address
from jarvis.web.middlewares.step3_errors import internal_error, json_error
from jarvis.web.middlewares.step4_shutdown import InFlightRequests
from jarvis.web.request_facts import RequestFacts
from jarvis.web.responses import ResponseHook, route_of


def middleware_chain(settings: Settings, in_flight: InFlightRequests) -> list[Middleware]:
    """The four steps, built from the settings, as ``web.Application`` takes middlewares."""
    identity = RequestIdentity(settings.request_id_header)
    trusted_proxy_hops = settings.trusted_proxy_hops
    current_task = asyncio.current_task
    running, cut_off = in_flight.running, in_flight.cut_off

    @web.middleware
    async def observe(request: web.Request, handler: Handler) -> web.StreamResponse:
        request_id, trace = identity.bind(request)
        facts = RequestFacts(
            request_id, trace, client_address(request, trusted_proxy_hops), route_of(request)
        )
        request[REQUEST_ID_KEY] = request_id
        request[REQUEST_FACTS_KEY] = facts
        task = current_task()
        assert task is not None
        running.add(task)
        try:
            return await handler(request)
        except web.HTTPException as exc:
            return json_error(request, exc)
        except asyncio.CancelledError:
            if not in_flight.was_cut_off(task):
                raise
            return in_flight.answer(request, facts)
        except Exception:
            return internal_error(request, facts.route)
        finally:
            running.discard(task)
            if cut_off:
                cut_off.discard(task)

    return [observe]


def response_hook(settings: Settings) -> ResponseHook:
    """The ``on_response_prepare`` hook: the request ID on every response (WebSocket
    upgrades, error pages and 404s included), and the response kept for step 4."""
    # Built once: a plain str header name is case-folded on every set.
    header = istr(settings.request_id_header)

    async def on_response_prepare(request: web.Request, response: web.StreamResponse) -> None:
        try:
            facts = request[REQUEST_FACTS_KEY]
        except KeyError:
            return
        response.headers[header] = facts.request_id
        facts.started = response

    return on_response_prepare
