"""The modules of ``dnmf.datasets`` import one another without a cycle.

Every import between them counts, at module level and inside functions alike: an import moved
into a function still ties the two modules together, it only hides the cycle until run time.
"""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parents[1] / "dnmf" / "datasets"
PACKAGE = "dnmf.datasets"


def _targets(node: ast.ImportFrom | ast.Import, modules: set[str]) -> set[str]:
    """The sibling modules of ``dnmf.datasets`` one import statement reaches."""
    out: set[str] = set()
    if isinstance(node, ast.Import):
        for alias in node.names:
            if alias.name.startswith(PACKAGE + "."):
                out.add(alias.name[len(PACKAGE) + 1:].split(".")[0])
        return out & modules
    if node.level == 0:
        if node.module == PACKAGE:
            base = ""
        elif node.module and node.module.startswith(PACKAGE + "."):
            base = node.module[len(PACKAGE) + 1:]
        else:
            return set()
    elif node.level == 1:
        base = node.module or ""
    else:  # ``from ..x import`` leaves the package
        return set()
    if base:
        out.add(base.split(".")[0])
    else:  # ``from . import a, b``
        out.update(alias.name for alias in node.names)
    return out & modules


def import_graph() -> dict[str, set[str]]:
    """``{module: {sibling modules it imports}}`` over dnmf/datasets/*.py, ``__init__``
    excluded (it imports everything and nothing imports it back)."""
    modules = {p.stem for p in PKG.glob("*.py") if p.stem != "__init__"}
    graph: dict[str, set[str]] = {}
    for m in sorted(modules):
        tree = ast.parse((PKG / f"{m}.py").read_text(encoding="utf-8"))
        graph[m] = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                graph[m] |= _targets(node, modules) - {m}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as ``[a, b, …, a]``, or None (depth-first search)."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = finished
    path: list[str] = []

    def visit(u: str) -> list[str] | None:
        state[u] = 1
        path.append(u)
        for v in sorted(graph.get(u, ())):
            if state.get(v) == 1:
                return path[path.index(v):] + [v]
            if v not in state and (c := visit(v)):
                return c
        path.pop()
        state[u] = 2
        return None

    for u in sorted(graph):
        if u not in state and (c := visit(u)):
            return c
    return None


def test_graph_sees_known_imports():
    # the parser must see real edges, or "no cycle" would be vacuous
    g = import_graph()
    assert "_types" in g["readers"]
    assert "validation" in g["readers"]
    assert {"spectral", "swimmer", "synthetic", "text"} <= g["samples"]


def test_find_cycle_detects_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_datasets_import_graph_is_acyclic():
    g = import_graph()
    cycle = find_cycle(g)
    assert cycle is None, "import cycle in dnmf/datasets: " + " -> ".join(cycle)


def test_known_files_and_mat_reading_sit_below_readers_truth_and_paper():
    g = import_graph()
    assert not g["_known"] & {"readers", "paper", "truth"}
    assert not g["_matfile"] & {"readers", "paper", "truth", "_known"}
    assert "paper" not in g["readers"] and "paper" not in g["truth"]
