"""Events from the ``jarvis-logs-*`` indices, read page after page through a point in time.

Imported only by a command that reads Elasticsearch: the client takes longer to import than
the rest of ``jarvis-logs`` together.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import elastic_transport
from elasticsearch import (
    ApiError,
    AsyncElasticsearch,
    AuthenticationException,
    AuthorizationException,
    NotFoundError,
)
from elasticsearch.serializer import OrjsonSerializer

from shipper.elastic import ElasticsearchSettings
from shipper.query.filters import EventFilter
from shipper.query.queries import Order, event_query, timeline_sort
from shipper.query.sources import DEFAULT_PAGE_SIZE, LogEntry, NothingToRead, SourceUnavailable

# Of a page, only what is shown or needed for the next: not each hit's _index, _id, _score.
_PAGE_FILTER = "pit_id,hits.hits._source,hits.hits.sort,_shards.failures"
_SHARD_LOST = frozenset({"search_phase_execution_exception", "no_shard_available_action_exception"})
_SHARD_LOST_RETRIES = 6
_KEEP_ALIVE = "2m"


class ElasticsearchEventSource:
    """Reads events with structured queries; turns every client failure into a one-line error.

    Use it as an async context manager: leaving it closes the client's connections.
    """

    def __init__(
        self,
        settings: ElasticsearchSettings,
        *,
        index: str,
        page_size: int = DEFAULT_PAGE_SIZE,
    ) -> None:
        self._url = settings.shown_url
        try:
            # A node lost from a cluster, or a master being re-elected, is a few seconds of
            # refused connections and 503s: ride them out on the other nodes, then give up.
            self._client: AsyncElasticsearch = settings.create_client(
                max_retries=max(8, 2 * len(settings.urls)),
                retry_on_timeout=True,
                retry_backoff_base=0.25,
                retry_backoff_cap=2.0,
                # A page of a thousand events is a megabyte of JSON: orjson reads it in a
                # fraction of the standard library's time.
                serializer=OrjsonSerializer(),
            )
        except ValueError as error:
            raise SourceUnavailable(f"unusable Elasticsearch URL {self._url!r}: {error}") from None
        self._index = index
        self._page_size = page_size
        self._failed_shards: dict[str, int] = {}

    @property
    def place(self) -> str:
        """Where the events are read, for messages: ``jarvis-logs-* on http://host:9200``."""
        return f"{self._index} on {self._url}"

    @property
    def notes(self) -> list[str]:
        """Shards that failed during the last search: its results may lack their events."""
        return [
            f"{count} shard search(es) failed ({reason}); results may be incomplete"
            for reason, count in self._failed_shards.items()
        ]

    async def __aenter__(self) -> ElasticsearchEventSource:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._client.close()

    async def find(self, event_filter: EventFilter, *, latest: int | None = None) -> list[LogEntry]:
        """Every matching event, oldest first, across all pages; with ``latest``, the newest few."""
        order: Order = "asc" if latest is None else "desc"
        self._failed_shards.clear()
        async with self._errors_explained():
            events = await self._read_all(event_query(event_filter), order, latest)
        if latest is not None:
            events.reverse()
        return events

    async def stream(
        self, event_filter: EventFilter, *, without: Sequence[str] = ()
    ) -> AsyncGenerator[list[LogEntry], None]:
        """Every matching event, oldest first, a page at a time as Elasticsearch answers; the
        next page is asked for while the caller shows this one. The fields named in
        ``without`` are left out of each event."""
        self._failed_shards.clear()
        async with self._errors_explained():
            pages = self._pages_again_if_lost(event_query(event_filter), "asc", None, without)
            async with contextlib.aclosing(pages):
                async for page in pages:
                    yield page

    async def _read_all(
        self, query: dict[str, Any], order: Order, limit: int | None
    ) -> list[LogEntry]:
        events: list[LogEntry] = []
        pages = self._pages_again_if_lost(query, order, limit, ())
        async with contextlib.aclosing(pages):
            async for page in pages:
                events.extend(page)
        return events

    async def _pages_again_if_lost(
        self, query: dict[str, Any], order: Order, limit: int | None, without: Sequence[str]
    ) -> AsyncGenerator[list[LogEntry], None]:
        # A point in time pins shard copies; when the node holding one dies (a cluster losing
        # a node) the search fails until the cluster promotes another copy: read again, as
        # long as nothing was handed out yet (what was would be shown twice).
        for attempt in range(_SHARD_LOST_RETRIES + 1):
            handed_out = False
            pages = self._pages(query, order, limit, without)
            try:
                async with contextlib.aclosing(pages):
                    async for page in pages:
                        handed_out = True
                        yield page
                return
            except ApiError as error:
                lost = _error_type(error) in _SHARD_LOST
                if handed_out or attempt == _SHARD_LOST_RETRIES or not lost:
                    raise
                self._failed_shards.clear()
                await asyncio.sleep(min(2.0, 0.25 * 2**attempt))

    async def aggregate(self, query: dict[str, Any], aggs: dict[str, Any]) -> dict[str, Any]:
        """The ``aggregations`` of a size-0 search, plus ``total`` (events matching ``query``)."""
        async with self._errors_explained():
            response = await self._client.search(
                index=self._index,
                query=query,
                aggs=aggs,
                size=0,
                track_total_hits=True,
                ignore_unavailable=True,
            )
        self._failed_shards.clear()
        self._count_failed_shards(response)
        result = dict(response.get("aggregations") or {})
        result["total"] = response["hits"]["total"]["value"]
        return result

    async def _pages(
        self, query: dict[str, Any], order: Order, limit: int | None, without: Sequence[str]
    ) -> AsyncGenerator[list[LogEntry], None]:
        """The pages of one point in time, each asked for before the previous is handed out
        (at most two pages held at once)."""
        pit = await self._client.open_point_in_time(
            index=self._index, keep_alive=_KEEP_ALIVE, ignore_unavailable=True
        )
        pit_id: str = pit["id"]
        wanted = self._page_size if limit is None else min(self._page_size, limit)
        search = functools.partial(self._page, query=query, order=order, without=without)
        next_page: asyncio.Task[Any] | None = asyncio.create_task(search(pit_id, wanted, None))
        try:
            read = 0
            while next_page is not None:
                response, size = await next_page, wanted
                next_page = None
                pit_id = response.get("pit_id", pit_id)
                self._count_failed_shards(response)
                hits = response.get("hits", {}).get("hits", [])
                read += len(hits)
                more = len(hits) == size and (limit is None or read < limit)
                if more:
                    wanted = (
                        self._page_size if limit is None else min(self._page_size, limit - read)
                    )
                    next_page = asyncio.create_task(search(pit_id, wanted, hits[-1]["sort"]))
                if hits:
                    yield [hit["_source"] for hit in hits]
        finally:
            if next_page is not None:
                next_page.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await next_page
            # A point in time holds segments open on the cluster; do not wait for it to expire.
            try:
                await self._client.close_point_in_time(id=pit_id)
            except (ApiError, elastic_transport.TransportError):
                pass

    async def _page(
        self,
        pit_id: str,
        size: int,
        search_after: list[Any] | None,
        *,
        query: dict[str, Any],
        order: Order,
        without: Sequence[str],
    ) -> Any:
        return await self._client.search(
            pit={"id": pit_id, "keep_alive": _KEEP_ALIVE},
            query=query,
            sort=timeline_sort(order),
            size=size,
            search_after=search_after,
            track_total_hits=False,
            filter_path=_PAGE_FILTER,
            source_excludes=list(without) or None,
        )

    def _count_failed_shards(self, response: Any) -> None:
        # A shard that fails (e.g. a field mapped differently in one index) does not fail the
        # search: its events are just missing. Say so rather than show a partial trace silently.
        for failure in response.get("_shards", {}).get("failures", []) or []:
            reason = failure.get("reason", {})
            kind = reason.get("type", "error") if isinstance(reason, dict) else str(reason)
            self._failed_shards[kind] = self._failed_shards.get(kind, 0) + 1

    @asynccontextmanager
    async def _errors_explained(self) -> AsyncIterator[None]:
        where = f"Elasticsearch at {self._url}"
        try:
            yield
        except elastic_transport.ConnectionError as error:
            raise SourceUnavailable(f"cannot reach {where}: {_first_line(error)}") from None
        except elastic_transport.ConnectionTimeout:
            raise SourceUnavailable(f"{where} did not answer in time") from None
        except AuthenticationException:
            raise SourceUnavailable(
                f"{where} refused the credentials; check ELASTICSEARCH_USERNAME/PASSWORD/API_KEY"
            ) from None
        except AuthorizationException:
            raise SourceUnavailable(f"not allowed to read {self._index!r} on {where}") from None
        except NotFoundError as error:
            if _error_type(error) == "index_not_found_exception":
                raise NothingToRead(f"no index matches {self._index!r} on {where}") from None
            raise SourceUnavailable(f"{where}: {_reason(error)}") from None
        except ApiError as error:
            raise SourceUnavailable(f"{where} refused the query: {_reason(error)}") from None
        except elastic_transport.TransportError as error:
            raise SourceUnavailable(f"{where}: {_first_line(error)}") from None


def _first_line(error: Exception) -> str:
    # The transport's own message, without the "caused by" wrappers around it.
    text = str(getattr(error, "message", "") or error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _error_type(error: ApiError) -> str:
    body = error.body
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return str(body["error"].get("type", ""))
    return ""


def _reason(error: ApiError) -> str:
    body = error.body
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        details = body["error"]
        causes = details.get("root_cause") or [details]
        cause = causes[0] if isinstance(causes[0], dict) else details
        return f"{cause.get('type', 'error')}: {cause.get('reason', '')}".strip()
    return f"HTTP {error.status_code}"
