"""A corpus of awkward log lines, each carrying a marker word found nowhere else in the corpus:
what a careless neighbouring program, or an attacker, could write to a watched file.

Each ``Awkward`` is one line (its bytes, without the newline), the word a search must find it
by, and what its document must show: tags it must carry, the ``@timestamp`` read from it.
Lines whose JSON value holds no room for a word (``null``, a number) use their own text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import orjson

# 2024-01-13T05:24:16Z, and lines a second apart after it: all in one daily index.
T0 = 1705123456
DAY_OF_T0 = "jarvis-logs-2024.01.13"
MIB = 1024 * 1024
# The corpus is shipped with this --max-line-bytes: a 1 MiB value fits, the cut line does not.
MAX_LINE_BYTES = 2 * MIB
# The shipper's --host-name: what ``host.name`` says.
HOST = "corpus-host"
# As ``time``: the document's @timestamp is the ``timestamp`` the line was written with.
OWN_TIME = "own"


@dataclass(frozen=True)
class Awkward:
    kind: str
    data: bytes
    marker: str
    tags: frozenset[str] = frozenset()  # each of them in the document's tags
    time: str | None = None  # the document's @timestamp, when the line gives it
    index: str | None = None  # the document's daily index, when the line gives it
    must_hold: dict[str, object] = field(default_factory=dict)  # top-level values it must hold


def marker(number: int) -> str:
    # Letters and digits only: one token for the standard analyzer, one keyword as it is.
    return f"zq{number:03d}mark"


Build = Callable[[str, int], bytes]  # (marker, time written) -> the line


def _json(value: object) -> bytes:
    return orjson.dumps(value)


def fields(**extra: object) -> Build:
    """An object line: its ``timestamp``, its ``marker``, then ``extra``."""
    return lambda mark, written: _json({"timestamp": written, "marker": mark, **extra})


def plus(raw: bytes) -> Build:
    """An object line with ``raw`` JSON text (what orjson would not write) after its marker."""
    return lambda mark, written: fields()(mark, written)[:-1] + b", " + raw + b"}"


def fields_at(timestamp: object) -> Build:
    """An object line whose ``timestamp`` is ``timestamp``."""
    return lambda mark, _: _json({"timestamp": timestamp, "marker": mark})


def text(template: bytes) -> Build:
    """A line as written, its ``<M>`` the marker and its ``<T>`` the time."""
    return lambda mark, written: template.replace(b"<M>", mark.encode()).replace(
        b"<T>", str(written).encode()
    )


def _nested(depth: int, leaf: object, key: str = "n") -> dict[str, object]:
    value: object = leaf
    for _ in range(depth):
        value = {key: value}
    assert isinstance(value, dict)
    return value


def _deep(depth: int) -> Build:
    # Built as text: past 254 levels, orjson cannot encode it.
    return plus(b'"deep": ' + b'{"n":' * depth + b"1" + b"}" * depth)


def corpus() -> list[Awkward]:
    """Every kind of awkward line, in the order they are written."""
    made: list[Awkward] = []

    def add(
        kind: str,
        build: Build,
        tags: frozenset[str] = frozenset(),
        time: str | None = None,
        index: str | None = None,
        must_hold: dict[str, object] | None = None,
    ) -> None:
        number = len(made)
        written = T0 + number
        if time == OWN_TIME:
            time = datetime.fromtimestamp(written, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        data = build(marker(number), written)
        made.append(Awkward(kind, data, marker(number), tags, time, index, must_hold or {}))

    def tags(*names: str) -> frozenset[str]:
        return frozenset(names)

    iso, at_t0 = "2024-01-13T05:24:16.250Z", "2024-01-13T05:24:16.000Z"
    unparsed, missing = tags("_jsonparsefailure"), tags("_timestamp_missing")
    fallback, moved, kept = tags("_mapping_fallback"), tags("_fields_moved"), tags("_original_kept")
    cut = MAX_LINE_BYTES + 100_000

    # Not JSON objects: kept as the text of ``message``.
    add(
        "normal line",
        fields(level="INFO", request_id="req-1", message="hello"),
        tags("traced"),
        OWN_TIME,
        DAY_OF_T0,
        {"level": "INFO", "message": "hello", "tags": ["traced"]},
    )
    add("not JSON", text(b"plain text from a neighbour <M> here"), unparsed | missing)
    add("JSON array", lambda mark, _: _json([mark, 1, {"a": mark}]), unparsed)
    add("JSON string", lambda mark, _: _json(f"just a string {mark}"), unparsed)
    made.append(Awkward("JSON number", b"907123456789", "907123456789", unparsed))
    made.append(Awkward("JSON null", b"null", "null", unparsed))
    add("JSON true with text", text(b"true <M>"), unparsed)
    add("JSON with comments", text(b'{"marker": "<M>" /* c */}'), unparsed)
    add("single quotes", text(b"{'marker': '<M>'}"), unparsed)
    add("pretty JSON's first line", text(b'{ "marker" : "<M>",'), unparsed)
    add("trailing garbage", text(b'{"timestamp": <T>, "marker": "<M>"} trailing'), unparsed)
    add("XML", text(b"<event><id><M></id></event>"), unparsed)
    add("ANSI escapes", text(b"\x1b[31mred\x1b[0m <M>"), unparsed)
    add("spaces around text", text(b"   <M>   "), unparsed)
    add("tab-separated", text(b"a\tb\t<M>\tc"), unparsed)
    # Bytes and characters.
    invalid = tags("_invalid_utf8")
    add("invalid UTF-8 in JSON", text(b'{"marker": "<M>", "v": "caf\xe9 \xff\xfe"}'), invalid)
    add("invalid UTF-8 in text", text(b"\xc3\x28 broken <M> \xa0\xa1"), invalid | unparsed)
    add("CRLF JSON", text(b'{"timestamp": <T>, "marker": "<M>"}\r'), time=OWN_TIME)
    add("CRLF text", text(b"windows line <M>\r"), unparsed)
    add("byte order mark", text(b'\xef\xbb\xbf{"timestamp": <T>, "marker": "<M>"}'), time=OWN_TIME)
    add("raw NUL in a JSON string", plus(b'"nul": "a\x00b"'), kept)
    add("raw NUL in text", text(b"nul \x00 inside <M>"), unparsed)
    add("escaped NUL and controls", fields(nul="a\u0000b", ctl="\u0001\u001f\u007f"))
    add("emoji, escaped and not", plus(b'"e": "\\ud83d\\ude00 \xf0\x9f\x98\x80"'))
    add("lone surrogates", plus(b'"s": "\\ud800 \\udfff"'), fallback, OWN_TIME)
    add("unicode line separators", fields(text="a\u2028b\u2029c\u0085d"))
    add("request_id with a newline", fields(request_id="r\nforged"), tags("traced"))
    # Numbers.
    add("1e400", plus(b'"big": 1e400, "neg": -1e400'), kept)
    add("NaN and Infinity", plus(b'"n": NaN, "i": -Infinity'), kept)
    add("2**70", plus(b'"big": %d, "line": %d' % (2**70, 2**70)))
    add("5000-digit number", plus(b'"huge": ' + b"9" * 5000), unparsed, OWN_TIME)
    add("duplicate keys", plus(b'"d": 1, "d": {"x": 2}'))
    # Times.
    add("ISO timestamp", fields_at(iso), time=iso)
    add("ISO with an offset", fields_at("2024-01-13T07:24:16+02:00"), time=at_t0)
    add("naive ISO", fields_at("2024-01-13 05:24:16"), time=at_t0)
    add("epoch milliseconds", fields_at(T0 * 1000 + 123), time="2024-01-13T05:24:16.123Z")
    add("epoch seconds as text", fields_at(f"{T0}.5"), time="2024-01-13T05:24:16.500Z")
    add("garbage timestamp", fields_at("yesterday-ish"), missing)
    add("negative timestamp", fields_at(-5), missing)
    add(
        "far-future timestamp",
        fields_at(4102444800),
        time="2100-01-01T00:00:00.000Z",
        index="jarvis-logs-2100.01.01",
    )
    add("absurd timestamp", fields_at(1e300), missing)
    add("boolean timestamp", fields_at(True), missing)
    add("object timestamp", fields_at({"at": 1}), missing | moved)
    add("@timestamp ISO", lambda mark, _: _json({"@timestamp": iso, "marker": mark}), time=iso)
    add("@timestamp garbage", fields(**{"@timestamp": "soon"}), moved, OWN_TIME)
    add("@timestamp object", fields(**{"@timestamp": {"a": 1}}), moved, OWN_TIME)
    # The shipper's own fields.
    add("tags as a string", fields(tags="audit"), tags("audit"))
    add("tags as an object", fields(tags={"a": "b"}), moved)
    add("tags with objects", fields(tags=["x", {"a": 1}]), moved)
    add("10,000 tags", fields(tags=[f"t{n}" for n in range(10_000)]), tags("t0", "t9999"))
    add("event as a string", fields(event="login"), moved)
    add("event.original as an object", fields(event={"original": {"a": 1}}), fallback)
    add("host as a string", fields(host="db-1"), moved)
    add("host with a name", fields(host={"name": "db-1", "ip": "10.0.0.1"}), moved)
    add(
        "host without a name",
        fields(host={"ip": "10.0.0.1"}),
        must_hold={"host": {"ip": "10.0.0.1", "name": HOST}},
    )
    add("log as a string", fields(log="app.log"), moved)
    add("log with an offset", fields(log={"level": "warn", "offset": "x"}), moved)
    add("log with only a level", fields(log={"level": "warn"}))
    # Elasticsearch's own names.
    add("metadata _id", fields(_id="mine"), moved)
    add("metadata _index and _source", fields(_index="other", _source={"a": 1}), moved)
    add("metadata _doc_count", fields(_doc_count=1000), moved)
    add("metadata names nested", fields(inner={"_routing": "x", "_id": 1}))
    # Keys.
    add("dotted keys", fields(**{"a.b.c": 1, "x.y": "z"}))
    add("dotted key colliding", fields(**{"d.e": 1, "d": {"e": {"f": 2}}}), fallback)
    add("key of only a dot", fields(**{".": 1}), moved)
    add("key of only dots", fields(**{"...": 1}), moved)
    add("empty key", fields(**{"": 1}), moved)
    add("key with a leading dot", fields(**{".a": 1}), moved)
    add("key with a trailing dot", fields(**{"t.": 1}))
    add("whitespace key", fields(**{" ": 1}), moved)
    add("nested empty key", fields(inner={"": 1}), fallback)
    add("nested double dot", fields(inner={"a..b": 1}), fallback)
    add("keys with spaces and symbols", fields(**{"a b": 1, "a*b": 2, "ключ": 3, "🔑": 4}))
    add("2,000-char key", fields(**{"q" * 2_000: "v"}))
    add("40,000-char key", fields(**{"k" * 40_000: 1}))
    # Types.
    add("field_a a number", fields(field_a=5))
    add("field_a now an object", fields(field_a={"inner": 1}), fallback)
    add("mixed array", fields(mixed=[1, "a", {"x": 1}]), fallback)
    add("array of arrays", fields(grid=[[1, 2], [3, [4, 5]]]))
    add("level as an object", fields(level={"name": "INFO"}), moved)
    add("message as an object", fields(message={"text": "hi"}), moved)
    add("message as a list of objects", fields(message=[{"text": "hi"}]), moved)
    add("user_id as an object", fields(user_id={"not": "a keyword"}), moved)
    add("request_id as a list", fields(request_id=["r1", "r2"]), tags("traced"))
    add("status as a word", fields(status="ok"))
    add("numbers as words", fields(duration_ms="fast", line="seven"))
    add("line as a float", fields(line=1.5, bytes=-1))
    # Sizes and shapes.
    add("40,000-char error", fields(error="e" * 40_000), kept)
    add("40,000-char custom value", fields(blob="b " * 20_000), kept)
    add("1 MiB string value", fields(payload="w" * MIB), kept)
    add("1 MiB message", fields(message="m " * (MIB // 2)))
    add("60-deep nesting", fields(deep=_nested(60, 1)), fallback)
    add("300-deep nesting", _deep(300), fallback, OWN_TIME)
    add("300-deep list", plus(b'"deep": ' + b"[" * 300 + b"]" * 300), fallback)
    add("10,000-deep nesting", _deep(10_000), unparsed, OWN_TIME)
    add("3,000 keys", fields(**{f"k3_{n}": n for n in range(3_000)}), kept)
    add("5,000 keys", fields(**{f"k5_{n}": f"v{n}" for n in range(5_000)}), kept)
    add("deep once the field limit is hit", fields(after=_nested(25, "x", key="p")), kept)
    add(
        "cut at --max-line-bytes",
        text(b'{"timestamp": <T>, "marker": "<M>", "message": "' + b"c" * cut + b'"}'),
        tags("_truncated") | unparsed,
        OWN_TIME,
    )
    add(
        "cut, with an ISO @timestamp",
        text(b'{"@timestamp": "%s", "marker": "<M>", "x": "' % iso.encode() + b"c" * cut + b'"}'),
        tags("_truncated") | unparsed,
        iso,
    )
    add("a normal line at the end", fields(level="INFO", message="bye"), index=DAY_OF_T0)
    return made


def corpus_file(lines: list[Awkward]) -> bytes:
    """The lines as one file, each ending in a newline, with empty lines between some."""
    return b"".join(line.data + (b"\n\n" if n % 10 == 9 else b"\n") for n, line in enumerate(lines))
