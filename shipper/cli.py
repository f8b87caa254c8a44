"""``jarvis-shipper``: run the log-shipping sidecar until SIGTERM or SIGINT;
``jarvis-shipper check``: test its configuration, Elasticsearch and paths, then exit."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Sequence

from jarvis.command_line import fail
from shipper.settings import SettingsError, ShipperSettings, build_parser, settings_from

log = logging.getLogger("shipper.cli")


async def serve(settings: ShipperSettings) -> None:
    """Ship until a stop signal, then flush (bounded) and save the registry."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    from shipper.pipeline import Pipeline
    from shipper.sink.bulk_client import BulkClient

    client = BulkClient(settings.elasticsearch)
    try:
        await Pipeline(settings, client).run(stop)
    finally:
        await client.close()


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit status."""
    args = build_parser().parse_args(argv)
    try:
        settings = settings_from(args)
    except SettingsError as error:
        # One line, naming the option, variable or file key to fix.
        return fail("jarvis-shipper", str(error))
    # The rest is imported only now: --help and a wrong option answer without loading it.
    if args.command == "check":
        from shipper.check import run_check

        return run_check(settings)
    from shipper.own_logs import configure_logging
    from shipper.registry import RegistryUnreadable
    from shipper.status_server import StatusPortUnavailable

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
