"""How long ``/metrics`` holds the event loop with thousands of label sets (aioprometheus issue 98).

Side by side: aioprometheus's one-shot ``render()`` versus Jarvis's endpoint, which renders one
metric family at a time and yields between families. A ticker task records the longest gap
between its wake-ups while each render runs: that gap is what every other request waits.

    python bench/metrics_render.py [--label-sets 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import time

from aiohttp import web
from aiohttp.test_utils import make_mocked_request
from aioprometheus.renderer import render

from jarvis.metrics import Metrics
from jarvis.web.keys import METRICS
from jarvis.web.metrics_endpoint import metrics as metrics_endpoint


def populate(metrics: Metrics, label_sets: int) -> None:
    for i in range(label_sets):
        labels = {"method": "GET", "route": f"/route/{i}"}
        metrics.http_requests_total.inc({**labels, "status": "200"})
        metrics.http_request_duration_seconds.observe(labels, 0.01)
        metrics.service_health_status.set({"service": f"svc-{i}"}, 1)
        metrics.service_response_seconds.observe({"service": f"svc-{i}"}, 0.002)


async def longest_stall(render_once) -> tuple[float, float]:
    gaps: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    started = time.perf_counter()
    await render_once()
    elapsed = time.perf_counter() - started
    done.set()
    await task
    return elapsed, max(gaps)


async def main(label_sets: int) -> None:
    metrics = Metrics.create()
    populate(metrics, label_sets)
    app = web.Application()
    app[METRICS] = metrics

    async def one_shot() -> None:
        render(metrics.registry, [])

    async def jarvis() -> None:
        await metrics_endpoint(make_mocked_request("GET", "/metrics", app=app))

    for name, fn in (("aioprometheus render()", one_shot), ("jarvis /metrics", jarvis)):
        elapsed, stall = await longest_stall(fn)
        render_ms, stall_ms = elapsed * 1000, stall * 1000
        print(f"{name:24s}: render {render_ms:7.1f} ms, longest loop stall {stall_ms:7.1f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--label-sets", type=int, default=5000)
    asyncio.run(main(parser.parse_args().label_sets))
