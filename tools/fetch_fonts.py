"""Fetches the handwriting font families digitseq may train on, as npm's `@fontsource` packages.

    python tools/fetch_fonts.py --out fonts [FAMILY ...]

Runs `npm pack @fontsource/FAMILY` for each family (all of `FAMILIES` by default) and keeps the
package's Latin glyph files of normal style, every weight, as `OUT/FAMILY/*.woff2`, with the
package's LICENSE (every family is under the SIL Open Font License). This is the only step that
needs the network (the npm registry); `digitseq render --fonts OUT` then reads the directory.
Families already in OUT are skipped; a family whose files lack a digit is refused by the render
job, not here.
"""

from __future__ import annotations

import argparse
import pathlib
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile

FAMILIES = (
    "architects-daughter",
    "bad-script",
    "caveat",
    "caveat-brush",
    "cedarville-cursive",
    "chilanka",
    "covered-by-your-grace",
    "delicious-handrawn",
    "delius",
    "finger-paint",
    "gochi-hand",
    "handlee",
    "happy-monkey",
    "herr-von-muellerhoff",
    "indie-flower",
    "itim",
    "kalam",
    "long-cang",
    "liu-jian-mao-cao",
    "mansalva",
    "marck-script",
    "mr-de-haviland",
    "ms-madi",
    "nanum-brush-script",
    "neucha",
    "oooh-baby",
    "patrick-hand",
    "permanent-marker",
    "playpen-sans",
    "poor-story",
    "schoolbell",
    "shantell-sans",
    "short-stack",
    "sriracha",
    "swanky-and-moo-moo",
    "twinkle-star",
    "yomogi",
    "zhi-mang-xing",
)
"""The Google Fonts handwriting families digitseq may train on (SIL Open Font License)."""

_GLYPH_FILE = re.compile(r"^package/files/[a-z0-9-]+-latin-\d+-normal\.woff2$")


def fetch(family: str, out: pathlib.Path) -> int:
    """Packs `@fontsource/family` into a temporary directory and copies its Latin files; returns
    how many font files it kept."""
    target = out / family
    if target.is_dir() and any(target.glob("*.woff2")):
        return len(list(target.glob("*.woff2")))
    with tempfile.TemporaryDirectory() as tmp:
        result = subprocess.run(
            ["npm", "pack", "--silent", f"@fontsource/{family}"],
            cwd=tmp,
            capture_output=True,
            text=True,
        )
        if result.returncode:
            raise RuntimeError(f"npm pack @fontsource/{family}: {result.stderr.strip()}")
        archive = next(pathlib.Path(tmp).glob("*.tgz"))
        partial = out / f".{family}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        kept = 0
        with tarfile.open(archive) as tar:
            for member in tar.getmembers():
                name = pathlib.PurePosixPath(member.name).name
                if _GLYPH_FILE.match(member.name) or member.name == "package/LICENSE":
                    (partial / name).write_bytes(tar.extractfile(member).read())
                    kept += name.endswith(".woff2")
        partial.rename(target)
    return kept


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="fonts", help="directory to fill (default: fonts)")
    parser.add_argument("families", nargs="*", default=FAMILIES, help="default: all of them")
    args = parser.parse_args(argv)
    out = pathlib.Path(args.out)
    for family in args.families:
        if family not in FAMILIES:
            print(f"{family}: not one of the families digitseq may train on", file=sys.stderr)
            return 2
        print(f"{family}: {fetch(family, out)} font files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
