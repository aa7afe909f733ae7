"""The shared dataset writer changed no byte: render and ingest outputs equal those of the code
before it (digests recorded from that code, `python tests/test_writer_identity.py`).

Shards and `metadata.json` must be byte-identical (metadata compared with the run's temporary
folder written as `<tmp>`; `IGNORED_FIELDS` lists fields left out of the comparison).
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import sys

if __name__ == "__main__":
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

from digitseq import cli  # noqa: E402
from tests.scans import write_scans  # noqa: E402

IGNORED_FIELDS: tuple[str, ...] = ()
"""`metadata.json` fields added since the digests were recorded."""
EXPECTED = {
    "render": "18409be6c5d8140b1665a6f906a372b65fb1d5455637d58f4a270b962aac9f2c",
    "ingest": "930d9089d5ca0f293f12c03cffef6bb231ed17c6e8695ec75da904534c643e38",
}


def fingerprint(out: pathlib.Path, tmp: pathlib.Path) -> str:
    """sha256 over every shard's path and bytes, and `metadata.json` less `IGNORED_FIELDS`."""
    digest = hashlib.sha256()
    for path in sorted(out.glob("*/*.tfrecord.gz")):
        digest.update(
            str(path.relative_to(out)).encode() + hashlib.sha256(path.read_bytes()).digest()
        )
    metadata = json.loads((out / "metadata.json").read_text())
    for name in IGNORED_FIELDS:
        metadata.pop(name, None)
    text = json.dumps(metadata, sort_keys=True).replace(str(tmp), "<tmp>")
    digest.update(text.encode())
    return digest.hexdigest()


def run(job: str, tmp: pathlib.Path) -> str:
    out = tmp / "out"
    if job == "render":
        code = cli.run(
            [
                "render",
                "--out",
                str(out),
                "--mnist",
                "sample",
                "--preset",
                "touching",
                "--mode",
                "variable",
                "--train",
                "60",
                "--validation",
                "10",
                "--test",
                "10",
                "--seed",
                "4",
            ]
        )
    else:
        write_scans(tmp / "in")
        code = cli.run(
            [
                "ingest",
                "--images",
                str(tmp / "in" / "scans" / "*"),
                "--labels",
                str(tmp / "in" / "labels.csv"),
                "--out",
                str(out),
            ]
        )
    assert code == 0
    return fingerprint(out, tmp)


def test_render_shards_and_metadata_are_unchanged(tmp_path):
    assert run("render", tmp_path) == EXPECTED["render"]


def test_ingest_shards_and_metadata_are_unchanged(tmp_path):
    assert run("ingest", tmp_path) == EXPECTED["ingest"]


if __name__ == "__main__":
    import tempfile

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    for name in EXPECTED:
        with tempfile.TemporaryDirectory() as folder:
            print(name, run(name, pathlib.Path(folder)))
