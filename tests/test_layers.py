"""Imports go one way: each package imports only its own layer or those below it, and no two
packages import each other (directly or round a cycle). docs/ARCHITECTURE.md draws the layers."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"

# Top to bottom. A module outside every package (tuneguard/x.py) is named by its file's stem.
LAYERS: list[set[str]] = [
    {"cli", "__main__"},
    # The recipe and the commands that run or measure whole pipelines.
    {"train", "tools", "bench", "demo", "fix", "nextrun"},
    # What watches, steers, judges and tells: one concern each.
    {"policy", "control", "guard", "audit", "report", "notify", "trackers", "diagnosis"},
    # What everything above is made of.
    {"data", "model", "checkpoints", "store", "config", "findings", "context", "errors", "dist", "deps", "fmt",
     "verbatim", "events", "catalog", "tuneguard"},
]


def _unit(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "tuneguard":
        return None
    return parts[1] if len(parts) > 1 else "tuneguard"


def _module_name(path: Path, src: Path) -> str:
    parts = list(path.relative_to(src).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(src: Path = SRC) -> dict[tuple[str, str], set[str]]:
    """(importing unit, imported unit) -> the files where it happens, for every tuneguard import
    in `src` (module level or inside functions) that crosses from one unit to another."""
    edges: dict[tuple[str, str], set[str]] = {}
    for path in sorted((src / "tuneguard").rglob("*.py")):
        module = _module_name(path, src)
        here = _unit(module)
        package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = ".".join(package[: len(package) - node.level + 1]) if node.level else ""
                target = ".".join(p for p in (base, node.module or "") if p)
                # `from tuneguard import model` imports the unit `model`, not `tuneguard`.
                targets = [f"{target}.{a.name}" for a in node.names] if node.module is None or target == "tuneguard" \
                    else [target]
            else:
                continue
            for target in targets:
                there = _unit(target)
                if there is not None and here is not None and there != here:
                    edges.setdefault((here, there), set()).add(path.relative_to(src).as_posix())
    return edges


def _layer(unit: str) -> int:
    for i, layer in enumerate(LAYERS):
        if unit in layer:
            return i
    raise AssertionError(f"{unit} is in no layer: add it to LAYERS here and to docs/ARCHITECTURE.md")


def upward(edges: dict[tuple[str, str], set[str]]) -> list[str]:
    return sorted(f"{a} -> {b} ({', '.join(sorted(files))})" for (a, b), files in edges.items()
                  if _layer(b) < _layer(a))


def cycles(edges: dict[tuple[str, str], set[str]]) -> list[list[str]]:
    """Every cycle's units, found by a depth-first search from each unit."""
    graph: dict[str, set[str]] = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)
    found: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        for nxt in sorted(graph.get(node, ())):
            if nxt == path[0]:
                found.append(path + [nxt])
            elif nxt not in path and nxt > path[0]:  # each cycle once, from its smallest unit
                visit(nxt, path + [nxt])

    for start in sorted(graph):
        visit(start, [start])
    return found


def test_every_unit_has_a_layer():
    units = {_unit(_module_name(p, SRC)) for p in (SRC / "tuneguard").rglob("*.py")}
    for unit in units:
        _layer(unit)  # type: ignore[arg-type]


def test_no_package_imports_a_layer_above_it():
    assert upward(imports()) == []


def test_no_two_packages_import_each_other():
    assert cycles(imports()) == []


def test_the_checks_see_an_upward_import_and_a_cycle(tmp_path: Path):
    pkg = tmp_path / "tuneguard"
    for name, body in {"store/__init__.py": "from tuneguard.report import x\n",
                       "report/__init__.py": "def f():\n    from ..guard import y\n",
                       "guard/__init__.py": "from tuneguard import report\n"}.items():
        (pkg / name).parent.mkdir(parents=True, exist_ok=True)
        (pkg / name).write_text(body)
    edges = imports(tmp_path)
    assert upward(edges) == ["store -> report (tuneguard/store/__init__.py)"]
    assert cycles(edges) == [["guard", "report", "guard"]]
