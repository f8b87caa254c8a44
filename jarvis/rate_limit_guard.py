"""Applies the token-bucket limiter to a request: counts, logs and explains refusals."""

from __future__ import annotations

import logging

from aiohttp import web

from jarvis.metrics import Metrics
from jarvis.middlewares.client_address import client_address_of
from jarvis.rate_limiter import RateDecision, TokenBucketLimiter

logger = logging.getLogger("jarvis.ratelimit")


class RateLimitGuard:
    """Identifies a client by its user ID when it gave a well-formed one, else by address."""

    def __init__(self, limiter: TokenBucketLimiter | None, metrics: Metrics) -> None:
        self._limiter = limiter
        self._metrics = metrics

    def check(self, endpoint: str, request: web.BaseRequest, user_id: str | None) -> RateDecision:
        """Take a token; on refusal count it in ``rate_limit_hits_total`` and log it."""
        if self._limiter is None:
            return RateDecision(allowed=True)
        client_type = "user" if user_id else "ip"
        client = user_id if user_id else client_address_of(request)
        decision = self._limiter.check(endpoint, f"{client_type}:{client}")
        if not decision.allowed:
            self._metrics.rate_limit_hits_total.inc(
                {"endpoint": endpoint, "client_type": client_type}
            )
            logger.warning(
                "rate limited",
                extra={
                    "action": "rate_limited",
                    "endpoint": endpoint,
                    "client_type": client_type,
                    "user_id": user_id,
                    "retry_after": decision.retry_after_seconds,
                },
            )
        return decision

    def enforce(self, endpoint: str, request: web.BaseRequest, user_id: str | None) -> None:
        """Raise 429 with ``Retry-After`` when the client is over its limit."""
        decision = self.check(endpoint, request, user_id)
        if not decision.allowed:
            raise web.HTTPTooManyRequests(
                headers={"Retry-After": str(decision.retry_after_seconds)}
            )
