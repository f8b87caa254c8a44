"""Every Grafana panel query and every alert expression works against the real thing.

A real ``jarvis serve`` (echo LLM) and a real ``jarvis-shipper`` (shipping into the session's
Elasticsearch) are scraped every second by a real Prometheus loading our ``prometheus.yml``
(targets rewritten to loopback ports) and our alert rules. After chat traffic over HTTP and
WebSocket, input errors and rate-limit hits, each panel's query must return at least one finite
value over the traffic's time range, and each alert rule must be loaded and evaluated without
error.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
import shutil
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
import yaml
from elasticsearch import AsyncElasticsearch
from support.elasticsearch_node import wipe_jarvis_logs
from support.jarvis_server import JarvisProcess, free_port, start_jarvis_serve

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = ROOT / "config" / "prometheus"
DASHBOARDS_DIR = ROOT / "config" / "grafana" / "dashboards"
# What Grafana would put in place of its variables for a 1 s scrape interval and this test's
# time range; a rate window of several scrapes, as Grafana's own $__rate_interval is.
RATE_INTERVAL = "10s"
WAIT_SECONDS = 60.0

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(600)]


@dataclass
class Stack:
    prometheus_url: str
    session: aiohttp.ClientSession
    traffic_started: float


def _panel_queries() -> list[tuple[str, str, str]]:
    """(dashboard file, panel title, PromQL) of every panel target of the committed JSON."""
    queries = []
    for path in sorted(DASHBOARDS_DIR.glob("*.json")):
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel["targets"]:
                queries.append((path.name, panel["title"], target["expr"]))
    return queries


def _alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load((PROMETHEUS_DIR / "alerts.yml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def loopback_prometheus_config(ports: dict[str, int]) -> dict[str, Any]:
    """Our prometheus.yml with each job scraping 127.0.0.1:<its port> every second.

    Jobs without a port here (a process not started) are dropped; the rule files are kept;
    alerting is dropped, as no Alertmanager runs in the test.
    """
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    config["global"].update(scrape_interval="1s", scrape_timeout="1s", evaluation_interval="1s")
    config.pop("alerting", None)
    config["rule_files"] = [str(PROMETHEUS_DIR / name) for name in config["rule_files"]]
    jobs = []
    for job in config["scrape_configs"]:
        if job["job_name"] in ports:
            # In place of Compose's DNS discovery of the replicas: one loopback target.
            job.pop("dns_sd_configs", None)
            job["static_configs"] = [{"targets": [f"127.0.0.1:{ports[job['job_name']]}"]}]
            jobs.append(job)
    config["scrape_configs"] = jobs
    return config


async def _eventually(check: Callable[[], Awaitable[bool]], what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {WAIT_SECONDS:g} s")
        await asyncio.sleep(0.25)


async def _spawn(args: list[str], log: Path, env: dict[str, str] | None = None) -> Any:
    with log.open("wb") as out:
        return await asyncio.create_subprocess_exec(
            *args,
            env={**os.environ, **(env or {})},
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )


async def _stop(process: Any) -> None:
    if process.returncode is None:
        process.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), 20)
    except TimeoutError:
        process.kill()
        await process.wait()


async def _answers(session: aiohttp.ClientSession, url: str) -> bool:
    with contextlib.suppress(aiohttp.ClientError):
        async with session.get(url) as response:
            return response.status == 200
    return False


async def _query(session: aiohttp.ClientSession, base: str, expr: str) -> dict[str, Any]:
    async with session.get(f"{base}/api/v1/query", params={"query": expr}) as response:
        return await response.json()


async def _scalar(session: aiohttp.ClientSession, base: str, expr: str) -> float:
    """The value of a one-series query, or -1 while Prometheus has no such series."""
    result = (await _query(session, base, expr))["data"]["result"]
    return float(result[0]["value"][1]) if result else -1.0


async def _start_shipper(
    workdir: Path, log_file: Path, es_url: str, session: aiohttp.ClientSession
) -> tuple[Any, int]:
    port = free_port()
    env = {
        "LOG_FILE": str(log_file),
        "SHIPPER_STATE_DIR": str(workdir / "shipper-state"),
        "SHIPPER_METRICS_HOST": "127.0.0.1",
        "SHIPPER_METRICS_PORT": str(port),
        "SHIPPER_FLUSH_INTERVAL": "0.2",
        "ELASTICSEARCH_URL": es_url,
    }
    command = [sys.executable, "-c", "import sys; from shipper.cli import main; sys.exit(main())"]
    process = await _spawn(command, workdir / "shipper.log", env)
    url = f"http://127.0.0.1:{port}/health"

    async def up() -> bool:
        assert process.returncode is None, (workdir / "shipper.log").read_text()[-2000:]
        return await _answers(session, url)

    await _eventually(up, "jarvis-shipper serving /health")
    return process, port


async def _drive_traffic(
    api: str, session: aiohttp.ClientSession, round_: int, flood: bool = False
) -> None:
    """Chat over HTTP and WebSocket, the input errors users make, and (``flood``) rate-limit
    hits; the flood comes last, as it leaves this address without WebSocket upgrades."""
    for i in range(3):
        payload = {"message": f"hello {i}", "user_id": f"user-{round_}-{i}"}
        async with session.post(f"{api}/chat", json=payload) as response:
            assert response.status == 200, await response.text()
    bad_bodies: list[dict[str, Any]] = [
        {"data": b"{not json", "headers": {"Content-Type": "application/json"}},
        {"json": {"user_id": f"user-{round_}-x"}},
        {"data": b"x" * (70 * 1024)},
    ]
    for body in bad_bodies:
        async with session.post(f"{api}/chat", **body) as response:
            assert 400 <= response.status < 500, await response.text()
    for i in range(2):
        async with session.ws_connect(f"{api}/ws") as ws:
            await ws.send_json({"message": "hi", "user_id": f"ws-{round_}-{i}"})
            while (frame := await ws.receive_json(timeout=10))["type"] != "done":
                assert frame["type"] == "token", frame
            await ws.send_str("{broken")
            assert (await ws.receive_json(timeout=10))["type"] == "error"
    async with session.get(f"{api}/ws") as response:
        assert response.status == 400  # not an upgrade: a rejected connection
    if not flood:
        return
    # One user over its burst on /chat, then WebSocket upgrades from one address over theirs.
    for _ in range(12):
        payload = {"message": "again", "user_id": f"flooder-{round_}"}
        async with session.post(f"{api}/chat", json=payload) as response:
            assert response.status in (200, 429)
    for _ in range(12):
        with contextlib.suppress(aiohttp.WSServerHandshakeError):
            async with session.ws_connect(f"{api}/ws"):
                pass


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory, es_url: str) -> AsyncIterator[Stack]:
    prometheus_bin = shutil.which("prometheus")
    if prometheus_bin is None:
        pytest.fail("prometheus is not on PATH: .ci/setup installs it (Debian package)")
    workdir = tmp_path_factory.mktemp("ops-live")
    async with contextlib.AsyncExitStack() as exits:
        session = await exits.enter_async_context(aiohttp.ClientSession())
        jarvis: JarvisProcess = await start_jarvis_serve(
            workdir,
            env={
                "HEALTH_INTERVAL": "1",
                "RATE_LIMIT_BURST": "8",
            },
        )
        exits.push_async_callback(jarvis.terminate)
        ports = {"jarvis-api": int(jarvis.url.rsplit(":", 1)[1])}

        # Leave the shared cluster as the other tests expect it: without our indices.
        es = AsyncElasticsearch(es_url, request_timeout=60)
        exits.push_async_callback(es.close)
        exits.push_async_callback(wipe_jarvis_logs, es)
        shipper, ports["jarvis-shipper"] = await _start_shipper(
            workdir, jarvis.log_file, es_url, session
        )
        exits.push_async_callback(_stop, shipper)

        ports["prometheus"] = free_port()
        config = workdir / "prometheus.yml"
        config.write_text(yaml.safe_dump(loopback_prometheus_config(ports)))
        prometheus = await _spawn(
            [
                prometheus_bin,
                f"--config.file={config}",
                f"--storage.tsdb.path={workdir / 'tsdb'}",
                f"--web.listen-address=127.0.0.1:{ports['prometheus']}",
            ],
            workdir / "prometheus.log",
        )
        exits.push_async_callback(_stop, prometheus)
        prom = f"http://127.0.0.1:{ports['prometheus']}"

        async def all_targets_up() -> bool:
            assert prometheus.returncode is None, (workdir / "prometheus.log").read_text()
            with contextlib.suppress(aiohttp.ClientError):
                return await _scalar(session, prom, "sum(up)") == len(ports)
            return False

        await _eventually(all_targets_up, "Prometheus scraping every target")

        # Histogram series appear with their first observation; a rate needs an earlier
        # sample of the series, so a first round creates them and Prometheus scrapes them
        # before the round that the panels will show.
        traffic_started = time.time()
        await _drive_traffic(jarvis.url, session, 1)
        first_round = {
            "sum(ws_message_seconds_count)": 0.0,
            "sum(llm_generate_seconds_count)": 0.0,
            "sum(shipper_bulk_seconds_count)": 0.0,
        }
        for expr in first_round:
            first_round[expr] = await _wait_positive(session, prom, expr)

        await _drive_traffic(jarvis.url, session, 2, flood=True)
        for expr, seen in first_round.items():

            async def grew(expr: str = expr, seen: float = seen) -> bool:
                return await _scalar(session, prom, expr) > seen

            await _eventually(grew, f"Prometheus seeing {expr} grow in the second round")

        yield Stack(prom, session, traffic_started)


async def _wait_positive(session: aiohttp.ClientSession, prom: str, expr: str) -> float:
    async def positive() -> bool:
        return await _scalar(session, prom, expr) > 0

    await _eventually(positive, f"Prometheus seeing {expr}")
    return await _scalar(session, prom, expr)


def _as_grafana_would(expr: str, range_seconds: int) -> str:
    return (
        expr.replace("$__rate_interval", RATE_INTERVAL)
        .replace("$__range", f"{range_seconds}s")
        .replace("$__interval", "1s")
    )


@pytest.mark.parametrize(
    ("dashboard", "panel", "expr"),
    _panel_queries(),
    ids=[f"{d}:{p}:{i}" for i, (d, p, _) in enumerate(_panel_queries())],
)
async def test_panel_returns_data(stack: Stack, dashboard: str, panel: str, expr: str) -> None:
    # Steps fall on start + k s: ending one step past now puts the last step after the newest
    # sample, which the fixture waited for.
    end = time.time() + 1
    start = stack.traffic_started - 2
    params = {
        "query": _as_grafana_would(expr, math.ceil(end - start)),
        "start": f"{start:.3f}",
        "end": f"{end:.3f}",
        "step": "1",
    }
    async with stack.session.get(
        f"{stack.prometheus_url}/api/v1/query_range", params=params
    ) as response:
        body = await response.json()
    assert body["status"] == "success", body.get("error")
    values = [
        float(value)
        for series in body["data"]["result"]
        for _, value in series["values"]
        if math.isfinite(float(value))
    ]
    assert values, f"{dashboard} / {panel}: no data for {params['query']}"


@pytest.mark.parametrize("rule", _alert_rules(), ids=lambda rule: rule["alert"])
async def test_alert_expression_parses_and_evaluates(stack: Stack, rule: dict[str, Any]) -> None:
    body = await _query(stack.session, stack.prometheus_url, rule["expr"])
    assert body["status"] == "success", body.get("error")


async def test_prometheus_loaded_and_evaluates_every_alert_rule(stack: Stack) -> None:
    expected = {rule["alert"] for rule in _alert_rules()}

    async def rules() -> list[dict[str, Any]]:
        async with stack.session.get(f"{stack.prometheus_url}/api/v1/rules") as response:
            groups = (await response.json())["data"]["groups"]
        return [rule for group in groups for rule in group["rules"]]

    async def all_evaluated() -> bool:
        # Never evaluated: Go's zero time.
        return not any(r["lastEvaluation"].startswith("0001") for r in await rules())

    await _eventually(all_evaluated, "every rule evaluated once")
    loaded = await rules()
    assert {r["name"] for r in loaded} == expected
    assert [r for r in loaded if r["health"] != "ok"] == []


async def test_shipper_panels_show_a_working_pipeline(stack: Stack) -> None:
    """The shipper panels above are fed by a shipper that really indexes, not one failing."""
    assert await _scalar(stack.session, stack.prometheus_url, "min(shipper_elasticsearch_up)") == 1
    shipped = await _scalar(
        stack.session, stack.prometheus_url, "sum(shipper_events_shipped_total)"
    )
    assert shipped > 0
