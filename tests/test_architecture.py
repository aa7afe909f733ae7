"""The layering the design names: imports run one way, and library modules stay small."""

from __future__ import annotations

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
OURS = {"schemas", "recognizer", "pipelines", "digitseq"}
MAY_IMPORT = {
    "schemas": {"schemas"},
    "recognizer": {"schemas", "recognizer"},
    "pipelines": {"schemas", "recognizer", "pipelines"},
    "digitseq": OURS,
}


def _imports(path: pathlib.Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found & OURS


@pytest.mark.parametrize("package", sorted(MAY_IMPORT))
def test_imports_run_one_way(package):
    offenders = {str(path.relative_to(ROOT)): sorted(_imports(path) - MAY_IMPORT[package])
                 for path in (ROOT / package).glob("*.py")}
    assert not {k: v for k, v in offenders.items() if v}


@pytest.mark.parametrize("package", ["schemas", "recognizer", "pipelines"])
def test_library_modules_stay_small(package):
    long = {path.name: n for path in (ROOT / package).glob("*.py")
            if (n := len(path.read_text().splitlines())) > 300}
    assert not long
