"""``jarvis-shipper``: run the log-shipping sidecar until SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Sequence

from shipper.own_logs import configure_logging
from shipper.pipeline import Pipeline
from shipper.registry import RegistryUnreadable
from shipper.settings import SettingsError, ShipperSettings, load_settings
from shipper.status_server import StatusPortUnavailable

log = logging.getLogger("shipper.cli")


async def serve(settings: ShipperSettings) -> None:
    """Ship until a stop signal, then flush (bounded) and save the registry."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    # The sink owns retries (only failed items, forever); the client must not add its own.
    client = settings.elasticsearch.create_client(
        max_retries=0, retry_on_timeout=False, retry_on_status=()
    )
    try:
        await Pipeline(settings, client).run(stop)
    finally:
        await client.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit status."""
    try:
        settings = load_settings(argv)
    except SettingsError as error:
        # One line, naming the option, variable or file key to fix.
        print("jarvis-shipper:", " ".join(str(error).splitlines()), file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    try:
        asyncio.run(serve(settings))
    except (RegistryUnreadable, StatusPortUnavailable) as error:
        # A problem the operator fixes (a damaged registry, a taken port): one line, exit 2.
        log.error(str(error))
        return 2
    except Exception:
        log.exception("jarvis-shipper crashed")
        return 1
    return 0
