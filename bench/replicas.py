"""Chats per second with the echo model: one replica alone (in-process buckets, SQLite
memory), one replica on Redis, two replicas sharing one Redis, and those two while Redis is
down. Prints a table.

Each server is a real ``jarvis serve`` process; ``redis-server`` (Debian package) runs on a
free port keeping nothing on disk; ``wrk`` (Debian package) posts chats spread over 1,000 user
IDs, with limits too high to refuse any (every chat still pays its two buckets). Two replicas
are loaded at once by one ``wrk`` each, the same connections in total, and their rates summed.
Everything shares this machine's cores: the servers, Redis and ``wrk``.

    python bench/replicas.py [--seconds 10] [--connections 32] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

USERS = 1000
WRK_SCRIPT = f"""
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  local user = math.random(1, {USERS})
  local body = '{{"message": "how are you today?", "user_id": "bench-' .. user .. '"}}'
  return wrk.format(nil, "/chat", nil, body)
end
"""


@dataclass
class Load:
    chats_per_second: float
    non_2xx: int
    p50: str
    p99: str


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(check, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError("not ready in time")
        time.sleep(0.1)


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def start_redis(directory: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory),
         "--save", "", "--appendonly", "no", "--logfile", str(directory / "redis.log")],
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"

    def pong() -> bool:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    wait_until(pong)
    return process, url


def start_jarvis(directory: Path, redis_url: str) -> tuple[subprocess.Popen[bytes], str]:
    directory.mkdir()
    port = free_port()
    env = {
        **os.environ,
        "JARVIS_LLM": "echo",
        "LOG_FILE": str(directory / "jarvis.jsonl"),
        "LOG_STDOUT": "false",
        "MEMORY_PATH": str(directory / "memory.sqlite3"),
        "REDIS_URL": redis_url,
        "RATE_LIMIT_PER_MINUTE": "1e9",
        "RATE_LIMIT_BURST": "1000000000",
        "HEALTH_INTERVAL": "1",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "jarvis", "serve", "--port", str(port)],
        cwd=directory, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: answers(url + "/health"))
    return process, url


def load(urls: list[str], seconds: int, connections: int, script: Path) -> Load:
    """``wrk`` on every URL at once, ``connections`` shared among them; rates summed."""
    wrk = ["wrk", "-t1", f"-c{connections // len(urls)}", f"-d{seconds}s", "--latency"]
    runs = [
        subprocess.Popen([*wrk, "-s", str(script), url], stdout=subprocess.PIPE, text=True)
        for url in urls
    ]
    outputs = [run.communicate()[0] for run in runs]
    rate = sum(float(_find(r"Requests/sec:\s+([\d.]+)", out)) for out in outputs)
    non_2xx = sum(int(_find(r"Non-2xx or 3xx responses:\s+(\d+)", out, "0")) for out in outputs)
    p50 = max((_find(r"50%\s+(\S+)", out) for out in outputs), key=_milliseconds)
    p99 = max((_find(r"99%\s+(\S+)", out) for out in outputs), key=_milliseconds)
    return Load(rate, non_2xx, p50, p99)


def _find(pattern: str, text: str, default: str | None = None) -> str:
    match = re.search(pattern, text)
    if match is None:
        if default is None:
            raise RuntimeError(f"wrk said:\n{text}")
        return default
    return match.group(1)


def _milliseconds(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1, "s": 1000, "m": 60000}[unit]


def measure(work: Path, seconds: int, connections: int, rounds: int) -> dict[str, list[Load]]:
    """Each setup loaded ``rounds`` times, in turn (so a burst of outside load on the machine
    hits one round of each, not every round of one); Redis down last, once."""
    script = work / "chat.lua"
    script.write_text(WRK_SCRIPT)
    (work / "redis").mkdir()
    redis, redis_url = start_redis(work / "redis")
    servers: list[subprocess.Popen[bytes]] = [redis]
    results: dict[str, list[Load]] = {}
    try:
        names_and_urls = (("alone", ""), ("a", redis_url), ("b", redis_url))
        started = [start_jarvis(work / name, url) for name, url in names_and_urls]
        servers += [process for process, _ in started]
        alone, *replicas = [url for _, url in started]
        setups = {
            "1 replica, no Redis": [alone],
            "1 replica, Redis": replicas[:1],
            "2 replicas, one Redis": replicas,
        }
        for _ in range(rounds):
            for name, urls in setups.items():
                results.setdefault(name, []).append(load(urls, seconds, connections, script))
        redis.kill()
        redis.wait(15)
        results["2 replicas, Redis down"] = [load(replicas, seconds, connections, script)]
    finally:
        for process in servers:
            if process.poll() is None:
                process.terminate()
                process.wait(15)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    for program in ("wrk", "redis-server"):
        if shutil.which(program) is None:
            sys.exit(f"{program} is needed: apt-get install {program}")
    with tempfile.TemporaryDirectory() as tmp:
        results = measure(Path(tmp), args.seconds, args.connections, args.rounds)
    print(
        f"{os.cpu_count()} cores, echo model, {args.connections} connections,"
        f" {args.rounds} rounds of {args.seconds} s: the median round (min-max chats/s)"
    )
    print(f"{'setup':24s} {'chats/s':>9s} {'range':>11s} {'p50':>9s} {'p99':>9s} {'non-2xx':>8s}")
    for name, loads in results.items():
        ordered = sorted(loads, key=lambda result: result.chats_per_second)
        median = ordered[len(ordered) // 2]
        spread = f"{ordered[0].chats_per_second:.0f}-{ordered[-1].chats_per_second:.0f}"
        print(
            f"{name:24s} {median.chats_per_second:9.0f} {spread:>11s} {median.p50:>9s}"
            f" {median.p99:>9s} {median.non_2xx:8d}"
        )


if __name__ == "__main__":
    main()
