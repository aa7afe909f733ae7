"""The layering the design names: imports run one way, no import circle, and Beam jobs meet only
in shared modules."""

from __future__ import annotations

import ast
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "digitseq"
RECOGNIZER = ("config", "data", "model", "serving", "train")
"""The parts of `digitseq.recognizer`, each a unit of the layering below."""
BELOW = {
    "core": set(),
    "schemas": {"core"},
    "recognizer.config": {"core"},
    "recognizer.data": {"core", "schemas", "recognizer.config"},
    "recognizer.model": {"core", "schemas", "recognizer.config"},
    "recognizer.serving": {"core", "schemas", "recognizer.config", "recognizer.model"},
    "recognizer.train": {
        "core",
        "schemas",
        "recognizer.config",
        "recognizer.data",
        "recognizer.model",
        "recognizer.serving",
    },
    "pipelines": {"core", "schemas", "recognizer.config", "recognizer.serving"},
}
"""What each unit may import besides itself. The rest of the package (the command line `cli` and
the library API beside it) is on top and may import anything: the Beam jobs use the recognizer's
config and serving side only (scoring with exported models, never training)."""
JOBS = ("render", "ingest", "predict")
"""The job packages under `digitseq/pipelines/`: each may import only itself and the shared
modules."""


def module_name(path: pathlib.Path) -> str:
    """`digitseq/recognizer/data/reader.py` -> `digitseq.recognizer.data.reader`."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def unit(module: str) -> str:
    """The layering unit of a module of ours: `recognizer.data`, `pipelines`, ... or `top`."""
    parts = module.split(".")[1:]
    if parts[:1] == ["recognizer"] and len(parts) > 1 and parts[1] in RECOGNIZER:
        return f"recognizer.{parts[1]}"
    return parts[0] if parts and parts[0] in BELOW else "top"


def _imported_modules(path: pathlib.Path) -> set[str]:
    """Every module of ours `path` imports, dotted (`digitseq.pipelines.render.job`), at any
    depth (imports inside functions count)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found |= {node.module} | {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in found if name.split(".")[0] == "digitseq"}


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def import_graph() -> dict[str, set[str]]:
    """Module -> the modules of ours it imports (names that are not modules, such as classes,
    stand for the module that defines them)."""
    graph = {}
    for name, path in MODULES.items():
        graph[name] = {
            found if found in MODULES else found.rsplit(".", 1)[0]
            for found in _imported_modules(path)
        } - {name}
        graph[name] = {found for found in graph[name] if found in MODULES}
    return graph


def layering_offences(graph: dict[str, set[str]]) -> dict[str, list[str]]:
    offences = {}
    for name, imported in graph.items():
        if unit(name) == "top":
            continue
        allowed = BELOW[unit(name)] | {unit(name)}
        if wrong := sorted(
            found for found in imported if unit(found) not in allowed and found != "digitseq"
        ):
            offences[name] = wrong
    return offences


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Import circles between modules (a package importing its own modules is not one)."""
    found, state = [], {}

    def visit(name: str, path: list[str]) -> None:
        state[name] = "open"
        path.append(name)
        for other in sorted(graph.get(name, ())):
            if other == name or other.startswith(name + "."):
                continue
            if state.get(other) == "open":
                found.append(path[path.index(other) :] + [other])
            elif other not in state:
                visit(other, path)
        path.pop()
        state[name] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [])
    return found


def test_every_module_belongs_to_a_unit_of_the_layering():
    units = {unit(name) for name in MODULES}
    assert units == set(BELOW) | {"top"}


def test_imports_run_one_way():
    assert layering_offences(import_graph()) == {}


def test_no_import_circle():
    assert circles(import_graph()) == []


def test_the_checks_see_a_wrong_import_and_a_circle():
    graph = {
        "digitseq.recognizer.serving.export": {"digitseq.recognizer.train.trainer"},
        "digitseq.recognizer.train.trainer": {"digitseq.recognizer.serving.export"},
        "digitseq.pipelines.images": {"digitseq.recognizer.data.reader"},
    }
    assert layering_offences(graph) == {
        "digitseq.recognizer.serving.export": ["digitseq.recognizer.train.trainer"],
        "digitseq.pipelines.images": ["digitseq.recognizer.data.reader"],
    }
    assert circles(graph) == [
        [
            "digitseq.recognizer.serving.export",
            "digitseq.recognizer.train.trainer",
            "digitseq.recognizer.serving.export",
        ]
    ]


def job_package_offences(module: str, imported: set[str]) -> list[str]:
    """The imports of `module` (in `digitseq.pipelines`) that reach into a job package other
    than its own."""
    parts = module.split(".")
    own = parts[2] if len(parts) > 3 else None
    return sorted(
        name
        for name in imported
        if name.split(".")[:3] in [["digitseq", "pipelines", job] for job in JOBS if job != own]
    )


def test_job_packages_meet_only_in_shared_modules():
    assert {
        p.name for p in (PACKAGE / "pipelines").iterdir() if (p / "__init__.py").exists()
    } == set(JOBS)
    offenders = {
        name: found
        for name, path in MODULES.items()
        if unit(name) == "pipelines"
        and (found := job_package_offences(name, _imported_modules(path)))
    }
    assert not offenders


def test_the_job_package_check_sees_a_direct_import(tmp_path):
    imported = _imported_modules(
        _write(
            tmp_path,
            "from digitseq.pipelines.ingest import steps\nfrom digitseq.pipelines import images\n",
        )
    )
    assert job_package_offences("digitseq.pipelines.predict.example", imported) == [
        "digitseq.pipelines.ingest",
        "digitseq.pipelines.ingest.steps",
    ]
    assert (
        job_package_offences(
            "digitseq.pipelines.predict.example",
            {"digitseq.pipelines.predict.records", "digitseq.pipelines.images"},
        )
        == []
    )


def _write(tmp_path: pathlib.Path, text: str) -> pathlib.Path:
    path = tmp_path / "example.py"
    path.write_text(text)
    return path


HEAVY = ("tensorflow", "keras", "apache_beam", "matplotlib")
"""Libraries the command line loads only once a command runs, after its flags are checked."""


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["predict", "--model", "m", "--input", "i", "--out", "o", "--review-below", "2"],
        ["train", "--data", "d", "--model-dir", "m", "--arch", "convctc", "--dilation", "99"],
        ["render", "--out", "o", "--preset", "scanned", "--scan-blur", "nan,1"],
        ["ingest", "--images", "i", "--labels", "l", "--out", "o", "--test-fraction", "2"],
        ["demo", "--epochs", "0"],
        ["calibrate", "--model", "m", "--data", "d", "--beam-width", "0"],
    ],
)
def test_the_command_line_checks_flags_without_loading_tensorflow_or_beam(argv):
    script = (
        "import sys\nfrom digitseq import cli\n"
        f"status = cli.run({argv!r})\n"
        f"print(status, sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert result.stdout.splitlines()[-1] == f"{0 if argv == ['--help'] else 2} []", (
        result.stdout[-500:] + result.stderr[-2000:]
    )
    if argv != ["--help"]:
        assert "error:" in result.stderr


def test_the_names_the_options_choose_from_are_the_ones_built():
    from digitseq.recognizer import config
    from digitseq.recognizer.model import architectures as models
    from digitseq.recognizer.train import trainer as train

    assert tuple(models.CELLS) == config.CELL_NAMES
    assert tuple(train.OPTIMIZERS) == config.OPTIMIZER_NAMES
