"""Bounded memory whatever the backlog: with nowhere to send, reading pauses."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

from shipper_harness import ShipperProcess, run_writer


def closed_port_url() -> str:
    """A loopback URL where nothing listens (the port is released right away)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


async def test_reading_pauses_while_the_queues_are_full(tmp_path: Path) -> None:
    log = tmp_path / "app.jsonl"
    writer = await run_writer(log, 100_000, "backlog")
    assert await writer.wait() == 0
    shipper = ShipperProcess(log, tmp_path / "state", closed_port_url())
    shipper.start()
    try:
        read = -1.0
        for _ in range(100):
            await asyncio.sleep(0.3)
            metrics = await shipper.metrics()
            if metrics["shipper_events_read_total"] == read:
                break
            read = metrics["shipper_events_read_total"]
        assert 0 < read < 100_000
        assert metrics["shipper_queue_events"] == read
        assert metrics["shipper_lag_bytes"] == log.stat().st_size
        assert metrics["shipper_elasticsearch_up"] == 0
        assert await shipper.stop() == 0
    finally:
        if shipper.process and shipper.process.poll() is None:
            shipper.process.kill()
