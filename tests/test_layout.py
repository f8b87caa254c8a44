"""The layout's promises: no import cycles in either package, and the server never imports
the shipper (the shipper may import the server's log-line contract and shared plumbing)."""

from __future__ import annotations

import ast
import graphlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _modules(package: str) -> dict[str, Path]:
    found = {}
    for path in (ROOT / package).rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _imported(tree: ast.AST) -> set[str]:
    """Modules a module imports at run time: ``if TYPE_CHECKING:`` blocks are skipped."""
    names: set[str] = set()

    def walk(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                for other in child.orelse:
                    walk(other)
                continue
            if isinstance(child, ast.Import):
                names.update(alias.name for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.level == 0 and child.module:
                names.add(child.module)
                names.update(f"{child.module}.{alias.name}" for alias in child.names)
            walk(child)

    walk(tree)
    return names


def _import_graph(package: str) -> dict[str, set[str]]:
    modules = _modules(package)
    return {
        name: {m for m in _imported(ast.parse(path.read_text())) if m in modules and m != name}
        for name, path in modules.items()
    }


@pytest.mark.parametrize("package", ["jarvis", "shipper"])
def test_no_import_cycles(package: str) -> None:
    graph = _import_graph(package)
    assert len(graph) > 20
    try:
        tuple(graphlib.TopologicalSorter(graph).static_order())
    except graphlib.CycleError as cycle:
        pytest.fail(f"import cycle in {package}: {' -> '.join(cycle.args[1])}")


def test_the_server_never_imports_the_shipper() -> None:
    for name, path in _modules("jarvis").items():
        imported = _imported(ast.parse(path.read_text()))
        assert not any(m == "shipper" or m.startswith("shipper.") for m in imported), name
