"""The ``jarvis`` command: ``jarvis serve`` runs the chat server."""

from __future__ import annotations

import argparse
import logging
import sys

from aiohttp import web

from jarvis.app import create_app
from jarvis.logline import ACTION, Action
from jarvis.logs.setup import configure_logging, unconfigure_logging
from jarvis.settings import Settings, SettingsError
from jarvis.version import version_text

logger = logging.getLogger("jarvis.cli")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="jarvis", description="Jarvis chat server")
    parser.add_argument("--version", action="version", version=version_text("jarvis"))
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the HTTP + WebSocket chat server")
    serve.add_argument("--host", help="address to listen on (JARVIS_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port to listen on (JARVIS_PORT, default 8000)")
    serve.add_argument(
        "--config", help="TOML config file (JARVIS_CONFIG, default config/jarvis.toml)"
    )
    serve.add_argument("--log-level", help="LOG_LEVEL")
    serve.add_argument("--log-file", help="LOG_FILE: JSON lines are appended there too")
    serve.add_argument("--llm", choices=("ollama", "echo"), help="JARVIS_LLM")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        settings = Settings.load(
            args.config,
            host=args.host,
            port=args.port,
            log_level=args.log_level,
            log_file=args.log_file,
            llm_provider=args.llm,
        )
    except (SettingsError, OSError) as exc:
        print(f"jarvis: configuration error: {exc}", file=sys.stderr)
        return 2
    writer = configure_logging(settings)
    try:
        app = create_app(settings, log_writer=writer)
        logger.info(
            "listening on http://%s:%d",
            settings.host,
            settings.port,
            extra={ACTION: Action.LISTEN, "host": settings.host, "port": settings.port},
        )
        web.run_app(
            app,
            host=settings.host,
            port=settings.port,
            shutdown_timeout=settings.shutdown_timeout,
            print=None,
        )
    except OSError as exc:
        logger.error("cannot listen: %s", exc, extra={ACTION: Action.LISTEN_FAILED})
        return 1
    except Exception:
        logger.exception("server crashed", extra={ACTION: Action.CRASH})
        return 1
    finally:
        unconfigure_logging(writer)
    return 0


if __name__ == "__main__":
    sys.exit(main())
