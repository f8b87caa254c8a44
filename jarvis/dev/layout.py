"""Where ``jarvis dev`` keeps its data, and the repository files it runs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# jarvis dev runs from a clone (an editable install): the Elasticsearch node and the
# Prometheus rules are files of the repository, not of the package.
REPO_ROOT = Path(__file__).resolve().parents[2]
ES_DEV = REPO_ROOT / "docker" / "es-dev"
PROMETHEUS_RULES = REPO_ROOT / "config" / "prometheus" / "alerts.yml"


@dataclass(frozen=True)
class DataDir:
    """Everything one ``jarvis dev`` writes, under one directory (``--data-dir``)."""

    root: Path

    @property
    def log_file(self) -> Path:
        return self.root / "logs" / "jarvis.jsonl"

    @property
    def memory_db(self) -> Path:
        return self.root / "memory.sqlite3"

    @property
    def shipper_state(self) -> Path:
        return self.root / "shipper-state"

    @property
    def elasticsearch(self) -> Path:
        return self.root / "elasticsearch"

    @property
    def prometheus(self) -> Path:
        return self.root / "prometheus"

    @property
    def prometheus_config(self) -> Path:
        return self.prometheus / "prometheus.yml"

    def create(self) -> None:
        """Create the directories the processes expect to find."""
        for directory in (
            self.log_file.parent,
            self.shipper_state,
            self.elasticsearch,
            self.prometheus,
        ):
            directory.mkdir(parents=True, exist_ok=True)
