"""Streamed answers over WebSockets: frames per second from Jarvis's ``/ws`` versus a bare
aiohttp WebSocket sending the same frames.

100 WebSockets each chat in a loop; every answer is 40 tokens, one text frame per token, then
the done frame. Ours is the real ``/ws`` of ``jarvis serve`` (echo model, SQLite memory, rate
limits enabled, JSON logs to a file); the peer is a bare aiohttp handler that streams the same
echo model's tokens as the same JSON frames with ``send_json``, and nothing else. Each server
runs in its own process pinned to one core; the load is a lean asyncio client (``Chatter``) in
a process pinned to another core. Bare and ours are loaded in turn, six rounds; the round of
median ratio is reported.

    python bench/websocket_frames.py [--seconds 3] [--rounds 6] [--sockets 100] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

import orjson
from aiohttp import WSMsgType, web

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.comparison import Row
from bench.server_overhead import (
    LOAD_CORE,
    Drive,
    Measured,
    jarvis_app,
    load_in_turns,
    loop_lag_of,
    median_round,
    ping,
    pinned,
    server_process,
)
from jarvis.llm.echo import EchoClient

ROW_NAME = "WebSocket token frames, /ws vs bare aiohttp"
PEER_NAME = "bare aiohttp WebSocket"
GOAL = 0.85
SOCKETS = 100
# "Echo: " and then these 39 words: 40 tokens, 40 token frames and a done frame per answer.
MESSAGE = " ".join(f"word{i}" for i in range(39))
FRAMES_PER_ANSWER = 41


async def bare_websocket(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    llm = EchoClient()
    async for frame in ws:
        if frame.type is not WSMsgType.TEXT:
            continue
        chat = json.loads(frame.data)
        tokens = []
        async for token in llm.stream_chat([{"role": "user", "content": chat["message"]}]):
            tokens.append(token)
            await ws.send_json({"type": "token", "content": token})
        await ws.send_json({"type": "done", "response": "".join(tokens), "request_id": "-"})
    return ws


def serve(kind: str, port: int, workdir: str) -> None:
    if kind == "bare":
        app = web.Application()
        app.router.add_get("/ws", bare_websocket)
        app.router.add_get("/ping", ping)
        web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)
        return
    app = jarvis_app(workdir)
    web.run_app(app, host="127.0.0.1", port=port, print=None, shutdown_timeout=1)


class Chatter(asyncio.Protocol):
    """One WebSocket chatting in a loop, counting the server's frames without decoding them
    (each answer's last frame is only checked to be its done frame). An aiohttp client spends
    about as much CPU on a frame as the server sending it: on one core it, not the server,
    would set the pace, and the bench would measure the client."""

    def __init__(self, host: str, user: str) -> None:
        loop = asyncio.get_running_loop()
        self.frames = 0
        self.upgraded: asyncio.Future[None] = loop.create_future()
        self._turns_done: asyncio.Future[None] = loop.create_future()
        self._loop = loop
        self._host = host
        self._chat = masked_text_frame(orjson.dumps({"message": MESSAGE, "user_id": user}))
        self._buffer = bytearray()
        self._in_answer = 0
        self._until = 0.0
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        transport.write(
            f"GET /ws HTTP/1.1\r\nHost: {self._host}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n".encode()
        )

    def chat_until(self, until: float) -> asyncio.Future[None]:
        """Ask, answer after answer, until ``until`` (loop time); done once the last is whole."""
        assert self._transport is not None
        self._until = until
        self._turns_done = self._loop.create_future()
        self._transport.write(self._chat)
        return self._turns_done

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        if not self.upgraded.done():
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            if not buffer.startswith(b"HTTP/1.1 101"):
                self.upgraded.set_exception(RuntimeError(bytes(buffer[:end]).decode()))
                return
            del buffer[: end + 4]
            self.upgraded.set_result(None)
        # Server frames are unmasked: a header of 2, 4 or 10 bytes, then the payload.
        pos, size = 0, len(buffer)
        while size - pos >= 2:
            length, head = buffer[pos + 1] & 0x7F, 2
            if length == 126:
                length, head = int.from_bytes(buffer[pos + 2 : pos + 4]), 4
            elif length == 127:
                length, head = int.from_bytes(buffer[pos + 2 : pos + 10]), 10
            end = pos + head + length
            if end > size:
                break
            opcode = buffer[pos] & 0x0F
            if opcode == 1:
                self._text_frame(buffer, pos + head, end)
            elif opcode == 8:
                self._fail("the server closed the WebSocket")
            pos = end
        del buffer[:pos]

    def _text_frame(self, buffer: bytearray, start: int, end: int) -> None:
        self.frames += 1
        self._in_answer += 1
        if self._in_answer < FRAMES_PER_ANSWER:
            return
        self._in_answer = 0
        if buffer.find(b'"done"', start, end) < 0:
            self._fail(f"expected a done frame: {bytes(buffer[start:end])!r}")
        elif self._loop.time() < self._until:
            assert self._transport is not None
            self._transport.write(self._chat)
        elif not self._turns_done.done():
            self._turns_done.set_result(None)

    def _fail(self, reason: str) -> None:
        for future in (self.upgraded, self._turns_done):
            if not future.done():
                future.set_exception(RuntimeError(reason))

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(f"connection lost: {exc}")


def masked_text_frame(payload: bytes) -> bytes:
    """A client text frame; its mask key is zero, so the payload goes as it is."""
    size = len(payload)
    if size < 126:
        header = bytes((0x81, 0x80 | size))
    else:
        header = bytes((0x81, 0x80 | 126)) + size.to_bytes(2, "big")
    return header + b"\0\0\0\0" + payload


async def load(url: str, sockets: int, seconds: float) -> tuple[int, float]:
    """The frames ``sockets`` WebSockets receive from ``url`` chatting for ``seconds``, and
    the seconds they took (the last answers started are awaited whole)."""
    loop = asyncio.get_running_loop()
    address = urllib.parse.urlsplit(url)
    host, port = address.hostname or "127.0.0.1", address.port or 80
    chatters: list[Chatter] = []
    for i in range(sockets):
        _, chatter = await loop.create_connection(
            lambda i=i: Chatter(f"{host}:{port}", f"bench-{i}"), host, port
        )
        await chatter.upgraded
        chatters.append(chatter)
    # One answer each first: conversations exist before the clock starts.
    await asyncio.wait_for(asyncio.gather(*(c.chat_until(0) for c in chatters)), 60)
    before = sum(c.frames for c in chatters)
    started = time.perf_counter()
    await asyncio.wait_for(
        asyncio.gather(*(c.chat_until(loop.time() + seconds) for c in chatters)), seconds + 60
    )
    elapsed = time.perf_counter() - started
    return sum(c.frames for c in chatters) - before, elapsed


def websocket_client(sockets: int, seconds: float) -> Drive:
    """Load ``/ws`` from a client process of its own, on the load core."""

    def drive(url: str) -> tuple[int, float]:
        result = subprocess.run(
            [*pinned(LOAD_CORE), sys.executable, __file__, "--load", url,
             "--seconds", str(seconds), "--sockets", str(sockets)],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        count, elapsed = result.stdout.split()
        return int(count), float(elapsed)

    return drive


def measure(seconds: float, rounds: int, sockets: int) -> Measured:
    """Alternate ``rounds`` loads of the bare server and ours; the median round."""
    with (
        server_process(__file__, "bare", "/ping") as bare,
        server_process(__file__, "full", "/ping") as ours,
    ):
        drive = websocket_client(sockets, seconds)
        bare_loads, our_loads = load_in_turns(bare, ours, rounds, drive)
        lag = loop_lag_of(ours.url)
    peer, mine = median_round(bare_loads, our_loads)
    row = Row(ROW_NAME, "frames/s", mine.per_second, peer.per_second, PEER_NAME, GOAL)
    return Measured(row, peer, mine, lag)


def run(quick: bool) -> list[Row]:
    """Ours beside the bare WebSocket; ``quick`` runs ~1 s each, once."""
    if quick:
        return [measure(1, 1, SOCKETS).row]
    return [measure(3, 6, SOCKETS).row]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--serve", choices=("bare", "full"))
    parser.add_argument("--load", metavar="URL", help="run the client load against URL")
    parser.add_argument("--port", type=int)
    parser.add_argument("--workdir")
    parser.add_argument("--seconds", type=float, default=3)
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--sockets", type=int, default=SOCKETS)
    parser.add_argument("--quick", action="store_true", help="1 s, one round")
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, args.port, args.workdir)
        return
    if args.load:
        count, elapsed = asyncio.run(load(args.load, args.sockets, args.seconds))
        print(count, elapsed)
        return
    if args.quick:
        args.seconds, args.rounds = 1, 1
    print(measure(args.seconds, args.rounds, args.sockets).report("frame"))


if __name__ == "__main__":
    main()
