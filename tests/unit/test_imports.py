"""No import cycles, and dependencies point inward: the domain imports only the standard library
and the library's domain module; the write side never imports the API or the read side."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]
PACKAGES = ("domain", "commands", "projections", "queries", "api")


def module_graph() -> dict[str, set[str]]:
    modules = {
        ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): path
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
    }
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        imported: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                imported |= {node.module, *(f"{node.module}.{a.name}" for a in node.names)}
            elif isinstance(node, ast.Import):
                imported |= {a.name for a in node.names}
        graph[name] = {m for m in imported if m in modules and m != name}
    return graph


def test_no_module_imports_itself_through_others() -> None:
    graph = module_graph()
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*path[path.index(nxt) :], nxt] if nxt in path else [node, nxt])
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    sys.setrecursionlimit(10_000)
    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert cycles == []


def test_dependencies_point_inward() -> None:
    for module, imported in module_graph().items():
        top = {m.split(".")[0] for m in imported}
        if module.startswith("domain"):
            assert top <= {"domain"}, module
        if module.startswith("commands"):
            assert top <= {"domain", "commands"}, module
        if module.startswith(("projections", "queries")):
            assert "api" not in top, module


def test_the_domain_imports_only_the_standard_library_and_the_library_domain() -> None:
    allowed = set(sys.stdlib_module_names) | {"domain", "eventsourcing.domain", "__future__"}
    for path in (ROOT / "domain").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else []
            )
            for name in names:
                assert name in allowed or name.split(".")[0] in allowed - {"eventsourcing"}, (path.name, name)
