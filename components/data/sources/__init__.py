"""Data sources: one loader per source, all yielding the common `Row` (docs/method.md section 5).

A source is named on the command line as
- a known hub dataset (`numina`, `openr1`, `deepscaler`, `limr`, `oreal`), loaded with
  `datasets.load_dataset` (the dataset id and split come from `params.yaml`, `clean.sources.hub`);
- an embedded source (`synthetic-default`: the raw pool plus the bundled real rows;
  `synthetic`: the raw pool alone), built by the caller and passed in as `embedded`;
- a local file (`.jsonl`, `.jsonl.gz`, `.json`, `.parquet`), its schema detected from its
  first record, or forced with `SCHEMA:PATH` (e.g. `limr:data/limr.jsonl`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from components.data.rows import Row
from components.data.sources import deepscaler, limr, local, numina, openr1, oreal
from components.data.sources.files import Record, SourceError, bundled_path, check_readable, read_records
from components.data.sources.schema import Schema, rows_from_records

SCHEMAS: dict[str, Schema] = {s.name: s for s in (numina.SCHEMA, openr1.SCHEMA, deepscaler.SCHEMA,
                                                  limr.SCHEMA, oreal.SCHEMA, local.SCHEMA)}
HUB_SOURCES = ("numina", "openr1", "deepscaler", "limr", "oreal")
_FILE_SUFFIXES = (".jsonl", ".ndjson", ".json", ".gz", ".parquet")

__all__ = ["Source", "RecordSource", "SourceError", "SourcesConfig", "SCHEMAS", "HUB_SOURCES",
           "bundled_sources", "file_source", "hub_source", "resolve_sources"]


class Source(Protocol):
    """Anything that yields rows under one source name."""

    name: str

    def rows(self) -> Iterator[Row]: ...


@dataclass(frozen=True)
class RecordSource:
    """Native records (from a file, the hub or memory) mapped through one schema."""

    name: str
    records: Callable[[], Iterable[Record]]
    schema: Schema | None = None  # None: detect from the first readable record

    def rows(self) -> Iterator[Row]:
        records = iter(self.records())
        schema = self.schema
        if schema is None:
            head: list[Record] = []
            for rec in records:
                head.append(rec)
                if rec[1] is not None:
                    break
            schema = local.detect_schema(head[-1][1] if head else None)
            records = _chain(head, records)
        yield from rows_from_records(self.name, records, schema)


def _chain(head: list[Record], rest: Iterator[Record]) -> Iterator[Record]:
    yield from head
    yield from rest


@dataclass(frozen=True)
class SourcesConfig:
    """Hub datasets (`"repo_id:split"` per source name), a cap on rows read from each (0: all),
    and the bundled real files (`SCHEMA:PATH`, relative to the repository) that
    `synthetic-default` adds to the raw pool."""

    hub: dict[str, str] = field(default_factory=lambda: {n: SCHEMAS[n].hub_id for n in HUB_SOURCES})
    hub_limit: int = 0
    bundled: tuple[str, ...] = ("deepscaler:data/samples/deepscaler_aime_component.jsonl",)


def file_source(path: Path | str, schema: Schema | None = None, name: str | None = None) -> RecordSource:
    """A local file; fails early, with a one-line error, when it is missing or unreadable."""
    path = Path(path)
    check_readable(path)
    return RecordSource(name or str(path), lambda: read_records(path), schema)


def hub_records(name: str, spec: str, limit: int) -> Iterator[Record]:
    """Rows of a Hugging Face dataset `repo_id[:split]`; one-line error when it cannot load."""
    repo, _, split = spec.partition(":")
    split = split or "train"
    try:
        import datasets

        ds = datasets.load_dataset(repo, split=split)
    except Exception as exc:  # offline, unknown repo, gated dataset: all one message
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes")
        hint = "HF_HUB_OFFLINE is set: unset it to download, or" if offline else "without a network,"
        raise SourceError(f"{name}: could not load {repo!r} split {split!r} with datasets ({first}); "
                          f"{hint} pass a local copy as {name}:PATH") from None
    for i, record in enumerate(ds, start=1):
        if limit and i > limit:
            break
        yield i, dict(record), None


def bundled_sources(cfg: SourcesConfig) -> list[RecordSource]:
    """The bundled real files, each named after its schema (e.g. `deepscaler`)."""
    out = []
    for spec in cfg.bundled:
        schema, sep, path = spec.partition(":")
        if not sep or schema not in SCHEMAS:
            raise SourceError(f"clean.sources.bundled: {spec!r} must be SCHEMA:PATH with SCHEMA in {sorted(SCHEMAS)}")
        out.append(file_source(bundled_path(path), SCHEMAS[schema], name=schema))
    return out


def hub_source(name: str, cfg: SourcesConfig) -> RecordSource:
    spec = cfg.hub.get(name) or SCHEMAS[name].hub_id
    return RecordSource(name, lambda: hub_records(name, spec, cfg.hub_limit), SCHEMAS[name])


def resolve_sources(specs: Sequence[str], cfg: SourcesConfig,
                    embedded: Mapping[str, Callable[[], Sequence[Source]]]) -> list[Source]:
    """Sources for the names and paths given on the command line (see the module docstring)."""
    if not specs:
        raise SourceError("no source given (pass --source NAME_OR_PATH, e.g. synthetic-default)")
    out: list[Source] = []
    for spec in specs:
        if spec in embedded:
            out.extend(embedded[spec]())
        elif spec in HUB_SOURCES:
            out.append(hub_source(spec, cfg))
        else:
            prefix, sep, rest = spec.partition(":")
            if sep and prefix in SCHEMAS and rest:
                out.append(file_source(rest, SCHEMAS[prefix], name=spec))
            elif Path(spec).exists() or "/" in spec or spec.lower().endswith(_FILE_SUFFIXES):
                out.append(file_source(spec))  # a path: missing or unreadable is a one-line error
            else:
                known = ", ".join([*embedded, *HUB_SOURCES])
                raise SourceError(f"{spec}: not a known source ({known}) and no such file")
    names = [s.name for s in out]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise SourceError(f"{twice[0]}: source given twice (each source may appear once)")
    return out
