"""The background writer: whole lines, nothing lost at stop, a rotated file followed, a
full queue that drops lines (and says so) rather than blocking the server, and a full disk
that costs lines, never their shape."""

from __future__ import annotations

import errno
import logging
import os
import time
from collections.abc import Callable

import orjson
import pytest
from support.jarvis_server import read_json_lines
from support.small_disk import SmallDisk

from jarvis.logs.handler import JsonLogHandler
from jarvis.logs.writer import LogWriter
from jarvis.web.keys import HEALTH


def test_the_writer_reopens_the_file_when_it_is_moved_and_splits_no_line(tmp_path):
    """The shipper rotates by renaming; each line lands whole in the old or the new file."""
    path = tmp_path / "jarvis.jsonl"
    writer = LogWriter(str(path), stdout=None).start()
    logger = logging.getLogger("test.rotation")
    logger.propagate = False
    logger.addHandler(JsonLogHandler(writer))
    logger.setLevel(logging.INFO)
    try:
        for i in range(2000):
            logger.info("line", extra={"n": i})
            if i == 1000:
                os.rename(path, tmp_path / "jarvis.jsonl.1")
    finally:
        writer.stop()
        logger.handlers.clear()
    old = [line["n"] for line in read_json_lines(tmp_path / "jarvis.jsonl.1")]
    new = [line["n"] for line in read_json_lines(path)]
    assert sorted(old + new) == list(range(2000))
    assert new, "the writer kept writing into the renamed file"
    # Reopened once, at the rename: the old file holds the lines before it, the new one the rest.
    assert old + new == list(range(2000))
    assert len(old) <= 1001, "no line logged after the rename went to the old file"


def test_the_writer_recreates_a_deleted_file(tmp_path):
    path = tmp_path / "logs" / "jarvis.jsonl"
    writer = LogWriter(str(path), stdout=None).start()
    writer.submit(b'{"n":1}\n')
    writer.stop()
    path.unlink()
    writer = LogWriter(str(path), stdout=None).start()
    writer.submit(b'{"n":2}\n')
    writer.stop()
    assert read_json_lines(path) == [{"n": 2}]


def test_lines_after_a_quiet_spell_are_written_without_waiting_for_more(tmp_path):
    """A busy writer wakes on its own timer, an idle one only when a line comes: the first
    line after a quiet spell wakes it, and needs no other line to be written."""
    path = tmp_path / "jarvis.jsonl"
    writer = LogWriter(str(path), stdout=None).start()
    try:
        for n in range(3):
            writer.submit(orjson.dumps({"n": n}) + b"\n")
            wait_until(lambda n=n: len(read_json_lines(path)) == n + 1)
            time.sleep(0.3)  # quiet long enough for the writer to go idle
    finally:
        writer.stop()
    assert read_json_lines(path) == [{"n": 0}, {"n": 1}, {"n": 2}]


def test_a_queue_half_full_is_written_without_waiting_out_the_linger(
    tmp_path, monkeypatch: pytest.MonkeyPatch
):
    """Lines wait for company before a write, but a burst must not wait its way into a full
    queue: once half the queue is taken the writer is woken, however long its linger."""
    monkeypatch.setattr("jarvis.logs.writer._LINGER_SECONDS", 60.0)
    path = tmp_path / "jarvis.jsonl"
    writer = LogWriter(str(path), stdout=None, queue_size=8).start()
    try:
        for n in range(3):
            writer.submit(orjson.dumps({"n": n}) + b"\n")
        time.sleep(0.3)
        assert read_json_lines(path) == [], "below half the queue, lines wait for company"
        writer.submit_joined(b"".join(orjson.dumps({"n": n}) + b"\n" for n in (3, 4)), 2)
        wait_until(lambda: len(read_json_lines(path)) == 5)
        # Hurried once a linger: the next half queue wakes it again.
        for n in range(5, 9):
            writer.submit(orjson.dumps({"n": n}) + b"\n")
        wait_until(lambda: len(read_json_lines(path)) == 9)
    finally:
        writer.stop()
    assert [line["n"] for line in read_json_lines(path)] == list(range(9))
    assert writer.lines_dropped == {"queue_full": 0, "write_error": 0}


def test_flush_returns_once_every_line_submitted_is_in_the_file(
    tmp_path, monkeypatch: pytest.MonkeyPatch
):
    """A reader that must see the lines logged so far (a test, a report at exit) asks the
    writer to flush rather than guessing how long its linger is."""
    monkeypatch.setattr("jarvis.logs.writer._LINGER_SECONDS", 60.0)
    path = tmp_path / "jarvis.jsonl"
    writer = LogWriter(str(path), stdout=None).start()
    try:
        writer.submit(b'{"n":0}\n')
        writer.submit_joined(b'{"n":1}\n{"n":2}\n', 2)
        assert writer.flush(timeout=5)
        assert read_json_lines(path) == [{"n": 0}, {"n": 1}, {"n": 2}]
        assert writer.flush(timeout=0), "nothing queued: nothing to wait for"
    finally:
        writer.stop()


def test_records_logged_before_stop_are_all_flushed(tmp_path):
    path = tmp_path / "jarvis.jsonl"
    writer = LogWriter(str(path), stdout=None, queue_size=100_000).start()
    for i in range(50_000):
        writer.submit(orjson.dumps({"n": i}) + b"\n")
    writer.stop()
    assert len(read_json_lines(path)) == 50_000
    assert writer.lines_dropped == {"queue_full": 0, "write_error": 0}


def test_lines_submitted_together_fill_the_queue_to_its_brim_and_count_the_rest(tmp_path):
    """The access log hands over a loop iteration's lines at once: as many as the queue has
    room for are kept, in order, and the others counted as dropped, none half-taken."""
    path = tmp_path / "jarvis.jsonl"
    writer = LogWriter(str(path), stdout=None, queue_size=5)
    writer._thread_running = True  # as started, but nothing drains the queue yet
    lines = [orjson.dumps({"n": n}) + b"\n" for n in range(8)]
    writer.submit_joined(b"".join(lines[:3]), 3)
    writer.submit(lines[3])
    writer.submit_joined(b"".join(lines[4:]), 4)
    writer.submit(lines[0])
    assert writer.lines_dropped == {"queue_full": 4, "write_error": 0}
    writer._thread_running = False
    writer.start()
    writer.stop()
    assert read_json_lines(path) == [{"n": n} for n in range(5)]
    # Drained, the queue has its whole room again: what was counted in is counted out.
    assert writer._queued_lines() == 0


async def test_a_full_queue_drops_instead_of_blocking_and_health_says_so(jarvis_server):
    server = await jarvis_server(log_queue_size=1)
    # Flood the handler faster than the writer thread can drain a queue of one line.
    flood = logging.getLogger("test.flood")
    for i in range(20_000):
        flood.error("flood %d", i)
    await server.app[HEALTH].check_all()
    async with server.session.get(server.url + "/health") as response:
        body = await response.json()
    assert response.status == 200, "a degraded log sink is not critical"
    assert body["status"] == "degraded"
    assert body["services"]["log_sink"]["status"] == "down"
    assert "dropped" in body["services"]["log_sink"]["error"]
    assert 'service_health_status{service="log_sink"} 0' in await server.metrics_text()


def padded_line(n: int) -> bytes:
    return orjson.dumps({"n": n, "pad": "x" * 500}) + b"\n"


def submit_slowly(writer: LogWriter, numbers: range) -> None:
    """A few lines per batch, as a server's traffic gives them."""
    for n in numbers:
        writer.submit(padded_line(n))
        if n % 10 == 0:
            time.sleep(0.005)


def wait_until(condition: Callable[[], bool]) -> None:
    for _ in range(500):
        if condition():
            return
        time.sleep(0.01)
    raise AssertionError("never happened")


def test_a_full_disk_costs_whole_lines_counted_and_writing_resumes_when_space_returns(
    small_disk: SmallDisk,
) -> None:
    path = small_disk.path / "jarvis.jsonl"
    writer = LogWriter(str(path), stdout=None).start()
    submit_slowly(writer, range(0, 5))
    wait_until(lambda: len(read_json_lines(path)) == 5)
    small_disk.fill()
    submit_slowly(writer, range(5, 105))
    # Every one of them tried on the full disk (a busy machine may leave some queued).
    wait_until(lambda: sum(writer.lines_dropped.values()) + len(read_json_lines(path)) == 105)
    assert "No space left on device" in (writer.last_error or "")
    small_disk.free_up()
    submit_slowly(writer, range(105, 110))
    writer.stop()

    written = [line["n"] for line in read_json_lines(path)]  # fails on a torn or glued line
    dropped = writer.lines_dropped
    assert dropped["queue_full"] == 0
    # The room left in the file's last page took a few lines, whole; the rest were dropped.
    assert len(written) + dropped["write_error"] == 110
    assert dropped["write_error"] > 90
    assert written[:5] == [0, 1, 2, 3, 4] and written[-5:] == [105, 106, 107, 108, 109]
    assert writer.last_error is None


def test_a_fragment_that_cannot_be_cut_off_is_ended_by_the_next_write(
    small_disk: SmallDisk, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ftruncate failing too: the part of a line left behind is ended by a newline, so the
    next line is whole on its own line, not glued to it."""

    def cannot_truncate(fd: int, length: int) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr("jarvis.logs.writer.os.ftruncate", cannot_truncate)
    path = small_disk.path / "jarvis.jsonl"
    writer = LogWriter(str(path), stdout=None).start()
    writer.submit(padded_line(0))
    wait_until(lambda: path.exists() and path.stat().st_size > 0)
    small_disk.fill()
    for n in range(1, 20):
        writer.submit(padded_line(n))
    wait_until(lambda: writer.lines_dropped["write_error"] > 0)
    assert not path.read_bytes().endswith(b"\n"), "no fragment left: nothing to prove"
    small_disk.free_up()
    writer.submit(padded_line(20))
    writer.stop()

    lines = path.read_bytes().splitlines()
    fragment = lines[-2]
    assert not fragment.endswith(b"}"), "the fragment is a part of a line"
    whole = [orjson.loads(line)["n"] for line in lines if line != fragment]
    assert whole[0] == 0 and whole[-1] == 20
    assert len(whole) - 1 + writer.lines_dropped["write_error"] == 20


def test_lines_lost_to_an_unwritable_log_file_are_each_counted_joined_or_not(tmp_path):
    """A log directory replaced by a file: every line of the batches that could not be written
    counts as dropped, one by one, whether it came alone or joined with others; once the
    directory is back, writing resumes."""
    directory = tmp_path / "logs"
    directory.mkdir()
    path = directory / "jarvis.jsonl"
    writer = LogWriter(str(path), stdout=None).start()
    writer.submit(orjson.dumps({"n": 0}) + b"\n")
    assert writer.flush()
    path.unlink()
    directory.rmdir()
    directory.write_text("not a directory")

    writer.submit_joined(b"".join(orjson.dumps({"n": n}) + b"\n" for n in range(1, 4)), 3)
    writer.submit(orjson.dumps({"n": 4}) + b"\n")
    writer.submit_joined(b"".join(orjson.dumps({"n": n}) + b"\n" for n in range(5, 7)), 2)
    assert writer.flush()
    assert writer.lines_dropped == {"queue_full": 0, "write_error": 6}
    assert "logs" in (writer.last_error or "")

    directory.unlink()
    directory.mkdir()
    writer.submit_joined(b"".join(orjson.dumps({"n": n}) + b"\n" for n in range(7, 9)), 2)
    writer.stop()
    assert read_json_lines(path) == [{"n": 7}, {"n": 8}]
    assert writer.lines_dropped["write_error"] == 6
    # What was counted in is counted out: the queue has its whole room again.
    assert writer._queued_lines() == 0


def test_a_record_of_several_lines_takes_one_place_in_the_queue(tmp_path):
    """A console record with a traceback is several lines of text but one record: it is
    counted in and out of the queue once, so the queue's room never drifts."""
    path = tmp_path / "jarvis.jsonl"
    writer = LogWriter(str(path), stdout=None, queue_size=4).start()
    for n in range(3):
        writer.submit(f"record {n}: failed\nTraceback (most recent call last):\n  boom\n".encode())
    writer.stop()
    assert path.read_text().count("Traceback") == 3
    assert writer.lines_dropped == {"queue_full": 0, "write_error": 0}
    assert writer._queued_lines() == 0
