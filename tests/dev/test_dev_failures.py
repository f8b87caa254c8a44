"""When ``jarvis dev`` cannot start something: one line on stderr saying what, a non-zero exit,
and nothing left running, whatever had already started."""

from __future__ import annotations

import asyncio
import re

import pytest
from dev_harness import free_ports, is_running, processes_mentioning, start_jarvis_dev

from jarvis.logline import decode_line

pytestmark = pytest.mark.timeout(600)


@pytest.mark.parametrize(
    ("taken", "option"),
    [("api", "--port"), ("es", "--es-port"), ("shipper", "--shipper-port")],
)
async def test_a_port_already_taken_is_one_line_naming_it_and_nothing_starts(
    tmp_path, taken, option
):
    ports = free_ports()
    port = ports[taken]
    blocker = await asyncio.start_server(lambda r, w: None, "127.0.0.1", port)
    try:
        dev = await start_jarvis_dev(tmp_path, ports=ports)
        status = await dev.finish(60)
    finally:
        blocker.close()
        await blocker.wait_closed()
    assert status == 1, str(dev)
    assert len(dev.stderr) == 1, str(dev)
    assert dev.stderr[0].startswith("jarvis dev: port ")
    assert str(port) in dev.stderr[0] and option in dev.stderr[0]
    assert dev.pids() == {}, "nothing was started"
    assert processes_mentioning(str(dev.data_dir.resolve())) == []


async def test_a_process_that_fails_to_start_stops_everything_started_before_it(tmp_path):
    """The shipper refuses its settings after Elasticsearch and the server are up: both are
    stopped, and the error names the shipper. (LOG_FORMAT=console: the server's JSON lines
    are shown for people even on a pipe.)"""
    dev = await start_jarvis_dev(tmp_path, env={"SHIPPER_BATCH_SIZE": "0", "LOG_FORMAT": "console"})
    status = await dev.finish(300)
    data_dir = str(dev.data_dir.resolve())
    assert status == 1, str(dev)
    assert len(dev.stderr) == 1, str(dev)
    # The shipper's own one-line refusal, passed on.
    assert dev.stderr[0].startswith(
        "jarvis dev: jarvis-shipper exited with status 2 before it was ready: jarvis-shipper: "
    )
    assert "SHIPPER_BATCH_SIZE" in dev.stderr[0]
    pids = dev.pids()
    assert {"Elasticsearch", "jarvis serve", "jarvis-shipper"} <= pids.keys(), str(dev)
    for title, pid in pids.items():
        assert not is_running(pid, data_dir), f"{title} (pid {pid}) outlived jarvis dev"
    assert processes_mentioning(data_dir) == []
    assert not any("Jarvis dev stack ready" in line for line in dev.stdout)
    api_lines = [line for line in dev.stdout if line.startswith("api     | ")]
    assert any(
        re.fullmatch(r"api     \| [0-9:.]{12} INFO +jarvis ready  .*", line) for line in api_lines
    )
    assert not any(decode_line(line.removeprefix("api     | ")) for line in api_lines)
