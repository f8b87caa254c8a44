"""The server's middlewares, outermost first; the file names number the steps.

1. ``step1_request_id``: the request's ID (and W3C trace), so every later log line has it;
2. ``step2_client_address``: the real client behind trusted proxies, for the rate limiter
   and the access log;
3. ``step3_metrics``: ``http_requests_total`` by route template and status;
4. ``step4_errors``: any error becomes a JSON body naming the request ID;
5. ``step5_shutdown``: a request still running when a shutdown's grace period ends is
   answered 503 and logged, not dropped.
"""

from __future__ import annotations

from aiohttp.typedefs import Middleware

from jarvis.metrics import Metrics
from jarvis.settings import Settings
from jarvis.web.middlewares.step1_request_id import request_id_middleware
from jarvis.web.middlewares.step2_client_address import client_address_middleware
from jarvis.web.middlewares.step3_metrics import metrics_middleware
from jarvis.web.middlewares.step4_errors import json_errors
from jarvis.web.middlewares.step5_shutdown import InFlightRequests


def middleware_chain(
    settings: Settings, metrics: Metrics, in_flight: InFlightRequests
) -> list[Middleware]:
    """The five steps, built from the settings, in the order ``web.Application`` takes them."""
    return [
        request_id_middleware(settings.request_id_header),
        client_address_middleware(settings.trusted_proxy_hops),
        metrics_middleware(metrics),
        json_errors,
        in_flight.middleware(),
    ]
