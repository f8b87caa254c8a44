"""The shipper's own logs: one JSON line per record on stderr, with extra fields and errors."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import orjson
import pytest

from shipper.own_logs import configure_logging


@pytest.fixture(autouse=True)
def restore_the_shipper_logger() -> Iterator[None]:
    logger = logging.getLogger("shipper")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    yield
    logger.handlers[:], logger.level, logger.propagate = saved


def test_a_record_is_one_json_line_with_its_extra_fields_and_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("info")
    log = logging.getLogger("shipper.test")
    log.debug("below the level")
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("it broke", extra={"path": "/logs/app.jsonl", "attempt": 2})
    output = capsys.readouterr().err
    (line,) = output.splitlines()
    assert output == line + "\n"
    entry = orjson.loads(line)
    assert isinstance(entry["timestamp"], float)
    assert (entry["level"], entry["logger"], entry["message"]) == (
        "ERROR",
        "shipper.test",
        "it broke",
    )
    assert (entry["path"], entry["attempt"]) == ("/logs/app.jsonl", 2)
    assert entry["exc_type"] == "ValueError" and "boom" in entry["traceback"]
