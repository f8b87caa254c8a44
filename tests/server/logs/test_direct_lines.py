"""Direct lines rendered from templates are the very lines orjson makes of the processors'
dict, whatever the call's fields, message, level and request context."""

from __future__ import annotations

import logging
from unittest import mock

import orjson
import pytest

from jarvis.logs.direct_lines import MAX_TEMPLATES, DirectLineTemplates
from jarvis.logs.processors import event_of_call
from jarvis.logs.render import render_plain_json_line
from jarvis.request_context import RequestFacts, TraceContext, current_request

CODE = ("service", "reply", 70)
TRACE = TraceContext("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331")
FIELDS = [
    {"action": "chat_request", "user_id": 'ann"}\n{"forged":1', "message_length": 3},
    {"user_id": "\u2028é日本\x00", "llm_seconds": 0.000_412_3, "none": None},
    {"nested": {"a": [1, 2.5, True]}, "count": -(2**63)},
    # Fields naming a field of the line's head: it is changed in place, not written twice.
    {"request_id": "given-by-the-call", "action": "x"},
    {"trace_id": "t", "span_id": "s"},
    {"level": "shadowed", "timestamp": 0},
    # Nothing of its own, then what orjson refuses: the dict's line, its fallbacks.
    {},
    {1: "a key that is not text"},
    {"user_id": "\udcff"},
    {"big": 2**70},
]


@pytest.mark.parametrize(
    "facts",
    [
        None,
        RequestFacts("6f1d0a3e-5b7c-4f7e-9d1a-2b3c4d5e6f70", None, "127.0.0.1", "/chat"),
        RequestFacts("6f1d0a3e-5b7c-4f7e-9d1a-2b3c4d5e6f70", TRACE, "127.0.0.1", "/chat"),
        RequestFacts(None, None, "127.0.0.1", "/chat"),
    ],
)
@pytest.mark.parametrize("level", [logging.INFO, logging.ERROR, 25])
@pytest.mark.parametrize("message", ["chat success", 'a "quoted"\nmessage', "bad \udcff"])
def test_a_direct_line_is_the_line_of_its_dict(facts, level, message):
    templates = DirectLineTemplates("jarvis.chat")
    token = current_request.set(facts)
    try:
        for fields in FIELDS * 2:  # the second time from the templates kept
            with mock.patch("time.time", return_value=1_795_781_977.018_780_7):
                line = templates.render(level, message, CODE, fields)
                event = event_of_call(level, "jarvis.chat", message, CODE, fields)
            assert line == render_plain_json_line(event)
    finally:
        current_request.reset(token)


def test_a_forged_field_stays_inside_its_line():
    templates = DirectLineTemplates("jarvis.chat")
    token = current_request.set(RequestFacts("req-1", TRACE, "127.0.0.1", "/chat"))
    try:
        line = templates.render(logging.INFO, "chat success", CODE, FIELDS[0])
    finally:
        current_request.reset(token)
    [decoded] = [orjson.loads(text) for text in line.splitlines()]
    assert decoded["user_id"] == 'ann"}\n{"forged":1'
    assert (decoded["request_id"], decoded["trace_id"]) == ("req-1", TRACE.trace_id)


def test_templates_kept_are_bounded_whatever_messages_are_logged():
    templates = DirectLineTemplates("jarvis.chat")
    token = current_request.set(RequestFacts("req-1", None, "127.0.0.1", "/chat"))
    try:
        for n in range(3 * MAX_TEMPLATES):
            templates.render(logging.INFO, f"message {n}", CODE, {"n": n})
            assert templates.kinds_held <= MAX_TEMPLATES
    finally:
        current_request.reset(token)
