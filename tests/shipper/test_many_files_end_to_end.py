"""Many log files at once: each followed, whatever the process's limit of open files."""

from __future__ import annotations

from pathlib import Path

import orjson
from elasticsearch import AsyncElasticsearch
from shipper_harness import assert_exactly_once, markers_in_elasticsearch


async def test_more_live_files_than_the_soft_open_files_limit_are_all_shipped(
    tmp_path: Path, es_client: AsyncElasticsearch, shippers
) -> None:
    """The tailer holds a descriptor on each live file it follows; a soft limit far below the
    hard one (Debian's 1,024 against 1,048,576) must not leave files unread."""
    written = []
    for number in range(100):
        markers = [f"file{number}-{line}" for line in range(3)]
        (tmp_path / f"app-{number}.jsonl").write_bytes(
            b"".join(orjson.dumps({"message": "m", "marker": m}) + b"\n" for m in markers)
        )
        written += markers
    shipper = shippers(tmp_path / "*.jsonl")
    shipper.prefix = ["prlimit", "--nofile=64:4096", "--"]
    shipper.start()
    await shipper.wait_until_caught_up(len(written))
    assert_exactly_once(await markers_in_elasticsearch(es_client), written)
    started = next(
        line for line in shipper.own_logs() if line["message"] == "jarvis-shipper started"
    )
    assert started["open_files_limit"] == 4096
    assert await shipper.stop() == 0
