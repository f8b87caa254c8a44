"""DirectLogger: the lines written every chat skip the record machinery when one JSON writer
alone would get them, and are then the very lines logging would have written."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator

import pytest
from support.jarvis_server import read_json_lines

from jarvis.logs.handler import DirectLogger, JsonLogHandler, sole_json_writer
from jarvis.logs.writer import LogWriter
from jarvis.request_context import RequestFacts, TraceContext, current_request

FIELDS = {"action": "chat_success", "user_id": "ann", "response_length": 12, "llm_seconds": 0.5}


@pytest.fixture
def logged(tmp_path) -> Iterator[tuple[logging.Logger, LogWriter]]:
    """A logger whose records reach one JSON writer alone, as under ``jarvis serve``."""
    writer = LogWriter(str(tmp_path / "jarvis.jsonl"), stdout=None).start()
    logger = logging.getLogger("test.direct")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    handler = JsonLogHandler(writer)
    logger.addHandler(handler)
    try:
        yield logger, writer
    finally:
        logger.handlers.clear()
        writer.stop()


def log_both_ways(logger: logging.Logger, direct: DirectLogger) -> None:
    # pytest's log capture attaches its handlers during the test: without them, as under
    # ``jarvis serve``, the JSON handler alone gets the records.
    captured = [h for h in logger.handlers if not isinstance(h, JsonLogHandler)]
    for handler in captured:
        logger.removeHandler(handler)
    try:
        assert sole_json_writer(logger) is not None
        logger.info("chat success", extra=FIELDS)
        direct.info("chat success", FIELDS)
    finally:
        for handler in captured:
            logger.addHandler(handler)


def without_time(line: dict) -> dict:
    return {key: value for key, value in line.items() if key != "timestamp"}


@pytest.mark.parametrize(
    "context",
    [
        None,
        RequestFacts("req-1", None, "127.0.0.1", "/chat"),
        RequestFacts("req-2", TraceContext("ab" * 16, "cd" * 8), "127.0.0.1", "/chat"),
    ],
)
def test_a_direct_line_is_the_line_logging_writes(logged, tmp_path, context):
    """Same fields, same order, same values, the same code named: only the time differs."""
    logger, writer = logged
    direct = DirectLogger("test.direct")
    token = current_request.set(context)
    try:
        log_both_ways(logger, direct)
    finally:
        current_request.reset(token)
    writer.stop()
    through_logging, straight = read_json_lines(tmp_path / "jarvis.jsonl")
    assert list(straight) == list(through_logging)
    assert without_time(straight) == {
        **without_time(through_logging),
        "line": through_logging["line"] + 1,
    }
    assert straight.get("request_id") == (context and context.request_id)
    assert straight["module"] == "test_direct_logger"
    assert straight["function"] == "log_both_ways"
    assert isinstance(straight["timestamp"], float)


def test_with_another_handler_direct_lines_go_through_logging(logged):
    logger, _ = logged
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    logger.addHandler(Keep())
    DirectLogger("test.direct").warning("refused", {"stage": "parse", "user_id": None})
    [record] = records
    assert (record.levelname, record.getMessage()) == ("WARNING", "refused")
    assert (record.stage, record.user_id) == ("parse", None)  # type: ignore[attr-defined]
    assert record.module == "test_direct_logger"
    assert record.funcName == "test_with_another_handler_direct_lines_go_through_logging"


def test_levels_below_the_loggers_are_not_written(logged, tmp_path):
    logger, writer = logged
    logger.setLevel(logging.INFO)
    DirectLogger("test.direct").debug("websocket message", {"direction": "in"})
    writer.stop()
    assert read_json_lines(tmp_path / "jarvis.jsonl") == []


def test_a_filter_on_the_logger_sends_lines_through_logging(logged):
    logger, _ = logged
    seen: list[str] = []

    def keep_none(record: logging.LogRecord) -> bool:
        seen.append(record.getMessage())
        return False

    logger.addFilter(keep_none)
    try:
        DirectLogger("test.direct").info("chat request", {"user_id": "ann"})
    finally:
        logger.removeFilter(keep_none)
    assert seen == ["chat request"]


def test_each_call_site_names_its_own_line_every_time(logged, tmp_path):
    """What a call site is (module, function, line) is worked out once and kept: two calls
    in one function, each made twice, still name their own lines."""
    logger, writer = logged
    direct = DirectLogger("test.direct")
    captured = [h for h in logger.handlers if not isinstance(h, JsonLogHandler)]
    for handler in captured:
        logger.removeHandler(handler)
    first_line = sys._getframe().f_lineno + 3
    try:
        for _ in range(2):
            direct.info("first", FIELDS)
            direct.info("second", FIELDS)
    finally:
        for handler in captured:
            logger.addHandler(handler)
    writer.stop()
    lines = read_json_lines(tmp_path / "jarvis.jsonl")
    assert [(line["message"], line["line"]) for line in lines] == [
        ("first", first_line),
        ("second", first_line + 1),
    ] * 2
    assert {line["function"] for line in lines} == {
        "test_each_call_site_names_its_own_line_every_time"
    }
