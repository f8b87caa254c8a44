"""Series bound once to their labels (jarvis.metrics): what hot code records through them is
what the registry shows, exactly as aioprometheus's own calls would show it."""

from __future__ import annotations

import aioprometheus
import pytest
from aioprometheus import Registry

from jarvis.metrics import CounterSeries, Histogram, Metrics
from jarvis.metrics_exposition import render_text


def test_a_bound_counter_series_adds_to_the_same_series_as_inc():
    metrics = Metrics.create()
    labels = {"direction": "out", "status": "ok"}
    bound = CounterSeries(metrics.ws_messages_total, labels)
    bound.inc()
    bound.inc(3)
    metrics.ws_messages_total.inc(labels)
    assert metrics.ws_messages_total.get(labels) == 5


def test_a_new_bound_series_exists_at_zero():
    metrics = Metrics.create()
    labels = {"method": "GET", "route": "/x", "status": "200"}
    CounterSeries(metrics.http_requests_total, labels)
    assert metrics.http_requests_total.get(labels) == 0


@pytest.mark.parametrize(
    ("value", "first_bucket"),
    [(0.0, 0.5), (0.5, 0.5), (0.5000001, 1.0), (1.0, 1.0), (2.0, float("inf"))],
)
def test_an_observation_counts_in_every_bucket_from_the_first_bound_at_or_above_it(
    value, first_bucket
):
    histogram = Histogram("h", "test", registry=Registry(), buckets=(0.5, 1.0))
    histogram.observe({}, value)
    counts = histogram.get({})
    assert {bound: counts[bound] for bound in (0.5, 1.0, float("inf"))} == {
        bound: int(bound >= first_bucket) for bound in (0.5, 1.0, float("inf"))
    }
    assert counts["count"] == 1 and counts["sum"] == value


async def test_a_bound_histogram_series_renders_as_aioprometheus_own_would():
    ours, theirs = Registry(), Registry()
    histogram = Histogram("latency_seconds", "test", registry=ours, buckets=(0.1, 1.0))
    native = aioprometheus.Histogram("latency_seconds", "test", registry=theirs, buckets=(0.1, 1.0))
    series = histogram.series({"route": "/chat"})
    for value in (0.25, 0.5, 0.75):
        series.observe(value)
        native.observe({"route": "/chat"}, value)
    # A batch at once (the request metrics of a loop iteration) reads as one by one.
    series.observe_all([4.0, 0.0625, 0.1])
    for value in (4.0, 0.0625, 0.1):
        native.observe({"route": "/chat"}, value)
    histogram.observe({"route": "/ws"}, 2.0)
    native.observe({"route": "/ws"}, 2.0)
    text = (await render_text(ours)).decode()
    assert text == (await render_text(theirs)).decode()
    assert 'latency_seconds_bucket{route="/chat",le="0.1"} 2\n' in text
    assert 'latency_seconds_bucket{route="/chat",le="+Inf"} 6\n' in text


def test_histogram_label_names_are_still_checked():
    histogram = Histogram("h", "test", registry=Registry())
    with pytest.raises(ValueError, match="le"):
        histogram.observe({"le": "1"}, 1.0)
