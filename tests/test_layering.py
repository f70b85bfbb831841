"""The package layering of ARCHITECTURE.md, checked on every import statement (including lazy ones)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("contracts", "receiver", "storage", "query", "alerts", "dashboard", "instrumentation", "vigil")

# package -> the Vigil packages it must never import
FORBIDDEN: dict[str, set[str]] = {
    "contracts": set(PACKAGES) - {"contracts"},
    "receiver": {"storage", "query", "alerts", "dashboard", "instrumentation", "vigil"},
    "storage": {"receiver", "query", "alerts", "dashboard", "instrumentation", "vigil"},
    "query": {"receiver", "storage", "alerts", "dashboard", "instrumentation", "vigil"},
    "alerts": {"receiver", "storage", "dashboard", "instrumentation", "vigil"},
    "dashboard": {"receiver", "storage", "query", "alerts", "instrumentation", "vigil"},
    # the client side talks to Vigil only over OTLP/HTTP, like any third-party app
    "instrumentation": set(PACKAGES) - {"instrumentation"},
}


def imported_packages(path: Path) -> set[str]:
    """Top-level package names imported anywhere in ``path``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def violations(package: str) -> list[str]:
    """``file: imports X`` for every forbidden import in ``package``."""
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        bad = imported_packages(path) & FORBIDDEN[package]
        found += [f"{path.relative_to(ROOT)}: imports {name}" for name in sorted(bad)]
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_package_respects_layering(package: str) -> None:
    assert (ROOT / package).is_dir()
    assert violations(package) == []


def test_checker_sees_a_forbidden_import(tmp_path: Path) -> None:
    """The walk finds lazy imports inside functions too (a checker that cannot fail proves nothing)."""
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from query.api import build_app\n    import storage.spool\n")
    assert imported_packages(module) >= {"query", "storage"}
