"""What a chat turn with SQLite conversation memory costs against a bare aiohttp handler.

Both servers take ``POST /chat`` with the same JSON body from ``wrk``, spread over many user
IDs by a Lua script. The bare peer decodes the body and answers a similar JSON object; ours is
the whole stack ``jarvis serve`` runs (request-ID, metrics, errors, JSON access log written to a
file) with the echo model and the default SQLite memory, which loads each user's history and
stores every turn. Rate limiting is off: this row measures memory, not limits.

Each server runs alone on core 0; ``wrk`` loads it from core 1. The two alternate (bare, ours,
bare, ours) so a neighbour's load hits both alike; the best run of each counts. The row compares
chats per second of the server's own CPU time (all its threads, all on core 0): on a quiet machine
that is wrk's chats/s, and on a shared one it still says what one core would give, where wrk's
figure mostly says how much of the core the neighbours left. Both are printed.

    python bench/chat_memory.py [--seconds 10] [--connections 32] [--users 1000] [--rounds 2]
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
from pathlib import Path

import orjson
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.comparison import Row

ROW_NAME = "POST /chat with SQLite memory vs bare handler"
SERVER_CORE = 0
LOAD_CORE = 1

_REQUESTS = """
local users = {users}
local counter = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  counter = counter + 1
  local user = (counter * 7919) % users
  local body = string.format(
    '{{"message":"Bonjour Jarvis, quel temps fait-il ?","user_id":"user-%d"}}', user)
  return wrk.format(nil, nil, nil, body)
end
"""


async def bare_chat(request: web.Request) -> web.Response:
    body = orjson.loads(await request.read())
    answer = "Echo: " + body["message"]
    return web.json_response({"response": answer, "request_id": body["user_id"]})


def serve(kind: str, port: int, workdir: str) -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {SERVER_CORE})
    if kind == "bare":
        app = web.Application()
        app.router.add_post("/chat", bare_chat)
        web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)
        return
    from jarvis.app import create_app
    from jarvis.logs.setup import configure_logging
    from jarvis.settings import Settings

    settings = dataclasses.replace(
        Settings(),
        llm_provider="echo",
        log_file=os.path.join(workdir, "jarvis.jsonl"),
        log_stdout=False,
        memory_path=os.path.join(workdir, "memory.sqlite3"),
        rate_limit_enabled=False,
        log_queue_size=1_000_000,
    )
    writer = configure_logging(settings)
    web.run_app(create_app(settings, log_writer=writer), host="127.0.0.1", port=port, print=None)
    writer.stop()


@dataclasses.dataclass(frozen=True)
class Measured:
    chats_per_second: float
    p50: str
    # Chats per second of CPU the server used, all its threads: what a whole core would give,
    # less sensitive than chats/s to neighbours taking turns on the same core.
    chats_per_cpu_second: float


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_serving(url: str, server: subprocess.Popen[bytes]) -> None:
    body = b'{"message":"warm up","user_id":"warm-up"}'
    for _ in range(300):
        if server.poll() is not None:
            raise RuntimeError(f"the {url} server exited with {server.returncode}")
        try:
            request = urllib.request.Request(
                url, data=body, headers={"Content-Type": "application/json"}
            )
            urllib.request.urlopen(request, timeout=1).read()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"no answer from {url} in 30 s")


def measure(kind: str, seconds: int, connections: int, users: int) -> Measured:
    port = free_port()
    with tempfile.TemporaryDirectory() as workdir:
        script = Path(workdir) / "requests.lua"
        script.write_text(_REQUESTS.format(users=users))
        server = subprocess.Popen(
            [sys.executable, __file__, "--serve", kind, "--port", str(port), "--workdir", workdir]
        )
        try:
            url = f"http://127.0.0.1:{port}/chat"
            _wait_until_serving(url, server)
            cpu_before = _cpu_seconds(server.pid)
            result = subprocess.run(
                ["taskset", "-c", str(LOAD_CORE), "wrk", "-t1", f"-c{connections}",
                 f"-d{seconds}s", "--latency", "-s", str(script), url],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            cpu = _cpu_seconds(server.pid) - cpu_before
        finally:
            server.terminate()
            try:
                server.wait(15)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    refused = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", result.stdout)
    if refused:
        raise RuntimeError(f"{kind}: {refused.group(1)} chats failed\n{result.stdout}")
    rps = re.search(r"Requests/sec:\s+([\d.]+)", result.stdout)
    p50 = re.search(r"^\s+50%\s+(\S+)", result.stdout, re.MULTILINE)
    chats = re.search(r"(\d+) requests in", result.stdout)
    if rps is None or chats is None:
        raise RuntimeError(f"cannot read wrk's output:\n{result.stdout}{result.stderr}")
    return Measured(float(rps.group(1)), p50.group(1) if p50 else "?", int(chats.group(1)) / cpu)


def _cpu_seconds(pid: int) -> float:
    """User and system CPU time of process ``pid`` so far, all threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def compare(
    seconds: int, connections: int, users: int, rounds: int
) -> tuple[list[Measured], list[Measured]]:
    """Alternate the bare peer and ours, ``rounds`` times each."""
    if shutil.which("wrk") is None:
        raise RuntimeError("wrk is needed: apt-get install -y wrk")
    bare: list[Measured] = []
    ours: list[Measured] = []
    for _ in range(rounds):
        bare.append(measure("bare", seconds, connections, users))
        ours.append(measure("ours", seconds, connections, users))
    return bare, ours


def run(quick: bool) -> list[Row]:
    """One row: chats per second of one core with SQLite memory, over a bare handler's
    (goal 0.5)."""
    seconds, rounds = (1, 1) if quick else (10, 2)
    bare, ours = compare(seconds, 32, 1000, rounds)
    return [
        Row(
            ROW_NAME,
            "chats/s of one core",
            max(m.chats_per_cpu_second for m in ours),
            max(m.chats_per_cpu_second for m in bare),
            "bare aiohttp handler",
            0.5,
        )
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--serve", choices=("bare", "ours"))
    parser.add_argument("--port", type=int)
    parser.add_argument("--workdir")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port, args.workdir)
        return
    bare, ours = compare(args.seconds, args.connections, args.users, args.rounds)
    for name, runs in (("bare aiohttp handler", bare), ("Jarvis, SQLite memory", ours)):
        shown = ", ".join(
            f"{m.chats_per_second:.0f}/s (p50 {m.p50}, {m.chats_per_cpu_second:.0f}/CPU-s)"
            for m in runs
        )
        print(f"{name:22}: {shown}")
    ratio = max(m.chats_per_second for m in ours) / max(m.chats_per_second for m in bare)
    cpu_ratio = max(m.chats_per_cpu_second for m in ours) / max(
        m.chats_per_cpu_second for m in bare
    )
    print(f"ours / bare (best)    : {ratio:.2f}x chats/s, {cpu_ratio:.2f}x per CPU-s; goal 0.5")


if __name__ == "__main__":
    asyncio.set_event_loop_policy(None)
    main()
