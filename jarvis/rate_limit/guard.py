"""Applies the token buckets to chats: who pays, and what a refusal or a failure costs."""

from __future__ import annotations

import logging

from jarvis.logline import ACTION, ERROR, USER_ID, Action
from jarvis.metrics import Metrics
from jarvis.rate_limit.limiter import (
    ALLOWED,
    BucketStore,
    BucketStoreError,
    Charge,
    InProcessBuckets,
    Limit,
    RateDecision,
)
from jarvis.rate_limit.log_throttle import LogThrottle
from jarvis.settings import Settings

logger = logging.getLogger("jarvis.ratelimit")

# The ``client_type`` label, by the order of a chat's charges: its address pays first.
ADDRESS, USER = "ip", "user"


class RateLimitGuard:
    """Every chat costs a token from its client address's bucket (``address_limit``, several
    times a user's, so rotating user IDs from one address gets no further than that) and, when
    it names a user, from that user's bucket too (``user_limit``); it is refused when either is
    empty, and then takes no token from the other.

    Each refusal is counted in ``rate_limit_hits_total`` but logged at most once per client and
    window, with the number suppressed since. When the buckets cannot be reached (Redis down)
    limits fail open: the chat is let through, counted in ``rate_limit_backend_errors_total``,
    and logged at most once per window — a store outage must not stop every chat.
    """

    def __init__(
        self,
        buckets: BucketStore | None,
        user_limit: Limit,
        address_limit: Limit,
        metrics: Metrics,
        log_window: float = 60.0,
        max_clients: int = 100_000,
    ) -> None:
        self._buckets = buckets
        self._user_limit = user_limit
        self._address_limit = address_limit
        self._metrics = metrics
        self._refusal_log = LogThrottle(log_window, max_clients)
        self._failure_log = LogThrottle(log_window, 1)

    @classmethod
    def from_settings(
        cls, settings: Settings, metrics: Metrics, buckets: BucketStore | None = None
    ) -> RateLimitGuard:
        """The guard the ``rate_limit_*`` settings ask for, on ``buckets`` (in-process ones if
        not given); one that allows everything when rate limiting is off."""
        user_limit = Limit.per_minute(settings.rate_limit_per_minute, settings.rate_limit_burst)
        factor = settings.rate_limit_address_factor
        address_limit = Limit(user_limit.per_second * factor, user_limit.burst * factor)
        if settings.rate_limit_enabled:
            buckets = buckets or InProcessBuckets(settings.rate_limit_max_clients)
        else:
            buckets = None
        return cls(
            buckets,
            user_limit,
            address_limit,
            metrics,
            settings.rate_limit_log_window,
            settings.rate_limit_max_clients,
        )

    async def check(self, endpoint: str, address: str, user_id: str | None) -> RateDecision:
        """Charge a chat from ``address`` naming ``user_id`` (None: no user) on ``endpoint``."""
        if self._buckets is None:
            return ALLOWED
        clients = [(ADDRESS, address, self._address_limit)]
        if user_id:
            clients.append((USER, user_id, self._user_limit))
        charges = [Charge(f"{endpoint}:{kind}:{client}", limit) for kind, client, limit in clients]
        try:
            decision = await self._buckets.take(charges)
        except BucketStoreError as exc:
            self._failed_open(endpoint, exc)
            return ALLOWED
        if decision.refused_by is not None:
            kind, client, _ = clients[decision.refused_by]
            self._refused(endpoint, kind, client, address, user_id, decision)
        return decision

    def _refused(
        self,
        endpoint: str,
        client_type: str,
        client: str,
        address: str,
        user_id: str | None,
        decision: RateDecision,
    ) -> None:
        self._metrics.rate_limit_hits_total.inc({"endpoint": endpoint, "client_type": client_type})
        suppressed = self._refusal_log.admit(f"{client_type}:{client}")
        if suppressed is None:
            return
        logger.warning(
            "rate limited",
            extra={
                ACTION: Action.RATE_LIMITED,
                "endpoint": endpoint,
                "client_type": client_type,
                "client": address,
                USER_ID: user_id,
                "retry_after": decision.retry_after_seconds,
                # Refusals of this client not logged since its previous rate_limited line.
                "suppressed": suppressed,
            },
        )

    def _failed_open(self, endpoint: str, error: BucketStoreError) -> None:
        self._metrics.rate_limit_backend_errors_total.inc({})
        suppressed = self._failure_log.admit("buckets")
        if suppressed is None:
            return
        logger.error(
            "rate limits not enforced: buckets unreachable",
            extra={
                ACTION: Action.RATE_LIMIT_FAILED_OPEN,
                "endpoint": endpoint,
                ERROR: str(error),
                "suppressed": suppressed,
            },
        )
