"""Build the Grafana dashboards of the Jarvis stack as JSON, from code (grafana-foundation-sdk).

Run ``python config/grafana/build_dashboards.py`` after editing this file and commit the JSON it
writes to ``config/grafana/dashboards/``; ``tests/ops/test_dashboards_built.py`` fails while the
committed JSON differs from what this produces or holds anything Grafana's dashboard model does
not know, and ``tests/ops/test_dashboards_live.py`` runs every query against a real Prometheus
scraping a real server.

The SDK's flavour (its version after the ``!``, pinned in setup.cfg) is the Grafana version
whose dashboard model it writes: the grafana image in docker/docker-compose.yml.

Queries use Grafana's ``$__rate_interval`` (rates) and ``$__range`` (the dashboard's time range).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from grafana_foundation_sdk.builders import common, prometheus, stat, timeseries
from grafana_foundation_sdk.builders import dashboard as builders
from grafana_foundation_sdk.cog.builder import Builder
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.cog.variants import Dataquery
from grafana_foundation_sdk.models.common import (
    BigValueColorMode,
    BigValueGraphMode,
    LegendDisplayMode,
    LegendPlacement,
    SortOrder,
    TooltipDisplayMode,
)
from grafana_foundation_sdk.models.dashboard import (
    Dashboard,
    DataSourceRef,
    GridPos,
    Threshold,
    ThresholdsMode,
    ValueMap,
    ValueMappingResult,
)

DASHBOARDS_DIR = Path(__file__).resolve().parent / "dashboards"
# The provisioned datasource (provisioning/datasources/prometheus.yml) has this fixed uid.
DATASOURCE = DataSourceRef(type_val="prometheus", uid="prometheus")
GRID_WIDTH = 24

Panel = timeseries.Panel | stat.Panel

UP_DOWN = [
    ValueMap(
        options={
            "0": ValueMappingResult(text="DOWN", color="red", index=0),
            "1": ValueMappingResult(text="UP", color="green", index=1),
        },
    )
]
# Grafana takes a threshold list's first step as the base colour, whatever its value (it
# reads it as -Infinity); 0 stands in for the null Grafana itself would write there.
RED_WHEN_BELOW_ONE = [Threshold(value=0, color="red"), Threshold(value=1, color="green")]
ALWAYS_GREEN = [Threshold(value=0, color="green")]


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""


def _targets(queries: Sequence[Query]) -> list[Builder[Dataquery]]:
    return [
        prometheus.Dataquery()
        .expr(q.expr)
        .legend_format(q.legend)
        .ref_id(chr(ord("A") + i))
        .datasource(DATASOURCE)
        for i, q in enumerate(queries)
    ]


def _thresholds(steps: list[Threshold]) -> builders.ThresholdsConfig:
    return builders.ThresholdsConfig().mode(ThresholdsMode.ABSOLUTE).steps(steps)


def graph(title: str, queries: Sequence[Query], unit: str, description: str = "") -> Panel:
    """A time series panel; its size and place are set by ``layout``."""
    panel = (
        timeseries.Panel()
        .title(title)
        .datasource(DATASOURCE)
        .targets(_targets(queries))
        .unit(unit)
        .thresholds(_thresholds(ALWAYS_GREEN))
        # Set, not left to Grafana's default: the model gives every time series panel a
        # custom field config, and a panel without one would not re-encode to itself.
        .fill_opacity(10)
        .legend(
            common.VizLegendOptions()
            .display_mode(LegendDisplayMode.TABLE)
            .placement(LegendPlacement.BOTTOM)
            .show_legend(True)
            .calcs(["lastNotNull", "max"])
        )
        .tooltip(common.VizTooltipOptions().mode(TooltipDisplayMode.MULTI).sort(SortOrder.NONE))
    )
    return panel.description(description) if description else panel


def stat_panel(
    title: str,
    query: Query,
    unit: str,
    description: str = "",
    mappings: list[ValueMap] | None = None,
    thresholds: list[Threshold] | None = None,
) -> Panel:
    """A single-value panel showing the query's last value."""
    panel = (
        stat.Panel()
        .title(title)
        .datasource(DATASOURCE)
        .targets(_targets([query]))
        .unit(unit)
        .no_value("No data")
        .reduce_options(common.ReduceDataOptions().calcs(["lastNotNull"]).values(False).fields(""))
        .color_mode(BigValueColorMode.VALUE)
        .graph_mode(BigValueGraphMode.AREA if mappings is None else BigValueGraphMode.NONE)
        .mappings(list(mappings or []))
        .thresholds(_thresholds(thresholds or ALWAYS_GREEN))
    )
    return panel.description(description) if description else panel


def quantiles(histogram: str, by: str = "", qs: Iterable[float] = (0.5, 0.95, 0.99)) -> list[Query]:
    """p50/p95/p99 (by default) of a histogram family over ``$__rate_interval``."""
    group = f"le, {by}" if by else "le"
    prefix = f"{{{{{by}}}}} " if by else ""
    return [
        Query(
            f"histogram_quantile({q}, sum by ({group}) "
            f"(rate({histogram}_bucket[$__rate_interval])))",
            f"{prefix}p{round(q * 100)}",
        )
        for q in qs
    ]


def per_minute(counter: str, by: str, legend: str) -> Query:
    """A counter's rate per minute, summed by the ``by`` labels."""
    return Query(f"sum by ({by}) (rate({counter}[$__rate_interval])) * 60", legend)


def layout(rows: Sequence[Sequence[Panel]], heights: Sequence[int]) -> list[Panel]:
    """Place each row's panels side by side at equal width, rows stacked top to bottom, and
    number them in reading order."""
    placed: list[Panel] = []
    y = 0
    for row, height in zip(rows, heights, strict=True):
        width = GRID_WIDTH // len(row)
        for i, panel in enumerate(row):
            placed.append(panel.grid_pos(GridPos(h=height, w=width, x=i * width, y=y)))
        y += height
    return [panel.id(number) for number, panel in enumerate(placed, start=1)]


def dashboard(uid: str, title: str, description: str, rows: Sequence[Sequence[Panel]]) -> Dashboard:
    heights = [4 if all(isinstance(p, stat.Panel) for p in row) else 8 for row in rows]
    built = (
        builders.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(["jarvis"])
        .timezone("browser")
        .refresh("30s")
        .time("now-6h", "now")
    )
    for panel in layout(rows, heights):
        built = built.with_panel(panel)
    return built.build()


def websocket() -> Dashboard:
    success_rate = Query(
        'sum(increase(ws_connections_total{status="accepted"}[$__range]))'
        ' / sum(increase(ws_connections_total{status=~"accepted|rejected"}[$__range]))'
    )
    return dashboard(
        "jarvis-websocket",
        "Jarvis / WebSocket",
        "Real-time WebSocket sessions: load, handshake success and message latency.",
        [
            [
                stat_panel("Active connections", Query("sum(ws_active_connections)"), "none"),
                stat_panel(
                    "Connection success rate",
                    success_rate,
                    "percentunit",
                    "Upgrades accepted among all attempts over the time range.",
                ),
                stat_panel(
                    "Message latency p95",
                    quantiles("ws_message_seconds", qs=[0.95])[0],
                    "s",
                ),
            ],
            [
                graph(
                    "Active connections",
                    [Query("sum by (instance) (ws_active_connections)", "{{instance}}")],
                    "none",
                    "Alert JarvisWebSocketOverload fires above 1000 on one instance.",
                ),
                graph(
                    "Connection events per minute",
                    [per_minute("ws_connections_total", "status", "{{status}}")],
                    "none",
                    "accepted/rejected handshakes, closed sessions, transport errors.",
                ),
            ],
            [
                graph(
                    "Message latency (frame in to done frame out)",
                    quantiles("ws_message_seconds"),
                    "s",
                ),
                graph(
                    "Messages per minute",
                    [
                        per_minute(
                            "ws_messages_total", "direction, status", "{{direction}} {{status}}"
                        )
                    ],
                    "none",
                ),
            ],
        ],
    )


def chat_llm() -> Dashboard:
    requests = "sum(rate(chat_requests_total[$__rate_interval]))"
    return dashboard(
        "jarvis-chat-llm",
        "Jarvis / Chat & LLM",
        "Chat traffic over HTTP and WebSocket, LLM latency and errors by pipeline stage.",
        [
            [
                stat_panel("Chat requests per minute", Query(f"{requests} * 60"), "none"),
                stat_panel(
                    "Error ratio",
                    Query(
                        'sum(rate(chat_requests_total{status="error"}[$__rate_interval]))'
                        f" / {requests}"
                    ),
                    "percentunit",
                ),
                stat_panel("LLM p95", quantiles("llm_generate_seconds", qs=[0.95])[0], "s"),
                stat_panel("LLM p99", quantiles("llm_generate_seconds", qs=[0.99])[0], "s"),
            ],
            [
                graph(
                    "Chat requests per minute",
                    [per_minute("chat_requests_total", "status", "{{status}}")],
                    "none",
                ),
                graph(
                    "LLM generation time",
                    quantiles("llm_generate_seconds"),
                    "s",
                    "Alert JarvisLlmSlow fires when p95 stays above 10 s.",
                ),
            ],
            [
                graph(
                    "Chat errors per minute by stage",
                    [per_minute("chat_errors_total", "stage", "{{stage}}")],
                    "none",
                    "Alert JarvisChatErrors fires above 5/min. llm: Ollama; memory: SQLite; "
                    "parse/validation/body_too_large: client input.",
                ),
                graph(
                    "HTTP request duration p95 by route",
                    quantiles("http_request_duration_seconds", by="route", qs=[0.95]),
                    "s",
                ),
            ],
            [
                graph(
                    "Memory operations per minute",
                    [
                        per_minute(
                            "memory_operations_total",
                            "operation, status",
                            "{{operation}} {{status}}",
                        )
                    ],
                    "none",
                ),
            ],
        ],
    )


def services() -> Dashboard:
    lag_p99, lag_worst = quantiles("event_loop_lag_seconds", by="instance", qs=(0.99, 1))
    return dashboard(
        "jarvis-services",
        "Jarvis / Services",
        "Health of the server's dependencies, their response times, rate limiting.",
        [
            [
                stat_panel(
                    "Dependency health",
                    Query("max by (service) (service_health_status)", "{{service}}"),
                    "none",
                    "Result of the server's background probes (Ollama, memory, log sink).",
                    mappings=UP_DOWN,
                    thresholds=RED_WHEN_BELOW_ONE,
                ),
                stat_panel(
                    "Scrape targets",
                    Query('up{job=~"jarvis-api|jarvis-shipper"}', "{{job}} {{instance}}"),
                    "none",
                    mappings=UP_DOWN,
                    thresholds=RED_WHEN_BELOW_ONE,
                ),
            ],
            [
                graph(
                    "Dependency probe time p95",
                    quantiles("service_response_seconds", by="service", qs=[0.95]),
                    "s",
                ),
                graph(
                    "Rate-limited requests per minute",
                    [
                        per_minute(
                            "rate_limit_hits_total",
                            "endpoint, client_type",
                            "{{endpoint}} by {{client_type}}",
                        )
                    ],
                    "none",
                    "Alert JarvisRateLimitFlood fires above 100/min.",
                ),
            ],
            [
                graph(
                    "HTTP responses per minute by status",
                    [per_minute("http_requests_total", "status", "{{status}}")],
                    "none",
                ),
                graph(
                    "Log lines dropped per minute",
                    [per_minute("log_lines_dropped_total", "reason", "{{reason}}")],
                    "none",
                    "Lines the server could not log: queue_full (the writer thread fell behind), "
                    "write_error (the log file refused them: disk full or failing). "
                    "The log sink turns down on /health meanwhile.",
                ),
            ],
            [
                graph(
                    "Event loop lag",
                    # The quantile 1 is the upper bound of the highest bucket any sample
                    # reached: the worst lag of the window, to a bucket's precision.
                    [lag_p99, Query(lag_worst.expr, "{{instance}} max")],
                    "s",
                    "How late the server's event loop runs its timers: every request on a "
                    "replica waits this long on top of its own work. Blocking code on the "
                    "loop (sync disk or network I/O) shows here first.",
                ),
                graph(
                    "Chats let through without a rate-limit check per minute",
                    [
                        Query(
                            "sum(rate(rate_limit_backend_errors_total[$__rate_interval])) * 60",
                            "unchecked",
                        )
                    ],
                    "none",
                    "The rate-limit buckets (Redis) could not be reached, so limits failed "
                    "open. Alert JarvisRedisDown names the cause.",
                ),
            ],
        ],
    )


def business() -> Dashboard:
    messages_per_hour = Query(
        'sum(rate(chat_requests_total{status="success"}[1h])) * 3600', "messages/hour"
    )
    mean_llm = Query(
        "sum(rate(llm_generate_seconds_sum[1h])) / sum(rate(llm_generate_seconds_count[1h]))",
        "mean",
    )
    availability = Query(
        "avg by (service) (avg_over_time(service_health_status[$__range]))", "{{service}}"
    )
    return dashboard(
        "jarvis-business",
        "Jarvis / Business KPIs",
        "Messages handled, concurrent users, LLM time and service availability.",
        [
            [
                stat_panel("Messages processed per hour", messages_per_hour, "none"),
                stat_panel("Active WebSocket users", Query("sum(ws_active_connections)"), "none"),
                stat_panel("Mean LLM response time (1h)", mean_llm, "s"),
                stat_panel(
                    "Service availability",
                    availability,
                    "percentunit",
                    "Share of probes that found each dependency healthy over the time range.",
                ),
            ],
            [
                graph("Messages processed per hour", [messages_per_hour], "none"),
                graph(
                    "Chat errors per hour by stage",
                    [Query("sum by (stage) (increase(chat_errors_total[1h]))", "{{stage}}")],
                    "none",
                ),
            ],
            [
                graph("Mean LLM response time (1h window)", [mean_llm], "s"),
                graph(
                    "Active WebSocket users", [Query("sum(ws_active_connections)", "users")], "none"
                ),
            ],
        ],
    )


def shipper() -> Dashboard:
    def per_second(counter: str, legend: str) -> Query:
        return Query(f"sum(rate({counter}[$__rate_interval]))", legend)

    return dashboard(
        "jarvis-shipper",
        "Jarvis / Log shipper",
        "jarvis-shipper: events from the JSONL files to Elasticsearch, backlog and failures.",
        [
            [
                stat_panel(
                    "Elasticsearch reachable",
                    Query("min(shipper_elasticsearch_up)"),
                    "none",
                    mappings=UP_DOWN,
                    thresholds=RED_WHEN_BELOW_ONE,
                ),
                stat_panel("Oldest unshipped event", Query("max(shipper_lag_seconds)"), "s"),
                stat_panel("Unshipped bytes", Query("sum(shipper_lag_bytes)"), "bytes"),
                stat_panel(
                    "Dead-lettered events",
                    Query("sum(increase(shipper_events_dead_lettered_total[$__range]))"),
                    "none",
                    "Events Elasticsearch refused for good over the time range.",
                ),
                stat_panel(
                    "Rotated files held back", Query("sum(shipper_files_held_back)"), "none"
                ),
            ],
            [
                graph(
                    "Events per second",
                    [
                        per_second("shipper_events_read_total", "read"),
                        per_second("shipper_events_shipped_total", "shipped"),
                        per_second("shipper_events_retried_total", "retried"),
                        per_second("shipper_events_dead_lettered_total", "dead-lettered"),
                    ],
                    "none",
                ),
                graph(
                    "Bytes per second",
                    [
                        per_second("shipper_bytes_read_total", "read"),
                        per_second("shipper_bytes_shipped_total", "shipped"),
                    ],
                    "Bps",
                ),
            ],
            [
                graph(
                    "Backlog",
                    [
                        Query("sum by (instance) (shipper_lag_bytes)", "{{instance}} bytes"),
                        Query("sum by (instance) (shipper_queue_events)", "{{instance}} queued"),
                    ],
                    "none",
                    "Alert ShipperLagGrowing fires when unshipped bytes keep growing.",
                ),
                graph(
                    "Oldest unshipped event",
                    [Query("max by (instance) (shipper_lag_seconds)", "{{instance}}")],
                    "s",
                ),
            ],
            [
                graph("Bulk request time", quantiles("shipper_bulk_seconds", qs=(0.5, 0.95)), "s"),
                graph(
                    "Bulk requests per minute by outcome",
                    [per_minute("shipper_bulk_requests_total", "outcome", "{{outcome}}")],
                    "none",
                ),
            ],
            [
                graph(
                    "Files rotated per hour",
                    [Query("sum(increase(shipper_files_rotated_total[1h]))", "rotated")],
                    "none",
                ),
                graph(
                    "Rotated files held back",
                    [Query("sum by (instance) (shipper_files_held_back)", "{{instance}}")],
                    "none",
                    "Alert ShipperFilesHeldBack fires after 15 minutes above 0.",
                ),
            ],
            [
                graph(
                    "Disk errors per minute by target",
                    [per_minute("shipper_disk_errors_total", "target", "{{target}}")],
                    "none",
                    "Failed writes of the registry, a compressed backup or the dead-letter "
                    "file; /health names the path. Alert ShipperDiskErrors fires after 2 "
                    "minutes of errors.",
                ),
            ],
        ],
    )


DASHBOARDS = {
    "websocket": websocket,
    "chat-llm": chat_llm,
    "services": services,
    "business-kpis": business,
    "shipper": shipper,
}


def render(build: Dashboard) -> str:
    """The dashboard as Grafana JSON, byte-for-byte stable across runs."""
    return json.dumps(build, cls=JSONEncoder, sort_keys=True, indent=2) + "\n"


def rendered() -> dict[str, str]:
    """File name -> JSON text of every dashboard."""
    return {f"{name}.json": render(build()) for name, build in DASHBOARDS.items()}


def main(argv: Sequence[str] = ()) -> int:
    target = Path(argv[0]) if argv else DASHBOARDS_DIR
    target.mkdir(parents=True, exist_ok=True)
    for file_name, text in rendered().items():
        (target / file_name).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
