"""The layering the design names: imports run one way, and Beam jobs meet only in shared modules."""

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
JOBS = ("render", "ingest", "predict")
"""The job packages under `pipelines/`: each may import only itself and the shared modules."""


def _imported_modules(path: pathlib.Path) -> set[str]:
    """Every module of ours `path` imports, dotted (`pipelines.render.job`), at any depth."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in found if name.split(".")[0] in OURS}


def _modules(package: str) -> list[pathlib.Path]:
    return sorted((ROOT / package).rglob("*.py"))


def job_package_offences(path: pathlib.Path, imported: set[str]) -> list[str]:
    """The imports of `path` that reach into a job package other than its own."""
    parts = path.relative_to(ROOT).parts
    own = parts[1] if parts[0] == "pipelines" and len(parts) > 2 else None
    return sorted(name for name in imported
                  if name.split(".")[:2] in [["pipelines", job] for job in JOBS if job != own]
                  and parts[0] == "pipelines")


@pytest.mark.parametrize("package", sorted(MAY_IMPORT))
def test_imports_run_one_way(package):
    modules = _modules(package)
    assert modules
    offenders = {str(path.relative_to(ROOT)): sorted(
        {name.split(".")[0] for name in _imported_modules(path)} - MAY_IMPORT[package])
        for path in modules}
    assert not {k: v for k, v in offenders.items() if v}


def test_job_packages_meet_only_in_shared_modules():
    assert {p.name for p in (ROOT / "pipelines").iterdir() if (p / "__init__.py").exists()} \
        == set(JOBS)
    offenders = {str(path.relative_to(ROOT)): found for path in _modules("pipelines")
                 if (found := job_package_offences(path, _imported_modules(path)))}
    assert not offenders


def test_the_job_package_check_sees_a_direct_import(tmp_path):
    module = ROOT / "pipelines" / "predict" / "example.py"
    imported = _imported_modules(_write(tmp_path, "from pipelines.ingest import steps\n"
                                                  "from pipelines import images\n"))
    assert job_package_offences(module, imported) == ["pipelines.ingest",
                                                      "pipelines.ingest.steps"]
    assert job_package_offences(module, {"pipelines.predict.records", "pipelines.images"}) == []


def _write(tmp_path: pathlib.Path, text: str) -> pathlib.Path:
    path = tmp_path / "example.py"
    path.write_text(text)
    return path
