"""Access lines rendered from templates are the very lines orjson makes of their dicts."""

from __future__ import annotations

import orjson

from jarvis.logs.render import render_plain_json_line
from jarvis.metrics import Metrics
from jarvis.request_context import RequestFacts, TraceContext
from jarvis.web.access_lines import MAX_SENDERS, MAX_TEMPLATES, AccessLineTemplates
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
        # What separates two texts in the batch's list, inside one of them.
        finished(user_agent='a","b', client='","'),
        finished(user_agent="", client=""),
        finished(user_agent='\\","\\', trace=TRACE),
        finished("/bad-\udcff-bytes"),  # a path that is not valid Unicode
    ]
    rendered = lines().render(batch)
    assert rendered == lines_of_dicts(batch)
    decoded = [orjson.loads(line) for line in rendered.splitlines()]
    assert len(decoded) == len(batch)
    assert decoded[5]["user_agent"] == 'ua"}\n{"forged":1'
    assert decoded[2]["trace_id"] == TRACE.trace_id
    assert "request_id" not in decoded[3]
    assert (decoded[8]["client"], decoded[8]["user_agent"]) == ('","', 'a","b')
    assert decoded[11]["path"] == "/bad-\\udcff-bytes", "odd bytes shown, not dropped"


def test_a_batch_holding_a_user_agent_that_is_not_valid_unicode_renders_as_its_dicts_do():
    batch = [finished(), finished(user_agent="agent-\udcfe"), finished(trace=TRACE)]
    rendered = lines().render(batch)
    assert rendered == lines_of_dicts(batch)
    assert orjson.loads(rendered.splitlines()[1])["user_agent"] == "agent-\\udcfe"


def test_templates_kept_are_bounded_whatever_paths_clients_send():
    templates = lines()
    for start in range(0, 3 * MAX_TEMPLATES, 500):
        batch = [finished(f"/random/{number}") for number in range(start, start + 500)]
        assert templates.render(batch) == lines_of_dicts(batch)
        assert templates.kinds_held <= MAX_TEMPLATES


def test_senders_kept_are_bounded_whatever_clients_and_user_agents_come():
    templates = lines()
    for start in range(0, 3 * MAX_SENDERS, 1000):
        batch = [
            finished(user_agent=f"agent/{number}", client=f"10.0.{number // 256}.{number % 256}")
            for number in range(start, start + 1000)
        ]
        assert templates.render(batch) == lines_of_dicts(batch)
        assert templates.senders_held <= MAX_SENDERS


def lines() -> AccessLineTemplates:
    """The templates the access log renders its lines with."""
    return FinishedRequests(RequestSeries(Metrics.create()))._lines
