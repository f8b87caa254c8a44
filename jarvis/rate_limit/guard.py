"""Applies the token-bucket limiter to a client: counts, logs and explains refusals."""

from __future__ import annotations

import logging

from jarvis.logline import ACTION, USER_ID, Action
from jarvis.metrics import Metrics
from jarvis.rate_limit.limiter import RateDecision, TokenBucketLimiter
from jarvis.settings import Settings

logger = logging.getLogger("jarvis.ratelimit")


class RateLimitGuard:
    """Identifies a client by its user ID when it gave a well-formed one, else by address."""

    def __init__(self, limiter: TokenBucketLimiter | None, metrics: Metrics) -> None:
        self._limiter = limiter
        self._metrics = metrics

    @classmethod
    def from_settings(cls, settings: Settings, metrics: Metrics) -> RateLimitGuard:
        """The guard the ``rate_limit_*`` settings ask for; one that allows everything when
        rate limiting is off."""
        limiter = (
            TokenBucketLimiter(
                settings.rate_limit_per_minute,
                settings.rate_limit_burst,
                settings.rate_limit_max_clients,
            )
            if settings.rate_limit_enabled
            else None
        )
        return cls(limiter, metrics)

    def check(self, endpoint: str, client_address: str, user_id: str | None) -> RateDecision:
        """Take a token; on refusal count it in ``rate_limit_hits_total`` and log it."""
        if self._limiter is None:
            return RateDecision(allowed=True)
        client_type = "user" if user_id else "ip"
        client = user_id if user_id else client_address
        decision = self._limiter.check(endpoint, f"{client_type}:{client}")
        if not decision.allowed:
            self._metrics.rate_limit_hits_total.inc(
                {"endpoint": endpoint, "client_type": client_type}
            )
            logger.warning(
                "rate limited",
                extra={
                    ACTION: Action.RATE_LIMITED,
                    "endpoint": endpoint,
                    "client_type": client_type,
                    USER_ID: user_id,
                    "retry_after": decision.retry_after_seconds,
                },
            )
        return decision
