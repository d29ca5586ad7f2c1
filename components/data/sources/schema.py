"""Mapping one native record to the common `Row`, strictly about types, never crashing.

Each source module defines a `Schema`: its name, the Hugging Face dataset it comes from, and a
`to_fields` function that picks `problem`, `answer`, `solution`, `id` and `meta` out of a native
record. `to_fields` raises `RecordError` for a record it cannot map (a missing column, a list
where text belongs); `row_from_record` turns that into a `Row` with `load_error` set, so the row
goes to the ledger as `malformed` with its line number.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from components.data.rows import Row
from components.data.sources.files import Record


class RecordError(ValueError):
    """A native record that cannot be mapped; the message names the field."""


@dataclass(frozen=True)
class Fields:
    problem: str
    answer: str
    solution: str | None
    id: str | None
    meta: dict[str, Any]


@dataclass(frozen=True)
class Schema:
    """How one source's native records map to rows (`hub_id`: its default HF dataset)."""

    name: str
    hub_id: str
    to_fields: Callable[[dict[str, Any]], Fields]


def text(record: dict[str, Any], key: str, *, required: bool = True) -> str | None:
    """`record[key]` as text: None becomes "" (empty, judged later); a non-string is an error."""
    if key not in record:
        if required:
            fields = ", ".join(sorted(map(str, record))) or "none"
            raise RecordError(f"no {key!r} field (fields: {fields})")
        return None
    value = record[key]
    if value is None:
        return "" if required else None
    if isinstance(value, str):
        return value
    raise RecordError(f"{key}: expected text, got {type(value).__name__}")


def answer_text(record: dict[str, Any], key: str) -> str:
    """An answer field: text, or a number written as text (AIME answers are often ints).

    None and a float NaN are "" (judged empty later)."""
    if key not in record:
        fields = ", ".join(sorted(map(str, record))) or "none"
        raise RecordError(f"no {key!r} field (fields: {fields})")
    value = record[key]
    if value is None:
        return ""
    if isinstance(value, bool):
        raise RecordError(f"{key}: expected text or a number, got bool")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value != value:   # NaN: a missing value (pandas writes one for every gap), not an answer
            return ""
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, str):
        return value
    raise RecordError(f"{key}: expected text or a number, got {type(value).__name__}")


def native_id(record: dict[str, Any], key: str) -> str | None:
    value = record.get(key)
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (str, int)):
        return str(value) or None
    return None


def scalar_meta(record: dict[str, Any], used: Iterable[str]) -> dict[str, Any]:
    """The record's other scalar fields (long lists such as generations are left out)."""
    skip = set(used)
    return {str(k): v for k, v in record.items()
            if k not in skip and (v is None or isinstance(v, (str, int, float, bool)))}


def row_from_record(source: str, record: Record, schema: Schema) -> Row:
    """One `Row` from one `(line, record, error)`; unreadable records keep their error."""
    line, value, error = record
    fallback_id = f"{source}-{line}"
    if error is None and value is not None:
        try:
            f = schema.to_fields(value)
        except RecordError as exc:
            error = str(exc)
        else:
            return Row(f.id or fallback_id, source, line, f.problem, f.answer, f.solution,
                       {**f.meta, "schema": schema.name})
    return Row(fallback_id, source, line, "", "", None, {"schema": schema.name}, error or "unreadable")


def rows_from_records(source: str, records: Iterable[Record], schema: Schema) -> Iterator[Row]:
    """Rows of one source; a native id seen twice gets a `#L<line>` suffix to stay unique."""
    seen: set[str] = set()
    for record in records:
        row = row_from_record(source, record, schema)
        if row.id in seen:
            row = Row(f"{row.id}#L{row.line}", row.source, row.line, row.problem, row.answer,
                      row.solution, row.meta, row.load_error)
        seen.add(row.id)
        yield row
