"""The import graph runs one way (ARCHITECTURE.md, "Packages"): entry points and engines
(``glue_scripts``) and the Dagster code location (``clickpipe_dagster``) build on the kernel
(``clickpipe_core``), never on each other; the kernel imports neither, nor Dagster."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

# package -> top-level modules it must never import (anywhere, even inside a function)
FORBIDDEN = {
    "clickpipe_core": {"clickpipe_dagster", "glue_scripts", "dagster", "dagster_aws", "dagster_pipes"},
    "glue_scripts": {"clickpipe_dagster", "dagster", "dagster_aws"},
    "clickpipe_dagster": {"glue_scripts"},
}


def imported_modules(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_imports_run_one_way(package):
    offenders = {}
    for path in sorted((REPO / package).rglob("*.py")):
        bad = sorted(m for m in imported_modules(path) if m.split(".")[0] in FORBIDDEN[package])
        if bad:
            offenders[path.relative_to(REPO).as_posix()] = bad
    assert not offenders, f"{package} must not import {sorted(FORBIDDEN[package])}: {offenders}"


def test_the_checker_sees_imports_inside_functions(tmp_path):
    probe = tmp_path / "m.py"
    probe.write_text("def f():\n    from glue_scripts import layout\n    import clickpipe_dagster.x\n")
    assert imported_modules(probe) == {"glue_scripts", "clickpipe_dagster.x"}
