"""What a fresh install needs: every third-party module the product imports is declared.

Regression: `qbt up` on a fresh machine died with `No module named 'httpx'` (declared only in
the dev extra) and psutil arrived only through pgserver.
"""

from __future__ import annotations

import ast
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = ("runtime", "cluster", "dataprep", "backtest", "serve")
# Imported only behind an ImportError guard that names the extra to install.
OPTIONAL = {"pgserver": "embedded"}


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _names(requirements: list[str]) -> set[str]:
    return {Requirement(r).name.lower().replace("_", "-") for r in requirements}


def _imports_of(path: Path) -> set[str]:
    """Top-level modules a file imports anywhere (module level or inside functions)."""
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            modules.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module.split(".")[0])
    return modules


def _third_party_imports() -> dict[str, str]:
    """Top-level module -> first file importing it, over the product packages."""
    first_party = set(PRODUCT) | {"benchmarks", "tests"}
    found: dict[str, str] = {}
    for package in PRODUCT:
        for path in sorted((ROOT / package).rglob("*.py")):
            for top in sorted(_imports_of(path)):
                if top not in sys.stdlib_module_names and top not in first_party:
                    found.setdefault(top, str(path.relative_to(ROOT)))
    return found


def test_every_runtime_import_is_a_declared_dependency():
    project = _project()
    declared = _names(project["dependencies"])
    extras = {name: _names(reqs) for name, reqs in project["optional-dependencies"].items()}
    distributions = packages_distributions()
    missing = []
    for module, where in sorted(_third_party_imports().items()):
        names = {d.lower().replace("_", "-") for d in distributions.get(module, [module])}
        allowed = extras[OPTIONAL[module]] if module in OPTIONAL else declared
        if not names & allowed:
            missing.append(f"{module} (imported by {where}; distribution {sorted(names)})")
    assert not missing, "not in [project].dependencies: " + "; ".join(missing)


@pytest.mark.parametrize("module", sorted(OPTIONAL))
def test_optional_imports_name_their_extra(module):
    users = [path for package in PRODUCT for path in (ROOT / package).rglob("*.py")
             if module in _imports_of(path)]
    assert users
    for path in users:
        text = path.read_text()
        assert "except ImportError" in text and f"qbt[{OPTIONAL[module]}]" in text, path
