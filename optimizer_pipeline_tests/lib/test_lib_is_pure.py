"""``optimizer_pipeline/lib`` is pure logic: no module imports Dagster, so every domain is tested directly and the
same code runs inside and outside an asset."""

from __future__ import annotations

import ast
from pathlib import Path

LIB = Path(__file__).resolve().parents[2] / "optimizer_pipeline" / "lib"


def _imported_roots(py: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(py.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            roots.add((node.module or "").split(".")[0])
    return roots


def test_no_module_under_lib_imports_dagster():
    modules = sorted(LIB.rglob("*.py"))
    assert len(modules) > 50  # the walk really covers the domain folders
    offenders = [str(py.relative_to(LIB)) for py in modules if "dagster" in _imported_roots(py)]
    assert offenders == []
