"""The ``jarvis`` command: ``jarvis serve`` runs the chat server; ``jarvis config check``
shows the settings it would run with and where each came from."""

from __future__ import annotations

import argparse
import logging
import socket
import sys

from jarvis.command_line import OneLineErrorParser, fail
from jarvis.config import Resolved
from jarvis.config_check import settings_table
from jarvis.dev.options import add_dev_command
from jarvis.logline import ACTION, Action
from jarvis.settings import Settings, SettingsError
from jarvis.version import version_text

logger = logging.getLogger("jarvis.cli")

# Connections waiting to be accepted on the listening socket (asyncio's default).
LISTEN_BACKLOG = 100


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrorParser(prog="jarvis", description="Jarvis chat server")
    parser.add_argument("--version", action="version", version=version_text("jarvis"))
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "serve", help="run the HTTP + WebSocket chat server", parents=[_settings_options()]
    )
    config = commands.add_parser("config", help="inspect the configuration")
    config_commands = config.add_subparsers(dest="config_command", required=True)
    config_commands.add_parser(
        "check",
        help="show every setting, its value and where it came from; exit 2 if one is invalid",
        description="Show the settings `jarvis serve` would run with (same options), each "
        "with its origin: default, file, env or flag. Secrets are masked.",
        parents=[_settings_options()],
    )
    add_dev_command(commands)
    return parser


def _settings_options() -> OneLineErrorParser:
    """The options that override settings, for ``serve`` and ``config check`` alike."""
    options = OneLineErrorParser(add_help=False)
    options.add_argument("--host", help="address to listen on (JARVIS_HOST, default 127.0.0.1)")
    options.add_argument("--port", help="port to listen on (JARVIS_PORT, default 8000)")
    options.add_argument(
        "--config", help="TOML config file (JARVIS_CONFIG, default config/jarvis.toml)"
    )
    options.add_argument("--log-level", help="LOG_LEVEL")
    options.add_argument("--log-file", help="LOG_FILE: JSON lines are appended there too")
    options.add_argument("--llm", choices=("ollama", "echo"), help="JARVIS_LLM")
    return options


def _resolve(args: argparse.Namespace) -> Resolved[Settings]:
    return Settings.resolve(
        args.config,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        log_file=args.log_file,
        llm_provider=args.llm,
    )


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "dev":
        from jarvis.dev.command import run_dev

        return run_dev(args)
    try:
        resolved = _resolve(args)
    except SettingsError as exc:
        return fail("jarvis", f"configuration error: {exc}")
    if args.command == "config":
        for line in settings_table(resolved):
            print(line)
        print("configuration ok")
        return 0
    return serve(resolved)


def serve(resolved: Resolved[Settings]) -> int:
    """Bind the port, then start the app (which logs "jarvis ready") and serve until a stop
    signal. A port that cannot be bound is one line on stderr and exit 2, nothing logged; a
    memory store that cannot be opened, one line on stderr and in the log, exit 2."""
    # Imported here, not at the top: `jarvis --help` and `config check` need none of them.
    from aiohttp import web

    from jarvis.app import create_app, freeze_startup_objects
    from jarvis.logs.setup import configure_logging, unconfigure_logging
    from jarvis.memory import MemoryStoreError

    settings = resolved.settings
    try:
        sockets = listening_sockets(settings.host, settings.port)
    except OSError as exc:
        origins = resolved.origins
        return fail(
            "jarvis",
            f"cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}"
            f" (host from {origins['host'].shown}, port from {origins['port'].shown})",
        )
    writer = configure_logging(settings)
    try:
        app = create_app(settings, log_writer=writer)
        app.on_startup.append(freeze_startup_objects)
        logger.info(
            "listening on http://%s:%d",
            settings.host,
            settings.port,
            extra={ACTION: Action.LISTEN, "host": settings.host, "port": settings.port},
        )
        web.run_app(app, sock=sockets, shutdown_timeout=settings.shutdown_timeout, print=None)
    except MemoryStoreError as exc:
        # The operator's to fix (a file another server holds, a read-only volume): one line,
        # no traceback, as a bad setting.
        logger.error("cannot start: %s", exc, extra={ACTION: Action.CRASH})
        return fail("jarvis", str(exc))
    except Exception:
        logger.exception("server crashed", extra={ACTION: Action.CRASH})
        return 1
    finally:
        for sock in sockets:
            sock.close()
        unconfigure_logging(writer)
    return 0


def listening_sockets(host: str, port: int) -> list[socket.socket]:
    """Sockets listening on ``host:port`` (every address a name resolves to), bound before the
    app starts: its start-up logs "jarvis ready", which must never precede a port taken."""
    addresses = socket.getaddrinfo(
        host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )
    sockets: list[socket.socket] = []
    try:
        for family, kind, protocol, _, address in dict.fromkeys(addresses):
            sock = socket.socket(family, kind, protocol)
            sockets.append(sock)
            # As asyncio's create_server: a restart may bind over connections in TIME_WAIT.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(address)
            sock.listen(LISTEN_BACKLOG)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


if __name__ == "__main__":
    sys.exit(main())
