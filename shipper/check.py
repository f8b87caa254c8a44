"""``jarvis-shipper check``: what a deployment needs, tested before it ships a line (as
``filebeat test output`` does). One line per check, ``ok`` or ``FAILED`` with the reason;
exit status 0 when every check passed, 2 otherwise.

The configuration is checked first, by loading it (a bad setting stops ``check`` as it stops
``run``: one line naming it, exit 2). Then, without the event loop, the paths: the log files
readable (or, before the server's first line, their directory there to be created in), the
state directory writable. Then Elasticsearch: each node answers, the index template is
installed (the same PUT as at every start: create or replace), and a probe document is
written as the shipper writes (``create``) into an index of ``jarvis-logs-*`` (so the
template's mappings and the privileges on those indices are what is tested), which is then
deleted. The probe has no ``@timestamp``: should its deletion be refused, no time-bounded
search or dashboard shows it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import glob
import os
import secrets
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from elastic_transport import TransportError
from elasticsearch import ApiError, AsyncElasticsearch

from jarvis.config import shown_value
from shipper.elastic import INDEX_PREFIX, ElasticsearchSettings
from shipper.settings import ShipperSettings
from shipper.sink.index_template import TEMPLATE_NAME, install_template
from shipper.source.backups import pattern_directory
from shipper.source.regular_files import open_regular_stream

CHECK_INDEX_PREFIX = INDEX_PREFIX + "shipper-check-"


@dataclass(frozen=True)
class Check:
    """The outcome of one check: ``problem`` is None when it passed, ``skipped`` when an
    earlier failure made it pointless."""

    name: str
    problem: str | None = None
    detail: str = ""
    skipped: bool = False

    @property
    def passed(self) -> bool:
        return self.problem is None and not self.skipped

    def line(self) -> str:
        if self.skipped:
            return f"{self.name} ... skipped: {self.problem}"
        if self.problem is not None:
            return f"{self.name} ... FAILED: {self.problem}"
        return f"{self.name} ... ok" + (f" ({self.detail})" if self.detail else "")


def run_check(settings: ShipperSettings, out: TextIO = sys.stdout) -> int:
    """Run every check, print a line for each as it ends; 0 when all passed, else 2."""
    passed = True

    def show(check: Check) -> None:
        nonlocal passed
        passed = passed and check.passed
        print(check.line(), file=out, flush=True)

    show(Check("configuration", detail=f"elasticsearch {settings.elasticsearch.shown_url}"))
    for check in check_paths(settings):
        show(check)

    async def elasticsearch() -> None:
        async for check in check_elasticsearch(settings):
            show(check)

    asyncio.run(elasticsearch())
    return 0 if passed else 2


def check_paths(settings: ShipperSettings) -> Iterator[Check]:
    """The log files and the directories the shipper writes to."""
    yield _check_log_files(settings.path)
    yield _check_writable_directory("state directory", settings.state_dir)
    if settings.dead_letter is not None:
        yield _check_writable_directory("dead-letter directory", settings.dead_letter.parent)


def _check_log_files(pattern: str) -> Check:
    name = f"log files {pattern}"
    # The rotator renames and deletes in the files' directory: it must be writable.
    directory = Path(pattern_directory(pattern))
    files = sorted(path for path in glob.glob(pattern) if os.path.isfile(path))
    for path in files:
        try:
            with open_regular_stream(path) as stream:
                stream.read(1)
        except OSError as error:
            return Check(name, f"cannot read {path}: {error.strerror or error}")
    if files and not os.access(directory, os.W_OK | os.X_OK):
        return Check(name, f"cannot rotate them: {directory} is not writable")
    if files:
        return Check(name, detail=f"{len(files)} file{'s' if len(files) > 1 else ''} readable")
    existing = next(p for p in (directory, *directory.parents) if p.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        return Check(name, f"no file yet, and {directory} cannot be created in {existing}")
    where = "exists" if existing == directory else "can be created"
    return Check(name, detail=f"no file yet; {directory} {where}")


def _check_writable_directory(name: str, directory: Path) -> Check:
    """Create ``directory`` if needed (the shipper would at its start) and a file in it."""
    name = f"{name} {directory}"
    probe = directory / f".check-{os.getpid()}"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        return Check(name, f"not writable: {error.strerror or error}")
    return Check(name, detail="writable")


async def check_elasticsearch(settings: ShipperSettings) -> AsyncIterator[Check]:
    """Each node answers; the template is installed; a probe document is written."""
    cluster = settings.elasticsearch
    reachable = False
    for node in cluster.urls:
        check = await _check_node(dataclasses.replace(cluster, url=node))
        reachable = reachable or check.passed
        yield check
    template = f"index template {TEMPLATE_NAME}"
    writes = f"writes to {INDEX_PREFIX}*"
    if not reachable:
        for name in (template, writes):
            yield Check(name, "no Elasticsearch node answers", skipped=True)
        return
    client = cluster.create_client(max_retries=1)
    try:
        try:
            await install_template(client)
            yield Check(template, detail="installed")
        except (ApiError, TransportError) as error:
            yield Check(template, _reason(error))
        yield await _check_writes(client, writes)
    finally:
        await client.close()


async def _check_node(node: ElasticsearchSettings) -> Check:
    name = f"elasticsearch {node.shown_url}"
    client = node.create_client(max_retries=0)
    try:
        info = await client.info()
    except (ApiError, TransportError) as error:
        return Check(name, _reason(error))
    finally:
        await client.close()
    version = info.get("version", {}).get("number", "?")
    return Check(name, detail=f"Elasticsearch {version}, cluster {info.get('cluster_name')}")


async def _check_writes(client: AsyncElasticsearch, name: str) -> Check:
    index = CHECK_INDEX_PREFIX + secrets.token_hex(4)
    probe = {"message": "jarvis-shipper check probe", "tags": ["shipper-check"]}
    try:
        await client.create(index=index, id="probe", document=probe)
    except (ApiError, TransportError) as error:
        return Check(name, f"cannot write to {index}: {_reason(error)}")
    try:
        await client.indices.delete(index=index)
    except (ApiError, TransportError) as error:
        return Check(name, detail=f"probe index {index} left behind: {_reason(error)}")
    return Check(name, detail=f"probe document written to {index}, index deleted")


def _reason(error: ApiError | TransportError) -> str:
    """One line saying why a request failed, without credentials."""
    if isinstance(error, ApiError):
        body = error.body if isinstance(error.body, dict) else {}
        cause = body.get("error", {})
        reason = cause.get("reason") if isinstance(cause, dict) else cause
        return " ".join(f"HTTP {error.status_code} {error.message}: {reason or ''}".split())
    return shown_value(str(error.message or type(error).__name__))
