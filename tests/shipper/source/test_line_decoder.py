"""LineDecoder: complete lines only, byte offsets, bounded memory for overlong lines."""

from shipper.source.line_decoder import LineDecoder


def test_lines_carry_their_byte_offsets() -> None:
    decoder = LineDecoder(offset=100, max_line_bytes=1000)
    lines = decoder.feed(b'{"a":1}\n\n{"b":2}\r\n')
    assert [(line.start, line.end, line.data) for line in lines] == [
        (100, 108, b'{"a":1}'),
        (108, 109, b""),
        (109, 118, b'{"b":2}'),
    ]
    assert decoder.position == 118


def test_a_half_written_line_waits_for_its_newline() -> None:
    decoder = LineDecoder(offset=0, max_line_bytes=1000)
    assert decoder.feed(b'{"message": "hel') == []
    assert decoder.partial_bytes == 16
    (line,) = decoder.feed(b'lo"}\n')
    assert (line.start, line.end, line.data) == (0, 21, b'{"message": "hello"}')
    assert decoder.partial_bytes == 0


def test_an_overlong_line_is_cut_and_marked_even_across_reads() -> None:
    decoder = LineDecoder(offset=0, max_line_bytes=10)
    assert decoder.feed(b"x" * 25) == []
    (long_line, short_line) = decoder.feed(b"y" * 5 + b"\nok\n")
    assert long_line.data == b"x" * 10 and long_line.truncated
    assert (long_line.start, long_line.end) == (0, 31)
    assert short_line.data == b"ok" and not short_line.truncated


def test_an_overlong_line_within_one_read_is_cut() -> None:
    decoder = LineDecoder(offset=0, max_line_bytes=4)
    (line,) = decoder.feed(b"abcdefgh\n")
    assert line.data == b"abcd" and line.truncated and line.end == 9


def test_flush_returns_the_unterminated_last_line_once() -> None:
    decoder = LineDecoder(offset=5, max_line_bytes=100)
    decoder.feed(b"done\ntail")
    final = decoder.flush()
    assert final is not None and (final.start, final.end, final.data) == (10, 14, b"tail")
    assert decoder.flush() is None


def _expected(stream: bytes, max_line_bytes: int) -> list[tuple[int, int, bytes, bool]]:
    """The lines of ``stream`` as the decoder promises them, worked out the slow way."""
    lines, start = [], 0
    for piece in stream.split(b"\n")[:-1]:
        end = start + len(piece) + 1
        data = piece[:max_line_bytes]
        truncated = len(piece) > max_line_bytes
        lines.append((start, end, data.removesuffix(b"\r"), truncated))
        start = end
    return lines


def test_lines_are_the_same_however_the_reads_cut_the_stream() -> None:
    """Whole chunks of short lines take a fast path; lines split across reads, overlong lines
    and CRs the careful one. Every way of cutting gives the same lines."""
    stream = b"".join(
        [b'{"n":%d}\n' % n for n in range(40)]
        + [b"\n", b"x" * 30 + b"\n", b'{"cr":1}\r\n', b"\n\n", b"y" * 12 + b"\r\n", b"z\n"]
    )
    for size in (1, 2, 3, 7, 16, 50, 64, 100, 1000):
        decoder = LineDecoder(offset=0, max_line_bytes=20)
        lines = []
        for at in range(0, len(stream), size):
            lines += decoder.feed(stream[at : at + size])
        assert [tuple(line) for line in lines] == _expected(stream, 20), size
        assert decoder.position == len(stream) and decoder.partial_bytes == 0
