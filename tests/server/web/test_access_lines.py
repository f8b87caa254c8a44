"""Access lines rendered from templates are the very lines orjson makes of their dicts."""

from __future__ import annotations

import orjson

from jarvis.logs.render import render_plain_json_line
from jarvis.metrics import Metrics
from jarvis.request_context import RequestFacts, TraceContext
from jarvis.web.access_lines import MAX_TEMPLATES
from jarvis.web.access_log import FinishedRequests, access_events
from jarvis.web.request_metrics import RequestSeries

TRACE = TraceContext("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7")


def finished(
    path: str = "/health",
    *,
    request_id: str | None = "6f1d0a3e-5b7c-4f7e-9d1a-2b3c4d5e6f70",
    trace: TraceContext | None = None,
    user_agent: str = "kube-probe/1.29",
    size: int | None = 15,
    status: int = 200,
    seconds: float = 0.000_412_3,
    client: str = "127.0.0.1",
) -> tuple:
    facts = RequestFacts(request_id, trace, client, "/health")
    return (1_795_781_977.018_780_7, "GET", path, status, seconds, size, user_agent, facts)


def lines_of_dicts(batch: list[tuple]) -> bytes:
    return b"".join(
        render_plain_json_line(event) for event in access_events("jarvis.access", batch)
    )


def test_a_batch_of_every_kind_of_line_renders_as_its_dicts_do():
    batch = [
        finished(),
        finished(),  # the same kind again: from the template kept
        finished(trace=TRACE),
        finished(request_id=None),  # aiohttp answered it before the middleware ran
        finished(size=None, status=101, seconds=0.0),
        finished('/a "quoted"\npath\\ with, commas', user_agent='ua"}\n{"forged":1'),
        finished("/café/日本", user_agent="\x00\x1f\u2028"),
        finished(seconds=12_345.678_9, client="2001:db8::1"),
        finished("/bad-\udcff-bytes", user_agent="agent-\udcfe"),  # not valid Unicode
    ]
    rendered = FinishedRequests(RequestSeries(Metrics.create()))._lines.render(batch)
    assert rendered == lines_of_dicts(batch)
    lines = rendered.splitlines()
    assert len(lines) == len(batch)
    assert orjson.loads(lines[5])["user_agent"] == 'ua"}\n{"forged":1'
    assert orjson.loads(lines[2])["trace_id"] == TRACE.trace_id
    assert "request_id" not in orjson.loads(lines[3])
    assert orjson.loads(lines[8])["path"] == "/bad-\\udcff-bytes", "odd bytes shown, not dropped"


def test_templates_kept_are_bounded_whatever_paths_clients_send():
    lines = FinishedRequests(RequestSeries(Metrics.create()))._lines
    for start in range(0, 3 * MAX_TEMPLATES, 500):
        batch = [finished(f"/random/{number}") for number in range(start, start + 500)]
        assert lines.render(batch) == lines_of_dicts(batch)
        assert lines.kinds_held <= MAX_TEMPLATES
