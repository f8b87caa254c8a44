"""The committed Grafana dashboards are exactly what config/grafana/build_dashboards.py builds,
in the dashboard model of the Grafana version the stack runs.

The model is grafana-foundation-sdk's, in the flavour pinned in setup.cfg: a committed dashboard
must decode into its typed ``Dashboard`` and encode back to the very same JSON. A key the model
does not know is dropped by the decoding, so it shows as a difference; a null is refused on its
own, as Grafana's schema has no null anywhere.
"""

from __future__ import annotations

import copy
import importlib.metadata
import importlib.util
import json
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.cog.plugins import register_default_plugins
from grafana_foundation_sdk.models.dashboard import Dashboard

ROOT = Path(__file__).resolve().parents[2]
GRAFANA_DIR = ROOT / "config" / "grafana"
ALERTS_FILE = GRAFANA_DIR.parent / "prometheus" / "alerts.yml"
COMPOSE_FILE = ROOT / "docker" / "docker-compose.yml"
DASHBOARD_FILES = sorted((GRAFANA_DIR / "dashboards").glob("*.json"))

# Panel options, field config and queries decode into their typed models only once the SDK
# knows the panel and datasource types; without them they would pass through as plain dicts.
register_default_plugins()


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


def _differences(given: Any, model: Any, path: str = "$") -> list[str]:
    """Where ``given`` and the model's encoding of it part, as ``path: what`` lines."""
    if isinstance(given, dict) and isinstance(model, dict):
        problems = [f"{path}.{key}: unknown to the model" for key in given if key not in model]
        problems += [f"{path}.{key}: added by the model" for key in model if key not in given]
        for key in given.keys() & model.keys():
            problems += _differences(given[key], model[key], f"{path}.{key}")
        return problems
    if isinstance(given, list) and isinstance(model, list) and len(given) == len(model):
        return [
            problem
            for i, (g, m) in enumerate(zip(given, model, strict=True))
            for problem in _differences(g, m, f"{path}[{i}]")
        ]
    return [] if given == model else [f"{path}: {given!r} re-encodes as {model!r}"]


def _nulls(value: Any, path: str = "$") -> list[str]:
    if value is None:
        return [f"{path}: null"]
    if isinstance(value, dict):
        return [n for key, item in value.items() for n in _nulls(item, f"{path}.{key}")]
    if isinstance(value, list):
        return [n for i, item in enumerate(value) for n in _nulls(item, f"{path}[{i}]")]
    return []


def model_problems(document: dict[str, Any]) -> list[str]:
    """Why ``document`` is not exactly a dashboard of the SDK's model ([] when it is)."""
    nulls = _nulls(document)
    try:
        decoded = Dashboard.from_json(document)
    except (TypeError, KeyError, ValueError) as error:
        # The decoder trusts its input's shape: a null where it expects an object breaks it.
        return [*nulls, f"$: does not decode into the model ({error!r})"]
    reencoded = json.loads(json.dumps(decoded, cls=JSONEncoder))
    return nulls + _differences(document, reencoded)


def test_committed_dashboards_match_the_generator() -> None:
    """Edit build_dashboards.py, run it, commit its output: never hand-edit the JSON."""
    built = _builder().rendered()
    committed = {p.name: p.read_text() for p in DASHBOARD_FILES}
    assert sorted(committed) == sorted(built)
    for name, text in built.items():
        assert committed[name] == text, f"{name} is stale: run config/grafana/build_dashboards.py"


@pytest.mark.parametrize("path", DASHBOARD_FILES, ids=lambda p: p.name)
def test_committed_dashboard_is_exactly_the_sdk_model(path: Path) -> None:
    """Decoded into the typed model and encoded back, nothing is lost, added or changed."""
    assert model_problems(json.loads(path.read_text())) == []


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        (lambda d: d, "$.hideControls: unknown to the model"),
        (lambda d: d["panels"][0], "$.panels[0].hideControls: unknown to the model"),
        (lambda d: d["panels"][0]["options"], "$.panels[0].options.hideControls: unknown"),
        (lambda d: d["panels"][0]["targets"][0], "$.panels[0].targets[0].hideControls: unknown"),
        (
            lambda d: d["panels"][0]["fieldConfig"]["defaults"],
            "$.panels[0].fieldConfig.defaults.hideControls: unknown",
        ),
    ],
    ids=["dashboard", "panel", "panel options", "query", "field defaults"],
)
def test_the_model_check_names_an_unknown_key(where: Any, expected: str) -> None:
    """A grafanalib-era key slipped into a copy of a committed dashboard is caught."""
    document = json.loads(DASHBOARD_FILES[0].read_text())
    bogus = copy.deepcopy(document)
    where(bogus)["hideControls"] = False
    problems = model_problems(bogus)
    assert any(problem.startswith(expected) for problem in problems), problems


def test_the_model_check_names_a_null() -> None:
    document = json.loads(DASHBOARD_FILES[0].read_text())
    document["panels"][0]["fieldConfig"]["defaults"]["thresholds"]["steps"][0]["value"] = None
    problems = model_problems(document)
    assert "$.panels[0].fieldConfig.defaults.thresholds.steps[0].value: null" in problems


def test_sdk_flavour_is_the_grafana_version_of_the_stack() -> None:
    """The SDK writes the dashboard model of one Grafana version: the one Compose runs."""
    sdk_version = importlib.metadata.version("grafana-foundation-sdk")
    flavour = re.fullmatch(r"\d+!(\d+\.\d+)\.\d+", sdk_version)
    assert flavour, f"grafana-foundation-sdk {sdk_version} names no Grafana version"
    image = yaml.safe_load(COMPOSE_FILE.read_text())["services"]["grafana"]["image"]
    grafana = re.fullmatch(r"grafana/grafana:(\d+\.\d+)\.\d+", image)
    assert grafana, f"the grafana image {image} is not pinned to a release"
    assert grafana.group(1) == flavour.group(1), (image, sdk_version)


def test_every_panel_queries_the_provisioned_datasource() -> None:
    datasources = yaml.safe_load(
        (GRAFANA_DIR / "provisioning" / "datasources" / "prometheus.yml").read_text()
    )["datasources"]
    uids = {d["uid"] for d in datasources}
    for path in DASHBOARD_FILES:
        for panel in json.loads(path.read_text())["panels"]:
            assert panel["targets"], (path.name, panel["title"])
            for target in panel["targets"]:
                assert target["datasource"]["uid"] in uids, (path.name, panel["title"])


def test_dashboards_named_in_alert_runbooks_exist() -> None:
    """A runbook that sends the on-call to a dashboard that does not exist wastes the night."""
    titles = {json.loads(p.read_text())["title"] for p in DASHBOARD_FILES}
    groups = yaml.safe_load(ALERTS_FILE.read_text())["groups"]
    named: set[str] = set()
    for rule in (r for g in groups for r in g["rules"]):
        text = rule["annotations"]["runbook"]
        named.update(t for t in text.split('"') if t.startswith("Jarvis / "))
    assert named, "no runbook names a dashboard"
    assert named <= titles


def test_panels_do_not_overlap() -> None:
    for path in DASHBOARD_FILES:
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
