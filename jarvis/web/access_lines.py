"""The access lines of a loop iteration's requests, rendered from templates: byte for byte
the lines orjson makes of ``access_events``' dicts, for two thirds of the cost.

A route's requests are mostly alike: same method, path and status, the same logger and code
named. All that is rendered once per kind of request into two pieces of JSON text (a template)
kept for the next ones. Who sent a request (client and user agent) is rendered once per sender
and kept apart: many clients send a route's requests, and a template naming the sender would
be missed by most of them. A line is then its template and its sender with what
changes every time put in between: the time it finished, its request ID, its duration and its
body's size, the numbers of the whole batch rendered in one orjson call, as a list cut at its
commas (numbers hold none). The request ID goes in as it is: IDs are checked at the door
(``jarvis.logline.REQUEST_ID_PATTERN``), and none of the characters allowed there is one JSON
escapes. A line without a request ID (aiohttp answered a malformed request itself), or with
text orjson refuses (not valid Unicode), is rendered from its dict as before.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from jarvis.logs.render import render_plain_json_line
from jarvis.request_context import RequestFacts

# What ``FinishedRequests.add`` keeps of a request: when it finished, method, path, status,
# seconds from arrival to last byte, body bytes, user agent, and what the middleware learnt.
Finished = tuple[float, str, str, int, float, int | None, str, RequestFacts]

# Kinds of request whose templates are kept, and senders: paths, clients and user agents are
# the client's to choose, so this many of each at most, all forgotten when full. A sender
# costs little to render again (0.3 µs), a template more.
MAX_TEMPLATES = 1024
MAX_SENDERS = 4096

_OPEN = b'{"timestamp":'
_BYTES = b',"bytes":'
_CLOSE = b"}\n"
_UNSEEN: Any = object()


def milliseconds(seconds: float) -> float:
    """``seconds`` in milliseconds, rounded to the microsecond: round(x, 3) costs three times
    as much."""
    return int(seconds * 1_000_000 + 0.5) / 1000


class AccessLineTemplates:
    """Renders batches of access lines; ``event_of`` is the dict each line must equal."""

    def __init__(
        self,
        logger_name: str,
        code: tuple[str, str, int],
        action: str,
        event_of: Callable[[Finished], dict[str, Any]],
    ) -> None:
        module, function, line = code
        # The fields between the message and the request's own, the same in every line.
        self._logger = orjson.dumps(logger_name)
        self._code = (
            b',"module":' + orjson.dumps(module) + b',"function":' + orjson.dumps(function)
            + b',"line":' + orjson.dumps(line) + b',"action":' + orjson.dumps(action)
        )  # fmt: skip
        self._event_of = event_of
        # Per kind of request, its pieces: before the request ID, and between it and the
        # duration.
        self._templates: dict[tuple[str, str, int, str], tuple[bytes, bytes] | None] = {}
        # Per sender (client, user agent), the fields naming it.
        self._senders: dict[tuple[str, str], bytes | None] = {}

    @property
    def kinds_held(self) -> int:
        return len(self._templates)

    @property
    def senders_held(self) -> int:
        return len(self._senders)

    def render(self, finished: list[Finished]) -> bytes:
        """The access lines of ``finished``, in order, each ending in a newline."""
        numbers = orjson.dumps(
            [
                value
                for request in finished
                for value in (request[0], milliseconds(request[4]), request[5])
            ]
        )[1:-1].split(b",")
        templates, senders = self._templates, self._senders
        parts: list[bytes] = []
        at = 0
        for request in finished:
            _, method, path, status, _, _, user_agent, facts = request
            kind = (method, path, status, facts.route)
            template = templates.get(kind, _UNSEEN)
            if template is _UNSEEN:
                template = self._template(kind)
            sender = (facts.client, user_agent)
            sent_by = senders.get(sender, _UNSEEN)
            if sent_by is _UNSEEN:
                sent_by = self._sender(sender)
            request_id = facts.request_id
            if template is None or sent_by is None or request_id is None:
                parts.append(render_plain_json_line(self._event_of(request)))
            else:
                head, middle = template
                trace = facts.trace
                parts += (
                    _OPEN, numbers[at], head, request_id.encode(), middle, numbers[at + 1],
                    _BYTES, numbers[at + 2], sent_by,
                    _CLOSE if trace is None else _trace_fields(trace.trace_id, trace.span_id),
                )  # fmt: skip
            at += 3
        return b"".join(parts)

    def _template(self, kind: tuple[str, str, int, str]) -> tuple[bytes, bytes] | None:
        """The pieces of lines of ``kind``, kept; None, kept too, when orjson refuses a value
        (a path that is not valid Unicode): such lines are rendered from their dicts."""
        if len(self._templates) >= MAX_TEMPLATES:
            self._templates.clear()
        method, path, status, route = kind
        dumps = orjson.dumps
        try:
            template: tuple[bytes, bytes] | None = (
                b',"level":"INFO","logger":' + self._logger
                + b',"message":' + dumps(f"{method} {path} {status}") + b',"request_id":"',
                b'"' + self._code + b',"method":' + dumps(method) + b',"path":' + dumps(path)
                + b',"route":' + dumps(route) + b',"status":' + dumps(status)
                + b',"duration_ms":',
            )  # fmt: skip
        except orjson.JSONEncodeError:
            template = None
        self._templates[kind] = template
        return template

    def _sender(self, sender: tuple[str, str]) -> bytes | None:
        """The fields naming who sent a request, kept; None, kept too, when orjson refuses one
        (text that is not valid Unicode, as a header's undecodable bytes are)."""
        if len(self._senders) >= MAX_SENDERS:
            self._senders.clear()
        client, user_agent = sender
        fields: bytes | None
        try:
            fields = (
                b',"client":' + orjson.dumps(client) + b',"user_agent":' + orjson.dumps(user_agent)
            )
        except orjson.JSONEncodeError:
            fields = None
        self._senders[sender] = fields
        return fields


def _trace_fields(trace_id: str, span_id: str) -> bytes:
    # Hex digits only (``jarvis.request_context.parse_traceparent``): nothing to escape.
    return f',"trace_id":"{trace_id}","span_id":"{span_id}"}}\n'.encode()
