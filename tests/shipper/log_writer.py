"""A stand-in for the server's log writer, run as its own process by the end-to-end tests.

Writes seed-shaped JSON lines, each with a unique ``marker``, as fast as it can, in
batches of whole lines (one ``write`` each, O_APPEND), and reopens the path when it has
been renamed or removed, checked before each batch: the contract of ``jarvis serve``.
With ``--header LINE``, every file it starts (empty when opened) begins with that same line.

    python log_writer.py PATH COUNT PREFIX [--batch N] [--pause-every N --pause S] [--header L]
"""

from __future__ import annotations

import argparse
import os
import time
import uuid

import orjson


def seed_line(marker: str, number: int) -> bytes:
    return (
        orjson.dumps(
            {
                "timestamp": time.time(),
                "level": "INFO",
                "logger": "jarvis.chat",
                "message": "chat request",
                "request_id": str(uuid.uuid4()),
                "module": "service",
                "function": "chat",
                "line": 45,
                "user_id": f"user-{number % 50}",
                "action": "chat_request",
                "message_length": 20 + number % 200,
                "transport": "http",
                "marker": marker,
            }
        )
        + b"\n"
    )


def open_log(path: str, header: bytes = b"") -> int:
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    if header and os.fstat(fd).st_size == 0:
        os.write(fd, header)
    return fd


def moved(path: str, fd: int) -> bool:
    try:
        here = os.stat(path)
    except FileNotFoundError:
        return True
    mine = os.fstat(fd)
    return (here.st_dev, here.st_ino) != (mine.st_dev, mine.st_ino)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("path")
    parser.add_argument("count", type=int)
    parser.add_argument("prefix")
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--pause-every", type=int, default=0)
    parser.add_argument("--pause", type=float, default=0.0)
    parser.add_argument("--header", default="")
    args = parser.parse_args()
    header = args.header.encode() + b"\n" if args.header else b""
    fd = open_log(args.path, header)
    written = 0
    while written < args.count:
        if moved(args.path, fd):
            os.close(fd)
            fd = open_log(args.path, header)
        size = min(args.batch, args.count - written)
        os.write(
            fd,
            b"".join(seed_line(f"{args.prefix}-{written + i}", written + i) for i in range(size)),
        )
        written += size
        if args.pause_every and written % args.pause_every == 0:
            time.sleep(args.pause)
    os.close(fd)


if __name__ == "__main__":
    main()
