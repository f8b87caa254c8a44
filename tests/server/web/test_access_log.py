"""One JSON access-log line per HTTP request, wired by create_app itself."""

from __future__ import annotations

import asyncio
import logging

import aiohttp
from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from support.jarvis_server import read_json_lines, sample

from jarvis.logs.handler import JsonLogHandler
from jarvis.logs.writer import LogWriter
from jarvis.metrics import Metrics
from jarvis.metrics_exposition import render_text
from jarvis.request_context import RequestFacts, current_request
from jarvis.web.access_log import FinishedRequests
from jarvis.web.request_metrics import RequestSeries


async def test_the_access_log_has_method_path_status_duration_bytes_and_client(jarvis_server):
    """The server runs under a runner given no logging arguments: create_app wires the log."""
    server = await jarvis_server()
    async with server.session.get(
        server.url + "/health?probe=1", headers={"User-Agent": "kube-probe/1.29"}
    ) as response:
        body = await response.read()
    access = await server.wait_for_log(lambda line: line.get("action") == "http_access")
    assert access["logger"] == "jarvis.access"
    assert access["method"] == "GET"
    assert access["path"] == "/health"
    assert access["route"] == "/health"
    assert access["status"] == 200
    assert access["duration_ms"] > 0
    assert access["bytes"] == len(body)
    assert access["client"] == "127.0.0.1"
    assert access["user_agent"] == "kube-probe/1.29"
    assert access["request_id"] == response.headers["X-Request-ID"]


# The fields of every line, then the access line's own, in the order logging gives them.
ACCESS_LINE_FIELDS = [
    "timestamp",
    "level",
    "logger",
    "message",
    "request_id",
    "module",
    "function",
    "line",
    "action",
    "method",
    "path",
    "route",
    "status",
    "duration_ms",
    "bytes",
    "client",
    "user_agent",
    "trace_id",
    "span_id",
]
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


async def test_the_access_line_has_the_fields_of_every_line_in_the_usual_order(jarvis_server):
    """Written straight to the log writer, it reads as if logging had written it."""
    server = await jarvis_server()
    async with server.session.get(
        server.url + "/nowhere", headers={"traceparent": TRACEPARENT}
    ) as response:
        assert response.status == 404
    access = await server.wait_for_log(lambda line: line.get("action") == "http_access")
    assert list(access) == ACCESS_LINE_FIELDS
    assert access["level"] == "INFO"
    assert access["message"] == "GET /nowhere 404"
    assert access["module"] == "access_log" and access["function"] == "log"
    assert access["route"] == "unmatched"


async def test_with_another_handler_on_the_root_logger_access_lines_go_through_logging(
    jarvis_server,
):
    """A console handler, a test's handler: every handler gets the access line, as before."""
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    server = await jarvis_server()
    keep = Keep(logging.INFO)
    logging.getLogger().addHandler(keep)
    try:
        # A new connection: aiohttp's access logger looks at the handlers once per connection.
        async with aiohttp.ClientSession() as session:
            async with session.get(server.url + "/health") as response:
                request_id = response.headers["X-Request-ID"]
        access = await server.wait_for_log(lambda line: line.get("request_id") == request_id)
    finally:
        logging.getLogger().removeHandler(keep)
    kept = [record for record in records if getattr(record, "action", None) == "http_access"]
    assert len(kept) == 1
    assert kept[0].getMessage() == "GET /health 200"
    assert kept[0].request_id == request_id  # type: ignore[attr-defined]
    assert list(access) == ACCESS_LINE_FIELDS[:-2]
    assert access["path"] == "/health"
    direct = await _an_access_line(server)
    assert (access["module"], access["function"], access["line"]) == (
        direct["module"],
        direct["function"],
        direct["line"],
    ), "both ways name the same code"


async def _an_access_line(server) -> dict:
    async with aiohttp.ClientSession() as session:
        async with session.get(server.url + "/health") as response:
            request_id = response.headers["X-Request-ID"]
    return await server.wait_for_log(lambda line: line.get("request_id") == request_id)


async def test_requests_finished_together_each_get_one_line_with_their_own_id(jarvis_server):
    """Lines are made in batches, at the end of the loop iteration that finished their
    requests: a batch never mixes up, repeats or loses a request, nor lends one's ID to
    another."""
    server = await jarvis_server()

    async def get(number: int) -> str:
        request_id = f"batch-{number}"
        async with server.session.get(
            server.url + f"/health?n={number}", headers={"X-Request-ID": request_id}
        ) as response:
            assert response.headers["X-Request-ID"] == request_id
        return request_id

    sent = await asyncio.gather(*(get(number) for number in range(200)))
    await server.wait_for_log(lambda line: line.get("request_id") == sent[-1])
    for request_id in sent:
        await server.wait_for_log(
            lambda line, request_id=request_id: line.get("request_id") == request_id
        )
    lines = [line for line in server.logs() if line.get("action") == "http_access"]
    assert sorted(line["request_id"] for line in lines) == sorted(sent)
    assert all(line["route"] == "/health" and line["status"] == 200 for line in lines)
    text = await server.metrics_text()
    assert sample(text, "http_requests_total", method="GET", route="/health", status="200") == 200


async def test_the_last_iterations_lines_are_made_at_cleanup_once_not_twice(tmp_path):
    """The loop may stop before running the call that makes an iteration's lines: cleanup
    makes them, and that call, if it runs after all, makes none again."""
    writer = LogWriter(str(tmp_path / "jarvis.jsonl"), stdout=None).start()
    logger = logging.getLogger("test.finished_requests")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(JsonLogHandler(writer))
    metrics = Metrics.create()
    finished = FinishedRequests(RequestSeries(metrics), logger)
    try:
        request = make_mocked_request("GET", "/health", headers={"User-Agent": "probe"})
        served = current_request.set(RequestFacts("cleanup-1", None, "127.0.0.1", "/health"))
        finished.add(request, web.json_response({"ok": True}), 0.002)
        current_request.reset(served)
        await finished.on_cleanup(None)  # the loop has had no turn since
        writer.stop()
        made_at_cleanup = read_json_lines(tmp_path / "jarvis.jsonl")
        await asyncio.sleep(0)  # the scheduled call runs after all: nothing is left for it
    finally:
        writer.stop()
        logger.handlers.clear()
    assert [
        (line["request_id"], line["route"], line["user_agent"]) for line in made_at_cleanup
    ] == [("cleanup-1", "/health", "probe")]
    assert read_json_lines(tmp_path / "jarvis.jsonl") == made_at_cleanup
    text = (await render_text(metrics.registry)).decode()
    assert sample(text, "http_requests_total", method="GET", route="/health", status="200") == 1


async def test_an_iterations_lines_count_one_by_one_against_the_log_queue(tmp_path):
    """Handed to the writer as one piece, a batch's lines still take their room in the queue
    line by line: those beyond it are dropped and counted, and once drained the queue has its
    whole room again."""
    writer = LogWriter(str(tmp_path / "jarvis.jsonl"), stdout=None, queue_size=3)
    writer._thread_running = True  # as started, but nothing drains the queue yet
    logger = logging.getLogger("test.finished_requests.queue")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(JsonLogHandler(writer))
    finished = FinishedRequests(RequestSeries(Metrics.create()), logger)
    try:
        for number in range(5):
            request = make_mocked_request("GET", f"/health?n={number}")
            facts = RequestFacts(f"q-{number}", None, "127.0.0.1", "/health")
            served = current_request.set(facts)
            finished.add(request, web.json_response({"ok": True}), 0.001)
            current_request.reset(served)
        finished.log()
        assert writer.lines_dropped == {"queue_full": 2, "write_error": 0}
        writer._thread_running = False
        writer.start()
        writer.stop()
    finally:
        logger.handlers.clear()
    assert [line["request_id"] for line in read_json_lines(tmp_path / "jarvis.jsonl")] == [
        "q-0",
        "q-1",
        "q-2",
    ]
    assert writer._queued_lines() == 0
