"""The floors hold: what producers, processors and api take from deploy/ stands on nothing above it, and no
two product modules import each other, directly or around a loop (function-level imports included)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("schemas", "producers", "processors", "api", "deploy")


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules() -> dict[str, Path]:
    return {_module(p): p for top in PRODUCT for p in (ROOT / top).rglob("*.py")}


def _imports(path: Path, known: set[str]) -> set[str]:
    """Product modules `path` imports anywhere in its body (a `from x import y` may name a module y)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module, *(f"{node.module}.{a.name}" for a in node.names)]
        for name in names:
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name:
                found.add(name)
    return found


GRAPH = {m: _imports(p, set(_modules())) - {m} for m, p in _modules().items()}


def _reach(start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for nxt in GRAPH.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def test_the_graph_sees_every_floor() -> None:
    assert "deploy.config.settings" in GRAPH["producers.handler"] | _reach("producers.handler")
    assert "producers.handler" in GRAPH["api.documents"]


@pytest.mark.parametrize("layer", ["producers", "processors", "api"])
def test_what_a_layer_takes_from_deploy_stands_on_nothing_above_it(layer: str) -> None:
    taken = {t for m, ts in GRAPH.items() if m.split(".")[0] == layer for t in ts if t.startswith("deploy")}
    assert taken, f"{layer} takes nothing from deploy/"
    for module in taken:
        above = {r for r in _reach(module) if r.split(".")[0] in ("producers", "processors", "api")}
        assert not above, f"{module} (imported by {layer}) reaches up into {sorted(above)}"
        assert module.startswith("deploy.config"), f"{layer} imports {module}, which is the roof"


def test_the_ground_floor_imports_nothing_but_itself() -> None:
    for module, targets in GRAPH.items():
        if module.startswith("deploy.config"):
            assert all(t.startswith("deploy.config") for t in targets), (module, targets)


def test_schemas_import_only_schemas() -> None:
    for module, targets in GRAPH.items():
        if module.startswith("schemas"):
            assert all(t.startswith("schemas") for t in targets), (module, targets)


def test_no_import_cycle_between_product_modules() -> None:
    cycles = sorted(
        (a, b) for a in GRAPH for b in _reach(a) if a < b and a in _reach(b) and not b.startswith(a + ".")
    )
    assert not cycles, f"modules that import each other (directly or around a loop): {cycles[:10]}"
