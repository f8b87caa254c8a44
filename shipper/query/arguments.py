"""The command line of ``jarvis-logs``: commands, options, defaults and help texts."""

from __future__ import annotations

import argparse
import os

from jarvis.command_line import OneLineErrorParser
from jarvis.version import version_text
from shipper.elastic import INDEX_PATTERN, URL_OPTION, URL_OPTION_ALIASES
from shipper.query.sources import DEFAULT_PAGE_SIZE

DEFAULT_LIMIT = 100
# Elasticsearch's own cap on one search's window (index.max_result_window).
MAX_LIMIT = 10_000
DEFAULT_STATS_WINDOW = "24h"


def build_parser(program: str) -> argparse.ArgumentParser:
    """The parser; a wrong argument makes it exit with status 2 and a one-line message."""
    parser = OneLineErrorParser(
        prog=program,
        description="Find what one request did, search the Jarvis logs, compute usage figures.",
        parents=[_common_options(after_command=False)],
    )
    parser.add_argument("--version", action="version", version=version_text(program))
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    trace = commands.add_parser(
        "trace",
        help="every event of one request (HTTP, or a whole WebSocket session), in order",
        description="Every event of one request, oldest first, with the gap between events.",
        parents=[_common_options(after_command=True), _source_options()],
    )
    trace.add_argument("request_id", metavar="REQUEST_ID", help="the X-Request-ID to follow")

    search = commands.add_parser(
        "search",
        help="the newest events matching filters, shown oldest first",
        description="The newest events matching every filter given, shown oldest first.",
        parents=[_common_options(after_command=True), _source_options()],
    )
    search.add_argument("--user", help="user_id equal to this")
    search.add_argument("--level", help="this level or more severe (e.g. WARNING)")
    search.add_argument("--logger", help="this logger and its children (e.g. jarvis.chat)")
    search.add_argument("--action", help="action equal to this (e.g. chat_error)")
    search.add_argument("--since", help="not before: a duration ago (30m, 1h, 2d) or ISO time")
    search.add_argument("--until", help="not after: a duration ago or an ISO time")
    search.add_argument("--text", help="words that must all appear in the message")
    search.add_argument(
        "--limit",
        type=int,
        default=DEFAULT_LIMIT,
        help=f"at most this many events, the newest (default {DEFAULT_LIMIT})",
    )

    stats = commands.add_parser(
        "stats",
        help="usage KPIs from Elasticsearch: messages/hour, users, errors, durations",
        description="Usage KPIs computed by Elasticsearch aggregations over a time window.",
        parents=[_common_options(after_command=True)],
    )
    stats.add_argument(
        "--since",
        default=DEFAULT_STATS_WINDOW,
        help=f"window start: a duration ago or an ISO time (default {DEFAULT_STATS_WINDOW})",
    )
    stats.add_argument("--until", help="window end (default now)")
    return parser


def _common_options(*, after_command: bool) -> OneLineErrorParser:
    """Options accepted before or after the command.

    After the command their defaults are suppressed, so that an option given before the
    command is not overwritten by the command's default.
    """
    options = OneLineErrorParser(add_help=False)

    def default(value: object) -> object:
        return argparse.SUPPRESS if after_command else value

    options.add_argument(
        URL_OPTION,
        dest="elasticsearch_url",
        metavar="URL",
        default=default(None),
        help="Elasticsearch URL (default $ELASTICSEARCH_URL)",
    )
    for alias in URL_OPTION_ALIASES:
        options.add_argument(
            alias, dest="elasticsearch_url", default=default(None), help=argparse.SUPPRESS
        )
    options.add_argument(
        "--index", default=default(INDEX_PATTERN), help=f"indices to read (default {INDEX_PATTERN})"
    )
    options.add_argument(
        "--json", action="store_true", default=default(False), help="print raw JSON"
    )
    options.add_argument(
        "--no-color", action="store_true", default=default(False), help="never use colour"
    )
    options.add_argument(
        "--no-pager", action="store_true", default=default(False), help="never use a pager"
    )
    return options


def _source_options() -> OneLineErrorParser:
    options = OneLineErrorParser(add_help=False)
    options.add_argument(
        "--source",
        choices=("es", "files"),
        default="es",
        help="read Elasticsearch (default) or the local log files",
    )
    default_path = (os.environ.get("LOG_FILE") or "logs/jarvis.jsonl") + "*"
    options.add_argument(
        "--path",
        default=default_path,
        help=f"with --source files: glob of the live file and its backups (default {default_path})",
    )
    options.add_argument(
        "--page-size",
        type=int,
        default=DEFAULT_PAGE_SIZE,
        help=f"events per Elasticsearch request (default {DEFAULT_PAGE_SIZE})",
    )
    return options
