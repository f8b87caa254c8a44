"""The block ``jarvis dev`` prints once everything is ready: where each part answers, a chat
to send, and the command that finds everything that chat did."""

from __future__ import annotations

import os
import shlex

from jarvis.dev.options import DevOptions
from jarvis.logs.console import Painter

READY_HEADLINE = "Jarvis dev stack ready"
# jarvis-logs looks there when neither --es-url nor ELASTICSEARCH_URL says otherwise.
JARVIS_LOGS_DEFAULT_URL = "http://127.0.0.1:9200"
_BOLD = "\x1b[1m"
_DIM = "\x1b[2m"
_RULE = "─" * 72


def summary_block(
    options: DevOptions, *, prometheus: bool, elapsed: float, colour: bool = False
) -> str:
    """The summary, several lines: URLs of the API, its metrics, the shipper, Elasticsearch
    and Prometheus (or why it is not running), the log file, a ``curl`` and a ``jarvis-logs``
    command to try."""
    paint = Painter(colour)
    api = options.api_url
    log_file = _shown_path(options.data.log_file)
    rows = [
        ("API", f"{api}   ({options.llm} model)"),
        ("Metrics", f"{api}/metrics"),
        ("Shipper", f"{options.shipper_url}/health"),
        ("Elasticsearch", options.elasticsearch_shown),
        (
            "Prometheus",
            options.prometheus_url
            if prometheus
            else "not started: no prometheus binary on PATH (apt-get install prometheus)",
        ),
        ("Log file", log_file),
    ]
    chat = shlex.quote('{"message":"hello","user_id":"me"}')
    trace = ["jarvis-logs"]
    if options.external_elasticsearch is None and options.elasticsearch_url != (
        JARVIS_LOGS_DEFAULT_URL
    ):
        trace += ["--es-url", options.elasticsearch_url]
    trace += ["trace", "<request_id>"]
    lines = [
        paint(_RULE, _DIM),
        paint(f"{READY_HEADLINE} in {elapsed:.1f} s", _BOLD) + "   (Ctrl-C stops everything)",
        *(f"  {label:<14} {value}" for label, value in rows),
        "",
        "Send a chat, then see everything it did (its events reach Elasticsearch about a"
        " second after the answer):",
        f"  curl -s {api}/chat -H 'Content-Type: application/json' -d {chat}",
        "  " + " ".join(trace) + "   " + paint("# the request_id of that answer", _DIM),
        paint(_RULE, _DIM),
    ]
    return "\n".join(lines) + "\n"


def _shown_path(path: os.PathLike[str]) -> str:
    """Relative to the current directory when under it: shorter to read and to paste."""
    text = os.fspath(path)
    relative = os.path.relpath(text)
    return text if relative.startswith("..") else relative
