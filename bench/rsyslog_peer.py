"""rsyslog as the shipper's peer: imfile reads the backlog, mmjsonparse parses each line,
omelasticsearch indexes the fields in bulk mode into an index of its own.

rsyslogd runs in the foreground with its own config file, pid file and work directory (never
the system's), and is timed from its start until Elasticsearch has indexed the whole backlog
(``_stats/indexing``, which counts a document as soon as it is indexed, refresh or not).
Debian packages: ``rsyslog rsyslog-elasticsearch``.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from bench.elasticsearch_node import request
from bench.process_memory import peak_rss_mib

RSYSLOGD = "rsyslogd"
_POLL = 0.05


@dataclass(frozen=True)
class Tuning:
    """How rsyslog batches: None keeps rsyslog's own defaults (its main queue, one worker)."""

    batch: int | None = None
    workers: int | None = None


@dataclass(frozen=True)
class Shipped:
    seconds: float
    peak_rss_mib: float


def config(backlog: Path, workdir: Path, url: str, index: str, tuning: Tuning) -> str:
    """The whole rsyslog configuration: one file input, one parse, one Elasticsearch output."""
    node = urlsplit(url)
    output = (
        f'action(type="mmjsonparse" cookie="")\n'
        f'if $parsesuccess == "OK" then action(type="omelasticsearch" server="{node.hostname}"'
        f' serverport="{node.port or 9200}" template="fields" searchIndex="{index}"'
        f' esVersion.major="8" bulkmode="on" action.resumeRetryCount="-1"'
        f' errorFile="{workdir / "errors.json"}")\n'
    )
    if tuning.batch is None:
        rules = f'input(type="imfile" file="{backlog}" tag="jarvis")\n{output}'
    else:
        rules = (
            f'input(type="imfile" file="{backlog}" tag="jarvis" ruleset="ship")\n'
            f'ruleset(name="ship" queue.type="LinkedList" queue.dequeueBatchSize="{tuning.batch}"'
            f' queue.workerThreads="{tuning.workers or 1}"'
            f' queue.workerThreadMinimumMessages="{tuning.batch}") {{\n{output}}}\n'
        )
    return (
        f'global(workDirectory="{workdir}")\n'
        'module(load="imfile")\nmodule(load="mmjsonparse")\nmodule(load="omelasticsearch")\n'
        'template(name="fields" type="list") { property(name="$!all-json") }\n' + rules
    )


def ship_with_rsyslog(
    backlog: Path, lines: int, url: str, index: str, workdir: Path, tuning: Tuning
) -> Shipped:
    """Index ``backlog`` (``lines`` lines) into ``index`` with rsyslog; how long it took."""
    if shutil.which(RSYSLOGD) is None:
        raise RuntimeError("rsyslogd not found: apt-get install rsyslog rsyslog-elasticsearch")
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    conf = workdir / "rsyslog.conf"
    conf.write_text(config(backlog, workdir, url, index, tuning))
    command = [RSYSLOGD, "-n", "-f", str(conf), "-i", str(workdir / "rsyslogd.pid")]
    with (workdir / "rsyslogd.out").open("wb") as out:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = started + 600
        while indexed(url, index) < lines:
            if process.poll() is not None:
                raise RuntimeError(f"rsyslogd exited: {(workdir / 'rsyslogd.out').read_text()}")
            if time.perf_counter() > deadline:
                raise RuntimeError(f"rsyslog indexed {indexed(url, index)} of {lines} lines")
            time.sleep(_POLL)
        seconds = time.perf_counter() - started
        return Shipped(seconds, peak_rss_mib(process.pid))
    finally:
        process.terminate()
        process.wait(30)


def indexed(url: str, index: str) -> int:
    """Documents indexed into ``index`` so far (0 before it exists)."""
    stats = request("GET", f"{url}/{index}/_stats/indexing?filter_path=_all.primaries.indexing")
    return int(stats.get("_all", {}).get("primaries", {}).get("indexing", {}).get("index_total", 0))
