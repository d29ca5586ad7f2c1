"""Resolving --source arguments, SCHEMA:PATH overrides, and the hub loader's real code path."""

import shutil

import pytest

from components.data.sources import SourcesConfig, hub_source, resolve_sources
from components.data.sources.files import SourceError


def test_schema_prefix_overrides_detection(fixtures):
    (src,) = resolve_sources([f"numina:{fixtures / 'numina15.jsonl'}"], SourcesConfig(), {})
    assert src.name == f"numina:{fixtures / 'numina15.jsonl'}"
    assert [r.meta["schema"] for r in src.rows()] == ["numina"] * 3


def test_same_source_twice_is_refused(fixtures):
    path = str(fixtures / "oreal.jsonl")
    with pytest.raises(SourceError, match="given twice"):
        resolve_sources([path, path], SourcesConfig(), {})


def test_hub_loader_reads_through_datasets(tmp_path, fixtures):
    # load_dataset on a local folder runs the same code path as a hub id, offline.
    folder = tmp_path / "oreal_hub"
    folder.mkdir()
    shutil.copy(fixtures / "oreal.jsonl", folder / "train.jsonl")
    cfg = SourcesConfig(hub={"oreal": f"{folder}:train"})
    rows = list(hub_source("oreal", cfg).rows())
    assert [r.answer for r in rows] == ["6", "385", "C"] and rows[0].source == "oreal"
    assert [r.line for r in rows] == [1, 2, 3]


def test_unreachable_hub_dataset_is_one_line_error(tmp_path):
    cfg = SourcesConfig(hub={"numina": f"{tmp_path / 'no-such-dataset'}:train"})
    with pytest.raises(SourceError) as exc:
        list(hub_source("numina", cfg).rows())
    msg = str(exc.value)
    assert "\n" not in msg and msg.startswith("numina: could not load") and "numina:PATH" in msg
