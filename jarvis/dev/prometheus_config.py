"""The Prometheus configuration of ``jarvis dev``: our alert rules, loopback targets.

``config/prometheus/prometheus.yml`` finds its targets by Compose service name; here every
process is on 127.0.0.1, each on the port ``jarvis dev`` gave it. The job names are the ones
of that file (the rules and dashboards select on them; tests/dev checks they match), and no
Alertmanager is configured: alerts show on Prometheus's own /alerts page.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import orjson

API_JOB = "jarvis-api"
SHIPPER_JOB = "jarvis-shipper"
PROMETHEUS_JOB = "prometheus"
# As config/prometheus/prometheus.yml: each scrape is an access-log line on the terminal.
_INTERVAL = "15s"


def prometheus_config(ports: Mapping[str, int], rules: Path) -> dict[str, Any]:
    """The configuration scraping each job of ``ports`` (job name → port) on 127.0.0.1."""
    return {
        "global": {
            "scrape_interval": _INTERVAL,
            "evaluation_interval": _INTERVAL,
            "external_labels": {"stack": "jarvis-dev"},
        },
        "rule_files": [str(rules)],
        "scrape_configs": [
            {
                "job_name": job,
                "metrics_path": "/metrics",
                "static_configs": [{"targets": [f"127.0.0.1:{port}"]}],
            }
            for job, port in ports.items()
        ],
    }


def write_prometheus_config(path: Path, ports: Mapping[str, int], rules: Path) -> None:
    """Write the configuration to ``path``; JSON is YAML, so Prometheus reads it as it is."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(prometheus_config(ports, rules), option=orjson.OPT_INDENT_2))
