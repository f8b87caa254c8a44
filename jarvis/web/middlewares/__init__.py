"""What the server does around every request; the file names number the steps, outermost
first:

1. ``step1_request_id``: the request's ID (and W3C trace), so every later log line has it;
2. ``step2_client_address``: the real client behind trusted proxies, for the rate limiter
   and the access log;
3. ``step3_errors``: any error becomes a JSON body naming the request ID;
4. ``step4_shutdown``: a request still running when a shutdown's grace period ends is
   answered 503 and logged, not dropped.

What they learn (``RequestFacts``) is the request's context (``current_request``), where
aiohttp's access logger (``jarvis.web.access_log``), running in the request's task, reads it
to write the access line and record the request's metrics once its last byte is sent. The
request ID goes on every response: set here on a response the handler returns, by
``prepare_response`` on one a handler sends itself (a WebSocket upgrade).

The steps are a middleware in all but aiohttp's mechanism: ``ObservedRoutes`` wraps each
route's handler in them, and answers the requests no route matches (404, 405) through them
too. An aiohttp middleware brings a second one of aiohttp's own with it, and both cost a
partial, a coroutine and a cache lookup per request: with the ``on_response_prepare`` hook the
steps replaced, a quarter of what observing a request cost. Every route must be added through
``ObservedRoutes`` (``create_app``'s ``extra_routes``): start-up refuses an app with any other.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler
from multidict import istr

from jarvis.request_context import current_request
from jarvis.settings import Settings
from jarvis.web.keys import SETTINGS
from jarvis.web.middlewares.step1_request_id import RequestIdentity
from jarvis.web.middlewares.step2_client_address import client_address
from jarvis.web.middlewares.step3_errors import has_json_body, internal_error, json_error
from jarvis.web.middlewares.step4_shutdown import InFlightRequests
from jarvis.web.responses import UNMATCHED

# Matches every path: added after every route, it is what aiohttp's router finds last.
_ANY_PATH = "/{unmatched_path:.*}"


class ObservedRoutes:
    """Adds routes to an application whose requests each run inside the four steps, and the
    catch-all route answering those no other route matches."""

    def __init__(self, settings: Settings, in_flight: InFlightRequests) -> None:
        self._identity = RequestIdentity(settings.request_id_header)
        self._trusted_proxy_hops = settings.trusted_proxy_hops
        self._in_flight = in_flight
        self._observed: set[Handler] = set()

    def add(self, router: web.UrlDispatcher, routes: Iterable[web.RouteDef]) -> None:
        """Add ``routes`` (``web.get(...)``, a ``RouteTableDef``), each observed and counted
        under its path template; a GET route answers HEAD too, as ``add_get`` does."""
        for route in routes:
            resource = router.add_resource(route.path, name=route.kwargs.get("name"))
            observed = self._observe(route.handler, resource.canonical)
            if route.method == hdrs.METH_GET and route.kwargs.get("allow_head", True):
                resource.add_route(hdrs.METH_HEAD, observed)
            resource.add_route(route.method, observed)

    def seal(self, app: web.Application) -> None:
        """Add the catch-all route, after every other: a request no route matches gets the
        JSON 404 (405 when the path knows other methods) and its ID like any other. From
        start-up on, a route added some other way is refused: it would go unobserved."""
        resource = app.router.add_resource(_ANY_PATH, name=UNMATCHED)
        observed = self._observe(_Unmatched(app.router, resource), UNMATCHED)
        resource.add_route(hdrs.METH_ANY, observed)
        # First: before any dependency opens.
        app.on_startup.insert(0, self._refuse_unobserved)

    async def _refuse_unobserved(self, app: web.Application) -> None:
        unobserved = [
            f"{route.method} {route.resource.canonical if route.resource else '?'}"
            for route in app.router.routes()
            if route.handler not in self._observed
        ]
        if unobserved:
            raise RuntimeError(
                f"routes added outside create_app(extra_routes=...) would go unobserved "
                f"(no request ID, access line nor metrics): {', '.join(unobserved)}"
            )

    def _observe(self, handler: Handler, route: str) -> Handler:
        """``handler`` run inside the four steps, its requests counted under ``route``."""
        bind = self._identity.bind
        header = self._identity.header
        hops = self._trusted_proxy_hops
        in_flight = self._in_flight
        running, cut_off = in_flight.running, in_flight.cut_off
        current_task = asyncio.current_task

        async def observed(request: web.Request) -> web.StreamResponse:
            facts = bind(request, client_address(request, hops), route)
            request_id = facts.request_id
            assert request_id is not None
            # Before start-up (never, under a runner) the loop is None: then the running one.
            task = current_task(in_flight.loop)
            assert task is not None
            running.add(task)
            try:
                response = await handler(request)
            except web.HTTPException as exc:
                if not has_json_body(exc):
                    # A redirect, a 204: aiohttp answers it itself, with the ID.
                    exc.headers[header] = request_id
                    raise
                response = json_error(request, exc)
            except asyncio.CancelledError:
                if not in_flight.was_cut_off(task):
                    raise
                response = in_flight.answer(request, facts)
            except Exception:
                response = internal_error(request, route)
            finally:
                running.discard(task)
                if cut_off:
                    cut_off.discard(task)
            if not response.prepared:
                response.headers[header] = request_id
            return response

        self._observed.add(observed)
        return observed


async def prepare_response(request: web.Request, response: web.StreamResponse) -> None:
    """Send ``response``'s headers with the request's ID, for a handler that sends its response
    itself (a WebSocket upgrade); step 4 hands it back as it is should a shutdown cut the
    handler off."""
    facts = current_request.get()
    if facts is not None and facts.request_id is not None:
        response.headers[istr(request.app[SETTINGS].request_id_header)] = facts.request_id
        facts.started = response
    await response.prepare(request)


class _Unmatched:
    """The catch-all route's handler: 405 when some route has the path with other methods
    (what aiohttp's router would say), else 404."""

    def __init__(self, router: web.UrlDispatcher, catch_all: web.AbstractResource) -> None:
        self._router = router
        self._catch_all = catch_all

    async def __call__(self, request: web.Request) -> web.StreamResponse:
        allowed: set[str] = set()
        for resource in self._router.resources():
            if resource is not self._catch_all:
                _, methods = await resource.resolve(request)
                allowed |= methods
        if allowed:
            raise web.HTTPMethodNotAllowed(request.method, allowed)
        raise web.HTTPNotFound()
