"""``jarvis-logs``: trace one request, search the logs, or compute usage figures.

Exit status: 0 with results, 1 when nothing matches, 2 when the arguments are wrong or the
source cannot be read. Errors are one line on stderr, never a traceback. Every argument is
checked before any source is touched.

A trace is printed as it is read, page after page, whatever its length; its summary comes
last. The Elasticsearch client is imported only by a command that reads Elasticsearch.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import AsyncGenerator, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson

from jarvis.logline import REQUEST_ID_RULE, is_valid_request_id
from shipper.elastic import ElasticsearchSettings
from shipper.query.arguments import MAX_LIMIT, build_parser
from shipper.query.durations import parse_time_bound
from shipper.query.file_source import FileEventSource
from shipper.query.filters import EventFilter, levels_at_least
from shipper.query.sources import (
    DEFAULT_PAGE_SIZE,
    EventSource,
    LogEntry,
    NothingToRead,
    SourceUnavailable,
)
from shipper.query.stats import StatsReport, build_report, stats_aggregations, stats_query
from shipper.query.stats_table import render_stats
from shipper.query.terminal import Output, wants_colour, wants_pager
from shipper.query.timeline import NOT_SHOWN, Summary, Timeline, render_timeline, safe_text

PROGRAM = "jarvis-logs"


class UsageError(Exception):
    """An argument that cannot be used; the message says which and why."""


class NothingMatched(Exception):
    """The source was read and holds no matching event."""


@dataclass(frozen=True)
class EventsWanted:
    """A ``trace`` (of ``request_id``) or a ``search`` (of the ``latest`` newest events)."""

    event_filter: EventFilter
    latest: int | None
    request_id: str | None


@dataclass(frozen=True)
class EventsFound:
    wanted: EventsWanted
    events: list[LogEntry]


@dataclass(frozen=True)
class StatsWanted:
    since: datetime
    until: datetime


def main(argv: Sequence[str] | None = None) -> int:
    """Runs one command and returns the exit status (0 found, 1 nothing found, 2 error)."""
    parser = build_parser(PROGRAM)
    args = parser.parse_args(argv)
    try:
        wanted = _wanted(args)
        settings = ElasticsearchSettings.from_env(url=args.elasticsearch_url)
    except (UsageError, ValueError) as error:
        parser.error(str(error))
    # The client's retry warnings would repeat, less clearly, the one-line error below.
    for name in ("elastic_transport", "elasticsearch"):
        logging.getLogger(name).addHandler(logging.NullHandler())
    notes: list[str] = []
    colour = wants_colour(sys.stdout, disabled=args.no_color, environ=os.environ)
    output = Output(page=wants_pager(sys.stdout, disabled=args.no_pager))
    try:
        if isinstance(wanted, EventsWanted) and wanted.request_id is not None:
            asyncio.run(_trace(wanted, args, settings, notes, output, colour))
        else:
            result = asyncio.run(_fetch(wanted, args, settings, notes))
            output.write(_lines(result, args.json, colour))
    except SourceUnavailable as error:
        return _fail(2, str(error), output)
    except (NothingToRead, NothingMatched) as error:
        return _fail(1, str(error), output)
    except KeyboardInterrupt:
        return 130
    except Exception as error:
        # Whatever went wrong, a user gets one line they can report, never a traceback.
        return _fail(2, f"unexpected error: {type(error).__name__}: {error}", output)
    finally:
        output.close()
        for note in notes:
            _tell(f"note: {note}")
    return 0


def _fail(status: int, message: str, output: Output) -> int:
    # After what was shown (a trace may fail halfway), so that the message is seen last.
    output.close()
    _tell(message)
    return status


def _tell(message: str) -> None:
    print(f"{PROGRAM}: {safe_text(message)}", file=sys.stderr)


def _wanted(args: argparse.Namespace) -> EventsWanted | StatsWanted:
    now = datetime.now(UTC)
    since_text, until_text = getattr(args, "since", None), getattr(args, "until", None)
    since = _time_bound(since_text, now, "--since") if since_text else None
    until = _time_bound(until_text, now, "--until") if until_text else None
    if since is not None and until is not None and since >= until:
        raise UsageError("--since must be earlier than --until")
    page_size = getattr(args, "page_size", DEFAULT_PAGE_SIZE)
    if not 1 <= page_size <= MAX_LIMIT:
        raise UsageError(f"--page-size must be between 1 and {MAX_LIMIT}")
    if args.command == "stats":
        assert since is not None  # --since has a default for stats
        return StatsWanted(since=since, until=until or now)
    if args.command == "trace":
        # Only IDs the server could have issued reach a query.
        if not is_valid_request_id(args.request_id):
            raise UsageError(
                f"{safe_text(repr(args.request_id))} is not a request ID ({REQUEST_ID_RULE})"
            )
        return EventsWanted(EventFilter(request_id=args.request_id), None, args.request_id)
    if not 1 <= args.limit <= MAX_LIMIT:
        raise UsageError(f"--limit must be between 1 and {MAX_LIMIT}")
    if args.text is not None and not args.text.strip():
        raise UsageError("--text needs at least one word")
    event_filter = EventFilter(
        user_id=args.user,
        levels=levels_at_least(args.level) if args.level else None,
        logger=args.logger,
        action=args.action,
        since=since,
        until=until,
        text=args.text,
    )
    return EventsWanted(event_filter, args.limit, None)


def _time_bound(text: str, now: datetime, option: str) -> datetime:
    try:
        return parse_time_bound(text, now)
    except ValueError as error:
        raise UsageError(f"{option}: {error}") from None


async def _fetch(
    wanted: EventsWanted | StatsWanted,
    args: argparse.Namespace,
    settings: ElasticsearchSettings,
    notes: list[str],
) -> EventsFound | StatsReport:
    """What the command asked for; what could not be read is added to ``notes``."""
    from shipper.query.es_source import ElasticsearchEventSource

    if isinstance(wanted, StatsWanted):
        async with ElasticsearchEventSource(settings, index=args.index) as elasticsearch:
            result = await elasticsearch.aggregate(
                stats_query(wanted.since, wanted.until),
                stats_aggregations(wanted.since, wanted.until),
            )
        notes.extend(elasticsearch.notes)
        if not result["total"]:
            raise NothingMatched(f"no events in that time window in {elasticsearch.place}")
        return build_report(result, wanted.since, wanted.until)
    source: EventSource
    if args.source == "files":
        source = FileEventSource(args.path)
        events = await source.find(wanted.event_filter, latest=wanted.latest)
    else:
        source = ElasticsearchEventSource(settings, index=args.index, page_size=args.page_size)
        async with source:
            events = await source.find(wanted.event_filter, latest=wanted.latest)
    notes.extend(source.notes)
    if not events:
        raise NothingMatched(f"no events match in {source.place}")
    return EventsFound(wanted, events)


async def _trace(
    wanted: EventsWanted,
    args: argparse.Namespace,
    settings: ElasticsearchSettings,
    notes: list[str],
    output: Output,
    colour: bool,
) -> None:
    """Print every event of the request as it is read, then the summary; what could not be
    read is added to ``notes``."""
    summary = Summary()
    timeline = Timeline(colour=colour)
    source: EventSource
    if args.source == "files":
        source = FileEventSource(args.path)
        await _print_pages(source.stream(wanted.event_filter), output, summary, timeline, args)
    else:
        from shipper.query.es_source import ElasticsearchEventSource

        source = ElasticsearchEventSource(settings, index=args.index, page_size=args.page_size)
        async with source:
            # A timeline never shows the shipper's bookkeeping: not even asked for.
            pages = source.stream(wanted.event_filter, without=() if args.json else NOT_SHOWN)
            await _print_pages(pages, output, summary, timeline, args)
    notes.extend(source.notes)
    if not summary.events:
        raise NothingMatched(f"no events for request ID {wanted.request_id} in {source.place}")
    if not args.json:
        output.write(summary.lines(colour=colour, title=f"Request {wanted.request_id}"))


async def _print_pages(
    pages: AsyncGenerator[list[LogEntry], None],
    output: Output,
    summary: Summary,
    timeline: Timeline,
    args: argparse.Namespace,
) -> None:
    async with contextlib.aclosing(pages):
        async for page in pages:
            summary.add(page)
            if args.json:
                output.write(orjson.dumps(event, default=str).decode() for event in page)
            else:
                output.write(timeline.lines(page))
            if output.gone:
                return


def _lines(result: EventsFound | StatsReport, as_json: bool, colour: bool) -> Iterator[str]:
    if isinstance(result, StatsReport):
        if as_json:
            yield orjson.dumps(result.as_json(), option=orjson.OPT_INDENT_2).decode()
        else:
            yield from render_stats(result, colour=colour)
        return
    if as_json:
        for event in result.events:
            yield orjson.dumps(event, default=str).decode()
        return
    yield from render_timeline(result.events, colour=colour, show_request_id=True)
