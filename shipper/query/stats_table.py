"""A :class:`StatsReport` rendered as plain-text tables for a terminal."""

from __future__ import annotations

from collections.abc import Iterator

from jarvis.logline import Action
from shipper.query.stats import StatsReport
from shipper.query.timeline import Painter, safe_text

_BOLD = "\x1b[1m"
_DIM = "\x1b[2m"
_BAR_WIDTH = 40
# Past two days of hours, empty hours would drown the busy ones.
_MAX_HOURS_WITH_EMPTY = 48
_FIGURE_COLUMNS = frozenset({"errors", "rate", "requests", "mean", "p95"})


def render_stats(report: StatsReport, *, colour: bool) -> Iterator[str]:
    """The report's figures as headed sections, one table each."""
    paint = Painter(colour)
    yield paint(f"Jarvis usage {report.since} → {report.until}", _BOLD) + (
        f"  ({report.events} events, {report.chat_requests} chat requests, "
        f"{report.chat_errors} chat errors)"
    )
    yield ""
    yield paint(f"Messages per hour ({Action.CHAT_REQUEST})", _BOLD)
    hours = report.messages_per_hour
    if len(hours) > _MAX_HOURS_WITH_EMPTY:
        hours = [hour for hour in hours if hour.messages]
    busiest = max((hour.messages for hour in hours), default=0)
    for hour in hours:
        bar = "█" * round(_BAR_WIDTH * hour.messages / busiest) if busiest else ""
        yield f"  {hour.hour}  {hour.messages:>7}  {bar}".rstrip()
    yield ""
    transports = sorted(report.active_users_by_transport.items())
    by_transport = ", ".join(f"{safe_text(name)} {count}" for name, count in transports)
    yield (
        paint("Active users: ", _BOLD)
        + str(report.active_users)
        + (f"  (chatting over {by_transport})" if by_transport else "")
    )
    yield paint("LLM response time: ", _BOLD) + (
        f"mean {_number(report.llm_mean_seconds, 's')}, p95 {_number(report.llm_p95_seconds, 's')}"
    )
    yield ""
    yield paint(f"Error rate by stage ({Action.CHAT_ERROR} / {Action.CHAT_REQUEST})", _BOLD)
    yield from _table(
        ("stage", "errors", "rate"),
        [
            (
                safe_text(stage.stage),
                str(stage.errors),
                f"{stage.rate:.2%}" if stage.rate is not None else "n/a",
            )
            for stage in report.error_rate_by_stage
        ],
        paint,
    )
    yield ""
    yield paint(f"Top errors per user ({Action.CHAT_ERROR})", _BOLD)
    yield from _table(
        ("user", "errors", "most frequent"),
        [
            (
                safe_text(user.user_id),
                str(user.errors),
                ", ".join(f"{safe_text(error)} ×{count}" for error, count in user.top),
            )
            for user in report.top_errors_per_user
        ],
        paint,
    )
    yield ""
    yield paint(f"Request duration per endpoint ({Action.HTTP_ACCESS})", _BOLD)
    yield from _table(
        ("route", "requests", "mean", "p95"),
        [
            (
                safe_text(route.route),
                str(route.requests),
                _number(route.mean_ms, "ms"),
                _number(route.p95_ms, "ms"),
            )
            for route in report.duration_by_route
        ],
        paint,
    )


def _is_figure(column: str) -> bool:
    return column in _FIGURE_COLUMNS


def _number(value: float | None, unit: str) -> str:
    return "n/a" if value is None else f"{value:.3f} {unit}"


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]], paint: Painter) -> Iterator[str]:
    """Columns of figures aligned right, text columns left."""
    if not rows:
        yield paint("  (none)", _DIM)
        return
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: tuple[str, ...]) -> str:
        aligned = [
            cell.ljust(width) if index == 0 or not _is_figure(header[index]) else cell.rjust(width)
            for index, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  " + "  ".join(aligned).rstrip()

    yield paint(line(header), _DIM)
    for row in rows:
        yield line(row)
