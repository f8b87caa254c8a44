"""The shipper's HTTP client for Elasticsearch: a pre-built NDJSON body POSTed to ``_bulk``, the
answer handed back as bytes.

Why not ``elasticsearch-py``: the sink builds its bodies itself and needs, of the answer,
only whether every item was stored, which the first bytes say; the client's per-request
work (headers, serialisers, parsing every response with the standard library's ``json``)
cost about five times the CPU of a bare POST here, CPU that Elasticsearch on the same host
wanted, and importing it added 0.4 s to every start. What it gave that the shipper uses is
kept here: several nodes (a node that refuses connections is set aside for a while and the
request goes to the next one at once), basic or API-key credentials, a CA file or no
certificate check, a request timeout. Retries are the sink's (``bulk_sink.py``).
"""

from __future__ import annotations

import base64
import ssl
import time
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import aiohttp
import orjson

from shipper.elastic import ElasticsearchSettings

# What the sink reads of a ``_bulk`` answer: whether any item failed, and then which and why.
BULK_FILTER = "errors,items.*.status,items.*.error.type,items.*.error.reason"
# A node that refused a connection is skipped this long, doubled while it keeps refusing.
DEAD_NODE_FIRST = 1.0
DEAD_NODE_LONGEST = 30.0


class ElasticsearchUnreachable(Exception):
    """No node answered (connection refused or reset, timeout); the message says why."""


class RequestRefused(Exception):
    """A node answered with an error status for the whole request."""

    def __init__(self, status: int, error_type: str, reason: str) -> None:
        super().__init__(f"HTTP {status} {error_type}: {reason}".strip())
        self.status = status
        self.error_type = error_type


class _Node:
    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.url = urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], "", "", ""))
        self.path = parts.path.rstrip("/")
        self.login = (unquote(parts.username or ""), unquote(parts.password or ""))
        self.failures = 0
        self.dead_until = 0.0

    def failed(self) -> None:
        self.failures += 1
        pause = min(DEAD_NODE_LONGEST, DEAD_NODE_FIRST * 2 ** min(self.failures - 1, 10))
        self.dead_until = time.monotonic() + pause

    def answered(self) -> None:
        self.failures = 0
        self.dead_until = 0.0


class BulkClient:
    """Sends requests to the live nodes of ``settings`` in turn. Use it from one event loop;
    ``close()`` when done."""

    def __init__(self, settings: ElasticsearchSettings) -> None:
        self._settings = settings
        self._nodes = [_Node(url) for url in settings.urls]
        self._next = 0
        self._session: aiohttp.ClientSession | None = None

    async def bulk(self, body: bytes) -> bytes:
        """POST ``body`` (NDJSON) to ``_bulk``; the answer's body, filtered to BULK_FILTER.
        Raises RequestRefused (an error status) or ElasticsearchUnreachable."""
        return await self._request(
            "POST", f"/_bulk?filter_path={BULK_FILTER}", body, "application/x-ndjson"
        )

    async def put_index_template(self, name: str, template: dict[str, Any]) -> None:
        """Create or replace the index template ``name``."""
        await self._request(
            "PUT", f"/_index_template/{name}", orjson.dumps(template), "application/json"
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _request(self, method: str, target: str, body: bytes, content_type: str) -> bytes:
        session = self._open_session()
        problems = []
        # Each node once at most: a refused connection moves on to the next at once.
        for node in self._turn():
            headers = {"Content-Type": content_type, "Accept": "application/json"}
            headers.update(self._authorization(node))
            try:
                async with session.request(
                    method, node.url + node.path + target, data=body, headers=headers
                ) as response:
                    answer = await response.read()
                    status = response.status
            except TimeoutError:
                # A slow node is not a dead one: the sink waits, then sends again.
                raise ElasticsearchUnreachable(f"{node.url}: no answer in time") from None
            except (aiohttp.ClientError, OSError) as error:
                node.failed()
                problems.append(f"{node.url}: {_described(error)}")
                continue
            node.answered()
            if not 200 <= status < 300:
                raise _refusal(status, answer)
            return answer
        raise ElasticsearchUnreachable("; ".join(problems))

    def _turn(self) -> list[_Node]:
        """The nodes to try, live ones first (in round-robin order), then the others, the
        soonest back first."""
        count = len(self._nodes)
        start, self._next = self._next, (self._next + 1) % count
        order = [self._nodes[(start + step) % count] for step in range(count)]
        now = time.monotonic()
        live = [node for node in order if node.dead_until <= now]
        resting = sorted((node for node in order if node.dead_until > now), key=_back_at)
        return live + resting

    def _authorization(self, node: _Node) -> dict[str, str]:
        settings = self._settings
        if settings.api_key:
            return {"Authorization": f"ApiKey {settings.api_key}"}
        user, password = (settings.username, settings.password) if settings.username else node.login
        if not user:
            return {}
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        return {"Authorization": f"Basic {token}"}

    def _open_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            tls: ssl.SSLContext | bool = True
            if not self._settings.verify_certs:
                tls = False
            elif self._settings.ca_certs:
                tls = ssl.create_default_context(cafile=self._settings.ca_certs)
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=tls),
                timeout=aiohttp.ClientTimeout(total=self._settings.request_timeout),
                # Nothing here is a browser: no cookies to keep between requests.
                cookie_jar=aiohttp.DummyCookieJar(),
            )
        return self._session


def _back_at(node: _Node) -> float:
    return node.dead_until


def _refusal(status: int, answer: bytes) -> RequestRefused:
    try:
        error = orjson.loads(answer).get("error")
    except (orjson.JSONDecodeError, AttributeError):
        error = None
    if isinstance(error, dict):
        return RequestRefused(status, str(error.get("type", "")), str(error.get("reason", "")))
    if isinstance(error, str):
        return RequestRefused(status, "", error)
    return RequestRefused(status, "", answer[:200].decode("utf-8", "replace"))


def _described(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"[:300]
