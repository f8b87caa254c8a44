"""``jarvis dev``'s relay of the processes' lines: prefixed, padded, rendered when asked."""

from __future__ import annotations

import asyncio
import errno
import io
from datetime import datetime

import orjson
import pytest

from jarvis.dev.output import MAX_LINE_BYTES, ProcessOutput, relay_lines

TIMESTAMP = datetime(2026, 1, 13, 8, 0, 0, 123000).timestamp()
EVENT = {"timestamp": TIMESTAMP, "level": "INFO", "message": "chat success", "request_id": "r-1"}


def _output(*, render: bool, colour: bool = False) -> tuple[ProcessOutput, io.StringIO]:
    stream = io.StringIO()
    return ProcessOutput(stream, ["es", "api", "shipper"], render=render, colour=colour), stream


def test_each_line_is_prefixed_with_its_process_padded_to_the_longest_name():
    output, stream = _output(render=False)
    output.line("es", b"[2026-01-13T08:00:00,123][INFO ][o.e.n.Node] started\n")
    output.line("shipper", orjson.dumps(EVENT))
    output.note("Elasticsearch ready in 7.6 s")
    assert stream.getvalue().splitlines() == [
        "es      | [2026-01-13T08:00:00,123][INFO ][o.e.n.Node] started",
        f"shipper | {orjson.dumps(EVENT).decode()}",
        "dev     | Elasticsearch ready in 7.6 s",
    ]


def test_json_lines_are_rendered_for_people_when_asked_and_other_lines_kept():
    output, stream = _output(render=True)
    output.line("api", orjson.dumps(EVENT))
    output.line("es", b"plain text")
    assert stream.getvalue().splitlines() == [
        "api     | 08:00:00.123 INFO     [r-1] chat success",
        "es      | plain text",
    ]


def test_an_error_s_traceback_lines_each_carry_the_prefix():
    output, stream = _output(render=True)
    output.line("api", orjson.dumps({"level": "ERROR", "message": "boom", "traceback": "a\nb\n"}))
    assert stream.getvalue().splitlines() == [
        "api     | ERROR    boom",
        "api     |     a",
        "api     |     b",
    ]


def test_colour_only_when_asked():
    output, stream = _output(render=True, colour=True)
    output.line("api", orjson.dumps(EVENT))
    assert stream.getvalue().startswith("\x1b[36mapi    \x1b[0m | ")
    plain, plain_stream = _output(render=True)
    plain.line("api", orjson.dumps(EVENT))
    assert "\x1b" not in plain_stream.getvalue()


@pytest.mark.parametrize(
    "error", [BrokenPipeError(), OSError(errno.EIO, "Input/output error")], ids=["pipe", "tty"]
)
def test_a_closed_output_is_not_an_error(error):
    """A reader gone (``| head``) or a terminal window closed: the relay goes on silently."""

    class Closed(io.StringIO):
        writes = 0

        def write(self, text: str) -> int:
            self.writes += 1
            raise error

    stream = Closed()
    output = ProcessOutput(stream, ["api"], render=False, colour=False)
    output.line("api", b"one")
    output.line("api", b"two")
    assert stream.writes == 1


async def test_relay_passes_whole_lines_and_the_last_one_without_newline():
    reader = asyncio.StreamReader()
    reader.feed_data(b"first\nsec")
    reader.feed_data(b"ond\n\nlast")
    reader.feed_eof()
    lines: list[bytes] = []
    await relay_lines(reader, lines.append)
    assert lines == [b"first", b"second", b"", b"last"]


async def test_relay_passes_a_runaway_line_in_pieces():
    runaway = b"x" * (3 * MAX_LINE_BYTES + 5)
    reader = asyncio.StreamReader()
    for start in range(0, len(runaway), 100_000):
        reader.feed_data(runaway[start : start + 100_000])
    reader.feed_data(b"\nnext\n")
    reader.feed_eof()
    lines: list[bytes] = []
    await relay_lines(reader, lines.append)
    assert lines[-1] == b"next"
    pieces = lines[:-1]
    assert len(pieces) > 1 and b"".join(pieces) == runaway
    assert all(len(piece) <= MAX_LINE_BYTES for piece in pieces)
