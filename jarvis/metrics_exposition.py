"""Renders a registry in the Prometheus text format without holding the event loop.

aioprometheus's own renderer builds every line of every family in one go, re-parsing each
series' labels from JSON on the way (aioprometheus issue 98): with thousands of label sets
that holds the loop for a second or more. This renderer formats each label set once (cached),
and yields to the loop every few hundred series; each series is read whole between two yields,
so a histogram's buckets, count and sum always agree.
"""

from __future__ import annotations

import asyncio
import math
from functools import lru_cache

import orjson
from aioprometheus import Histogram, Registry
from aioprometheus.metricdict import MetricDict

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_SERIES_PER_SLICE = 200


async def render_text(registry: Registry) -> bytes:
    """The whole registry as a Prometheus text exposition, families sorted by name."""
    out: list[str] = []
    budget = _SERIES_PER_SLICE
    for collector in sorted(registry.get_all(), key=lambda c: c.name):
        name = collector.name
        out.append(f"# HELP {name} {_escape_help(collector.doc)}\n")
        out.append(f"# TYPE {name} {collector.kind.name.lower()}\n")
        const = _const_label_text(collector.const_labels)
        # A snapshot of the series: the loop may add new ones while this one yields.
        for key, value in list(collector.values.store.items()):
            labels = _join(const, _label_text(key))
            if isinstance(collector, Histogram):
                _append_histogram(out, name, labels, value)
            else:
                out.append(f"{name}{_braces(labels)} {_number(value)}\n")
            budget -= 1
            if budget == 0:
                budget = _SERIES_PER_SLICE
                await asyncio.sleep(0)
    return "".join(out).encode()


def _append_histogram(out: list[str], name: str, labels: str, histogram: object) -> None:
    buckets = histogram.buckets  # type: ignore[attr-defined]
    for bound, count in buckets.items():
        le = "+Inf" if bound == math.inf else _number(bound)
        bucket_labels = _join(labels, 'le="' + le + '"')
        out.append(f"{name}_bucket{{{bucket_labels}}} {_number(count)}\n")
    out.append(f"{name}_count{_braces(labels)} {_number(histogram.observations)}\n")  # type: ignore[attr-defined]
    out.append(f"{name}_sum{_braces(labels)} {_number(histogram.sum)}\n")  # type: ignore[attr-defined]


@lru_cache(maxsize=65_536)
def _label_text(key: bytes | str) -> str:
    if key == MetricDict.EMPTY_KEY:
        return ""
    labels = orjson.loads(key)
    return ",".join(f'{k}="{_escape_label(str(v))}"' for k, v in labels.items())


def _const_label_text(const_labels: dict[str, str] | None) -> str:
    if not const_labels:
        return ""
    return ",".join(f'{k}="{_escape_label(str(v))}"' for k, v in sorted(const_labels.items()))


def _join(a: str, b: str) -> str:
    return f"{a},{b}" if a and b else a or b


def _braces(labels: str) -> str:
    return f"{{{labels}}}" if labels else ""


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(doc: str) -> str:
    return doc.replace("\\", "\\\\").replace("\n", "\\n")


def _number(value: object) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    number = float(value)  # type: ignore[arg-type]
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "+Inf" if number > 0 else "-Inf"
    return repr(number)
