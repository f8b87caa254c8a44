"""The status server: /health and /metrics report the stages' own state."""

from __future__ import annotations

import asyncio
import errno
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from aiohttp.test_utils import TestClient
from fake_elasticsearch import FakeElasticsearch

from jarvis.metrics_exposition import CONTENT_TYPE
from shipper.acknowledgements import Acknowledgements
from shipper.batcher import IdleSenders
from shipper.disk_health import DiskHealth
from shipper.event import Event
from shipper.metrics import ShipperMetrics
from shipper.registry import FileRegistry
from shipper.rotator import Rotator
from shipper.sink.bulk_sink import BulkSink, RetryPolicy
from shipper.sink.dead_letter import DeadLetterFile
from shipper.status_server import ShipperStatus, create_status_app

ClientFactory = Callable[[Any], Awaitable[TestClient[Any, Any]]]


def build_status(tmp_path: Path) -> ShipperStatus:
    metrics = ShipperMetrics.create()
    registry = FileRegistry(tmp_path / "registry.json")
    sink = BulkSink(
        FakeElasticsearch(),  # type: ignore[arg-type]
        asyncio.Queue(),
        IdleSenders(),
        Acknowledgements(registry),
        DeadLetterFile(tmp_path / "dead-letter.jsonl"),
        metrics,
        RetryPolicy(),
        senders=1,
    )
    rotator = Rotator(
        str(tmp_path / "app.jsonl"),
        registry,
        lambda fingerprint: False,
        metrics,
        rotate_size=100,
        keep=1,
        interval=1.0,
    )
    return ShipperStatus(metrics, registry, sink, rotator, DiskHealth(metrics))


async def test_health_is_degraded_until_the_sink_reaches_elasticsearch(
    tmp_path: Path, aiohttp_client: ClientFactory
) -> None:
    status = build_status(tmp_path)
    client = await aiohttp_client(create_status_app(status))
    response = await client.get("/health")
    assert response.status == 200
    health = await response.json()
    assert health["status"] == "degraded" and health["elasticsearch_up"] is False

    progress = status.registry.get_or_create("fp", "/logs/app.jsonl")
    progress.track(0, 10)
    await status.sink.deliver([Event(progress, 0, 10, "fp-0", "index", b"{}")])
    health = await (await client.get("/health")).json()
    assert health["status"] == "ok" and health["elasticsearch_up"] is True


async def test_metrics_are_the_prometheus_text_with_fresh_lag_gauges(
    tmp_path: Path, aiohttp_client: ClientFactory
) -> None:
    status = build_status(tmp_path)
    progress = status.registry.get_or_create("fp", "/logs/app.jsonl")
    progress.size = 30
    progress.track(0, 10)
    client = await aiohttp_client(create_status_app(status))
    response = await client.get("/metrics")
    assert response.headers["Content-Type"] == CONTENT_TYPE
    lines = (await response.text()).splitlines()
    assert "shipper_lag_bytes 30" in lines
    assert "shipper_queue_events 1" in lines
    assert "shipper_elasticsearch_up 0" in lines


async def test_a_failing_disk_write_degrades_health_until_a_write_succeeds(
    tmp_path: Path, aiohttp_client: ClientFactory
) -> None:
    status = build_status(tmp_path)
    status.sink._reachable = True  # the cluster is fine: only the disk is at fault here
    client = await aiohttp_client(create_status_app(status))
    full = OSError(errno.ENOSPC, "No space left on device")
    status.disk.failed("registry", tmp_path / "state" / "registry.json", full)
    status.disk.failed("registry", tmp_path / "state" / "registry.json", full)
    health = await (await client.get("/health")).json()
    assert health["status"] == "degraded"
    assert health["disk_errors"]["registry"]["error"] == "No space left on device"
    lines = (await (await client.get("/metrics")).text()).splitlines()
    assert 'shipper_disk_errors_total{target="registry"} 2' in lines
    assert 'shipper_disk_errors_total{target="backup"} 0' in lines

    status.disk.succeeded("registry")
    health = await (await client.get("/health")).json()
    assert health["status"] == "ok" and health["disk_errors"] == {}
