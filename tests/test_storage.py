"""Storage helpers: JSON documents replace their old version whole or not at all."""

from __future__ import annotations

import json

import pytest

from digitseq.core import storage
from digitseq.core.errors import InvalidInputError


def test_write_json_replaces_the_document_through_a_temporary_name(tmp_path):
    path = tmp_path / "metadata.json"
    storage.write_json(str(path), {"a": 1})
    storage.write_json(str(path), {"a": 2})
    assert json.loads(path.read_text()) == {"a": 2}
    assert [p.name for p in tmp_path.iterdir()] == ["metadata.json"]


def test_a_failed_write_leaves_the_old_document_and_no_debris(tmp_path):
    path = tmp_path / "stats.json"
    storage.write_json(str(path), {"count": 1})
    with pytest.raises(TypeError):
        storage.write_json(str(path), {"count": object()})  # not serializable, mid-write
    assert json.loads(path.read_text()) == {"count": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["stats.json"]


def test_read_json_names_the_file(tmp_path):
    with pytest.raises(InvalidInputError, match="missing.json: missing"):
        storage.read_json(str(tmp_path / "missing.json"))
    (tmp_path / "bad.json").write_text("{truncated")
    with pytest.raises(InvalidInputError, match="bad.json: not valid JSON"):
        storage.read_json(str(tmp_path / "bad.json"))
