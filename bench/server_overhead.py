"""What one request costs with Jarvis's full middleware stack versus a bare aiohttp handler.

Both servers serve the same trivial JSON handler, each in its own process; ``wrk`` (Debian
package) loads them one after the other from a third process. The full stack adds the
request-ID middleware and response hook, route metrics, JSON errors, and a JSON access-log line
per request written by the background log writer to a file.

    python bench/server_overhead.py [--seconds 10] [--connections 32]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

from aiohttp import web


async def ping(request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


def serve(kind: str, port: int, log_dir: str) -> None:
    if kind == "bare":
        app = web.Application()
        app.router.add_get("/ping", ping)
        web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)
        return
    from jarvis.app import create_app
    from jarvis.logs.setup import configure_logging
    from jarvis.settings import Settings

    settings = dataclasses.replace(
        Settings(),
        llm_provider="echo",
        log_file=os.path.join(log_dir, "jarvis.jsonl"),
        log_stdout=False,
        memory_path=os.path.join(log_dir, "memory.sqlite3"),
        rate_limit_enabled=False,
        log_queue_size=1_000_000,
    )
    writer = configure_logging(settings)
    app = create_app(settings, log_writer=writer)
    app.router.add_get("/ping", ping)
    # create_app wires the JSON access log itself.
    web.run_app(app, host="127.0.0.1", port=port, print=None)
    writer.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def measure(kind: str, seconds: int, connections: int) -> tuple[float, str]:
    port = free_port()
    with tempfile.TemporaryDirectory() as log_dir:
        server = subprocess.Popen(
            [sys.executable, __file__, "--serve", kind, "--port", str(port), "--log-dir", log_dir]
        )
        try:
            url = f"http://127.0.0.1:{port}/ping"
            for _ in range(100):
                try:
                    urllib.request.urlopen(url, timeout=1).read()
                    break
                except OSError:
                    time.sleep(0.1)
            result = subprocess.run(
                ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", url],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
        finally:
            server.terminate()
            server.wait(15)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", result.stdout).group(1))  # type: ignore[union-attr]
    p99 = re.search(r"99%\s+(\S+)", result.stdout)
    return rps, p99.group(1) if p99 else "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--serve", choices=("bare", "full"))
    parser.add_argument("--port", type=int)
    parser.add_argument("--log-dir")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port, args.log_dir)
        return
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed: apt-get install wrk")
    bare_rps, bare_p99 = measure("bare", args.seconds, args.connections)
    full_rps, full_p99 = measure("full", args.seconds, args.connections)
    print(f"bare aiohttp handler : {bare_rps:9.0f} req/s  p99 {bare_p99}")
    print(f"full Jarvis stack    : {full_rps:9.0f} req/s  p99 {full_p99}")
    print(f"full / bare          : {full_rps / bare_rps:9.2f}x throughput")
    print(f"added cost / request : {1e6 / full_rps - 1e6 / bare_rps:9.1f} µs (one core)")


if __name__ == "__main__":
    asyncio.set_event_loop_policy(None)
    main()
