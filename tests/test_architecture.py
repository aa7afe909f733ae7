"""The layering the design names: imports run one way, and Beam jobs meet only in shared modules."""

from __future__ import annotations

import ast
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
OURS = {"schemas", "recognizer", "pipelines", "digitseq"}
MAY_IMPORT = {
    "schemas": {"schemas"},
    "recognizer": {"schemas", "recognizer"},
    "pipelines": {"schemas", "recognizer", "pipelines"},
    "digitseq": OURS,
}
RECOGNIZER_FOR_JOBS = {"builtin", "calibration", "config", "decoding", "metrics", "patterns",
                       "precision"}
"""The `recognizer` modules the Beam jobs may use: scoring with exported models, never training."""
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


def test_the_jobs_use_only_the_scoring_side_of_the_recognizer():
    offenders = {str(path.relative_to(ROOT)): sorted(used) for path in _modules("pipelines")
                 if (used := {name.split(".")[1] for name in _imported_modules(path)
                              if name.startswith("recognizer.")} - RECOGNIZER_FOR_JOBS)}
    assert not offenders


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


HEAVY = ("tensorflow", "keras", "apache_beam", "matplotlib")
"""Libraries the command line loads only once a command runs, after its flags are checked."""


@pytest.mark.parametrize("argv", [
    ["--help"],
    ["predict", "--model", "m", "--input", "i", "--out", "o", "--review-below", "2"],
    ["train", "--data", "d", "--model-dir", "m", "--arch", "convctc", "--dilation", "99"],
    ["render", "--out", "o", "--preset", "scanned", "--scan-blur", "nan,1"],
    ["ingest", "--images", "i", "--labels", "l", "--out", "o", "--test-fraction", "2"],
    ["demo", "--epochs", "0"],
])
def test_the_command_line_checks_flags_without_loading_tensorflow_or_beam(argv):
    script = ("import sys\nfrom digitseq import cli\n"
              f"status = cli.run({argv!r})\n"
              f"print(status, sorted(m for m in {HEAVY!r} if m in sys.modules))\n")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.stdout.splitlines()[-1] == f"{0 if argv == ['--help'] else 2} []", \
        result.stdout[-500:] + result.stderr[-2000:]
    if argv != ["--help"]:
        assert "error:" in result.stderr


def test_the_names_the_options_choose_from_are_the_ones_built():
    from recognizer import config, models, train

    assert tuple(models.CELLS) == config.CELL_NAMES
    assert tuple(train.OPTIMIZERS) == config.OPTIMIZER_NAMES
