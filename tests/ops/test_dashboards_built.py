"""The committed Grafana dashboards are exactly what config/grafana/build_dashboards.py builds."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import yaml

GRAFANA_DIR = Path(__file__).resolve().parents[2] / "config" / "grafana"
ALERTS_FILE = GRAFANA_DIR.parent / "prometheus" / "alerts.yml"


def _builder() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "build_dashboards", GRAFANA_DIR / "build_dashboards.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # dataclasses look their module up in sys.modules while the module executes.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_committed_dashboards_match_the_generator() -> None:
    """Edit build_dashboards.py, run it, commit its output: never hand-edit the JSON."""
    built = _builder().rendered()
    committed = {p.name: p.read_text() for p in (GRAFANA_DIR / "dashboards").glob("*.json")}
    assert sorted(committed) == sorted(built)
    for name, text in built.items():
        assert committed[name] == text, f"{name} is stale: run config/grafana/build_dashboards.py"


def test_every_panel_queries_the_provisioned_datasource() -> None:
    datasources = yaml.safe_load(
        (GRAFANA_DIR / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )["datasources"]
    uids = {d["uid"] for d in datasources}
    for path in (GRAFANA_DIR / "dashboards").glob("*.json"):
        for panel in json.loads(path.read_text())["panels"]:
            assert panel["targets"], (path.name, panel["title"])
            for target in panel["targets"]:
                assert target["datasource"]["uid"] in uids, (path.name, panel["title"])


def test_dashboards_named_in_alert_runbooks_exist() -> None:
    """A runbook that sends the on-call to a dashboard that does not exist wastes the night."""
    titles = {
        json.loads(p.read_text())["title"] for p in (GRAFANA_DIR / "dashboards").glob("*.json")
    }
    groups = yaml.safe_load(ALERTS_FILE.read_text())["groups"]
    named = set()
    for rule in (r for g in groups for r in g["rules"]):
        text = rule["annotations"]["runbook"]
        named.update(t for t in text.split('"') if t.startswith("Jarvis / "))
    assert named, "no runbook names a dashboard"
    assert named <= titles


def test_panels_do_not_overlap() -> None:
    for path in (GRAFANA_DIR / "dashboards").glob("*.json"):
        cells: set[tuple[int, int]] = set()
        for panel in json.loads(path.read_text())["panels"]:
            pos = panel["gridPos"]
            assert pos["x"] + pos["w"] <= 24, (path.name, panel["title"])
            area = {
                (x, y)
                for x in range(pos["x"], pos["x"] + pos["w"])
                for y in range(pos["y"], pos["y"] + pos["h"])
            }
            assert not cells & area, (path.name, panel["title"])
            cells |= area
