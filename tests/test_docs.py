"""The docs stay true to the tree: DESIGN.md's module table names every module and nothing else,
every relative link of the README and the docs pages points to a file, and the README stays short."""

from __future__ import annotations

import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "digitseq"
DESIGN = ROOT / "docs" / "DESIGN.md"
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]
README_LINES = 300
"""The most lines the README may have: what it is, install, the demo, the commands, links."""


def module_table(text: str) -> list[tuple[str, list[str]]]:
    """The rows of the module table in the `## Architecture` section: `(package, names)`, the
    package carried down from the row above when its cell is empty."""
    section = re.search(r"^## Architecture\n(.*?)(?=^## )", text, re.S | re.M)
    assert section, "DESIGN.md has no '## Architecture' section"
    rows, package = [], None
    for line in section.group(1).splitlines():
        if not line.startswith("|"):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if cells[0] == "package" or re.fullmatch(r":?-+:?", cells[0]):
            continue  # the header and the separator
        if cells[0]:
            package = cells[0].strip("`")
        assert package, f"a row without a package: {line}"
        rows.append((package, re.findall(r"`([^`]+)`", cells[1])))
    assert rows, "DESIGN.md's Architecture section has no module table"
    return rows


def table_paths(rows: list[tuple[str, list[str]]]) -> list[str]:
    """Every path the table names, relative to the checkout (`digitseq/core/errors.py`)."""
    return [package.rstrip("/") + "/" + name for package, names in rows for name in names]


def modules_in_tree() -> set[str]:
    """Every module of the package but `__init__.py` and `__main__.py`."""
    return {
        path.relative_to(ROOT).as_posix()
        for path in PACKAGE.rglob("*.py")
        if path.name not in ("__init__.py", "__main__.py")
    }


def table_problems(text: str) -> list[str]:
    paths = table_paths(module_table(text))
    problems = [
        f"{path}: in DESIGN.md's module table, not in the tree"
        for path in paths
        if not (ROOT / path).exists()
    ]
    named = {path for path in paths if path.endswith(".py")}
    problems += [
        f"{path}: in the tree, not in DESIGN.md's module table"
        for path in sorted(modules_in_tree() - named)
    ]
    return problems


def test_the_module_table_names_every_module_and_only_modules_that_exist():
    assert table_problems(DESIGN.read_text()) == []


def test_the_module_table_check_sees_a_renamed_entry():
    text = DESIGN.read_text()
    assert "| `claims.py` |" in text
    broken = table_problems(text.replace("| `claims.py` |", "| `claim.py` |", 1))
    assert sorted(set(broken) - set(table_problems(text))) == [
        "digitseq/core/claim.py: in DESIGN.md's module table, not in the tree",
        "digitseq/core/claims.py: in the tree, not in DESIGN.md's module table",
    ]


LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def relative_links(text: str) -> list[str]:
    """The targets of the Markdown links in `text` that are not URLs or anchors of the page
    itself, without their `#anchor`; links inside fenced code blocks do not count."""
    prose = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    targets = [target.split("#")[0] for target in LINK.findall(prose)]
    return [t for t in targets if t and not re.match(r"[a-z][a-z0-9+.-]*:", t)]


@pytest.mark.parametrize("page", PAGES, ids=[p.relative_to(ROOT).as_posix() for p in PAGES])
def test_relative_links_point_to_files(page):
    missing = [
        target for target in relative_links(page.read_text()) if not (page.parent / target).exists()
    ]
    assert missing == []


def test_the_link_check_sees_a_missing_file():
    text = "[a](docs/render.md) [b](https://example.com/x.md) [c](#here) [d](nowhere.md#x)\n"
    assert relative_links(text) == ["docs/render.md", "nowhere.md"]


def test_the_readme_is_short():
    lines = len(README.read_text().splitlines())
    assert lines <= README_LINES, f"README.md has {lines} lines, at most {README_LINES} expected"
