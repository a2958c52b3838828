"""The layers of QBT, kept by a test rather than by good intentions (STYLE.md 11).

    runtime             settings, names, Ray connection, metrics; imports nothing of QBT
    dataprep, backtest  the domain: runtime only (backtest also reads dataprep.panel, the
                        FactorPanel contract between them)
    serve               the HTTP service, its store and dispatcher: runtime and the domain
    cluster             the `qbt` CLI and the deployment's lifecycle: anything
    benchmarks          outside the wheel: anything; nothing imports it

and no import cycle among the modules at import time.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("runtime", "dataprep", "backtest", "serve", "cluster", "benchmarks")
# module prefix -> the QBT modules it may import (prefixes); the longest prefix decides
ALLOWED: dict[str, tuple[str, ...]] = {
    "runtime": ("runtime",),
    "dataprep": ("runtime", "dataprep"),
    "backtest": ("runtime", "backtest", "dataprep.panel"),
    "serve": ("runtime", "dataprep", "backtest", "serve"),
    "cluster": PACKAGES[:-1],
    "benchmarks": PACKAGES,
}


def _modules() -> dict[str, Path]:
    return {
        ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__"): path
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
    }


def _imports(path: Path, *, module_level_only: bool) -> Iterator[tuple[int, str]]:
    """(line, module) of the QBT imports of a file; at import time only, if asked (not in
    functions, not under `if TYPE_CHECKING:`)."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if module_level_only else list(ast.walk(tree))
    for node in nodes:
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            if name.split(".")[0] in PACKAGES:
                yield node.lineno, name


def _rule(module: str) -> tuple[str, ...]:
    prefixes = [p for p in ALLOWED if module == p or module.startswith(p + ".")]
    return ALLOWED[max(prefixes, key=len)]


def _within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def test_each_layer_imports_only_what_is_below_it():
    modules = _modules()
    wrong = []
    for module, path in modules.items():
        allowed = _rule(module)
        for line, name in _imports(path, module_level_only=False):
            if name in modules or name.rsplit(".", 1)[0] in modules or name in PACKAGES:
                target = name if name in modules or name in PACKAGES else name.rsplit(".", 1)[0]
                if not _within(target, allowed):
                    wrong.append(f"{path.relative_to(ROOT)}:{line} imports {target}")
    assert not wrong, "imports across layers: " + "; ".join(sorted(set(wrong)))


def _import_time_graph() -> dict[str, set[str]]:
    modules = _modules()
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for module, path in modules.items():
        for _, name in _imports(path, module_level_only=True):
            target = name if name in modules else name.rsplit(".", 1)[0]
            if target in modules and target != module:
                graph[module].add(target)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle_among_modules():
    assert _cycles(_import_time_graph()) == []


def test_the_cycle_finder_finds_cycles():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.parametrize("package", ["runtime", "dataprep", "backtest"])
def test_a_forbidden_import_fails(package):
    """The rule itself: the domain and the runtime may not import an edge."""
    assert not _within("serve.app", _rule(f"{package}.anything"))
    assert not _within("cluster.cli", _rule(f"{package}.anything"))
