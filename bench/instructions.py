"""What a request costs the server in instructions, ours beside the bare peer: the steady twin
of the GET and chat rows, whose requests per second move by a third with this machine's
neighbours.

Each server (the same as ``server_overhead``'s and ``chat_memory``'s) runs under valgrind's
``cachegrind`` (``--cache-sim=no``: it counts the instructions the process executes, all its
threads, the kernel's left out), is sent a few requests, then many more in another run; the
difference of the two totals over the difference of the requests is what one request costs,
start-up and shutdown cancelling out. Counts repeat within about 1% from run to run.

Rows: instructions a request, lower is better; the goals are the throughput rows' goals turned
over (0.85 of bare aiohttp's requests/s is at most 1/0.85 of its instructions a request).

    python bench/instructions.py [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.comparison import Row
from bench.server_overhead import free_port

BENCH = Path(__file__).resolve().parent
# Requests over this many keep-alive connections, as a loaded server sees them.
CONNECTIONS = 8
FEW, MANY = 200, 2_200
QUICK_FEW, QUICK_MANY = 40, 140
# Under valgrind a Python server starts some 50 times slower.
START_TIMEOUT = 300.0

Request = Callable[[int], bytes]


def get_ping(_: int) -> bytes:
    return b"GET /ping HTTP/1.1\r\nHost: bench\r\nUser-Agent: bench\r\n\r\n"


CHAT_USERS = 1000


def post_chat(number: int) -> bytes:
    """The chat bench's request: one of its 1,000 users, as its wrk script spreads them (any
    1,000 numbers in a row name each user once)."""
    body = b'{"message":"Bonjour Jarvis, quel temps fait-il ?","user_id":"user-%d"}' % (
        number * 7919 % CHAT_USERS
    )
    return (
        b"POST /chat HTTP/1.1\r\nHost: bench\r\nUser-Agent: bench\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    )


@dataclass(frozen=True)
class Server:
    """A bench server: ``script --serve kind``, which answers ``request``s, the first
    ``warm_up`` of them left out of the count (for chats: a first turn per user, which the
    throughput bench's tens of thousands of chats make rare)."""

    script: str
    kind: str
    request: Request
    warm_up: int


@dataclass(frozen=True)
class Comparison:
    name: str
    ours: Server
    bare: Server
    peer_name: str
    goal: float


COMPARISONS = (
    Comparison(
        "GET small JSON, instructions a request (valgrind), full stack vs bare aiohttp",
        Server("server_overhead.py", "full", get_ping, 100),
        Server("server_overhead.py", "bare", get_ping, 100),
        "bare aiohttp",
        round(1 / 0.85, 2),
    ),
    Comparison(
        "POST /chat with SQLite memory, instructions a chat (valgrind), vs bare handler",
        Server("chat_memory.py", "ours", post_chat, CHAT_USERS),
        Server("chat_memory.py", "bare", post_chat, CHAT_USERS),
        "bare aiohttp handler",
        round(1 / 0.5, 2),
    ),
)


def instructions(server: Server, requests: int) -> int:
    """Instructions the server executed, from start to exit, having answered its warm-up and
    ``requests`` more."""
    port = free_port()
    with tempfile.TemporaryDirectory() as workdir:
        log = Path(workdir) / "valgrind.log"
        process = subprocess.Popen(
            ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
             f"--log-file={log}", sys.executable, str(BENCH / server.script),
             "--serve", server.kind, "--port", str(port), "--workdir", workdir],
            # The same dict layouts every run, so the same work.
            env={**os.environ, "PYTHONHASHSEED": "0"},
        )  # fmt: skip
        try:
            asyncio.run(send(port, server, requests, process))
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(120)
        counted = re.search(r"I\s+refs:\s+([\d,]+)", log.read_text())
        if counted is None:
            raise RuntimeError(f"valgrind counted nothing:\n{log.read_text()[-2000:]}")
        return int(counted.group(1).replace(",", ""))


async def send(port: int, server: Server, count: int, process: subprocess.Popen[bytes]) -> None:
    """Once the server listens, its warm-up then ``count`` requests, over ``CONNECTIONS``
    keep-alive connections; every answer must be a 200."""
    request = server.request
    loop = asyncio.get_running_loop()
    deadline = loop.time() + START_TIMEOUT
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args!r} exited with {process.returncode}")
        try:
            await answered(port, [request(0)])
            break
        except OSError:
            if loop.time() > deadline:
                raise RuntimeError(f"no server on port {port} after {START_TIMEOUT:g} s") from None
            await asyncio.sleep(0.5)
    for numbers in (range(1, server.warm_up), range(server.warm_up, server.warm_up + count)):
        await asyncio.gather(
            *(
                answered(port, [request(n) for n in numbers[first::CONNECTIONS]])
                for first in range(CONNECTIONS)
            )
        )


async def answered(port: int, requests: list[bytes]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for request in requests:
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            if not head.startswith(b"HTTP/1.1 200"):
                raise RuntimeError(f"the server answered {head.splitlines()[0]!r}")
            length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
            if length is None:
                raise RuntimeError(f"an answer without Content-Length: {head!r}")
            await reader.readexactly(int(length.group(1)))
    finally:
        writer.close()


def per_request(server: Server, few: int, many: int) -> float:
    """Instructions of one request: start-up, shutdown and warm-up cancel out."""
    return (instructions(server, many) - instructions(server, few)) / (many - few)


def compare(comparison: Comparison, few: int, many: int) -> Row:
    bare = per_request(comparison.bare, few, many)
    ours = per_request(comparison.ours, few, many)
    return Row(
        comparison.name,
        "k instructions",
        ours / 1000,
        bare / 1000,
        comparison.peer_name,
        comparison.goal,
        higher_is_better=False,
    )


def run(quick: bool) -> list[Row]:
    """Both rows; ``quick`` sends 100 requests more in the second run instead of 2,000."""
    if shutil.which("valgrind") is None:
        raise RuntimeError("valgrind is needed: apt-get install valgrind")
    few, many = (QUICK_FEW, QUICK_MANY) if quick else (FEW, MANY)
    return [compare(comparison, few, many) for comparison in COMPARISONS]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="100 requests apart, not 2,000")
    args = parser.parse_args()
    for row in run(args.quick):
        print(
            f"{row.name}: ours {row.ours:.1f}k, {row.peer_name} {row.peer:.1f}k, "
            f"ratio {row.ratio:.2f} (goal <= {row.goal})"
        )


if __name__ == "__main__":
    main()
