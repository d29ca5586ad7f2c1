"""The outputs of a cleaning run: the clean set, the ledger of rejected rows, the report.

Nothing is dropped silently: every input row is either kept (`clean.parquet`) or in the ledger
(`rejected.parquet`) with its primary reason, the agent that gave it, its message and every
agent's verdict; `check_arithmetic` raises when rows in != kept + rejected, in total or for any
source. Files are written atomically, rows sorted by (source, line), JSON with sorted keys and
no timestamps, so the same inputs give byte-identical files.

Verdict columns (`verdict_<agent>`) hold "pass", "skip", the rejection reason, "unreviewed"
(the agent ran, but the row had already been rejected before a set-scope agent) or "off" (the
agent did not run in this run).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from components.atomic import write_bytes, write_with
from components.data.agents import AGENT_ORDER
from components.data.rows import REASONS, SURPLUS, Row, Verdict

CLEAN_SCHEMA = pa.schema([
    ("id", pa.string()), ("source", pa.string()), ("line", pa.int64()), ("problem", pa.string()),
    ("answer", pa.string()), ("solution", pa.string()), ("meta", pa.string()),
])
LEDGER_SCHEMA = pa.schema([
    ("source", pa.string()), ("line", pa.int64()), ("id", pa.string()), ("reason", pa.string()),
    ("agent", pa.string()), ("message", pa.string()),
    *[(f"verdict_{a}", pa.string()) for a in AGENT_ORDER],
    ("messages", pa.string()),
])


class LedgerError(RuntimeError):
    """The books do not balance: a row was lost or counted twice."""


def _safe(text: str) -> str:
    """Text that Parquet can store: lone surrogates (from odd JSON escapes) become U+FFFD."""
    return text.encode("utf-8", "replace").decode("utf-8") if text else text


def verdict_cell(agent: str, verdicts: Mapping[str, Verdict], ran: Sequence[str]) -> str:
    if agent not in ran:
        return "off"
    v = verdicts.get(agent)
    if v is None:
        return "unreviewed"
    return v.reason if v.status == "reject" else v.status


def meta_json(row: Row, verdicts: Mapping[str, Verdict]) -> str:
    meta = dict(row.meta)
    d = verdicts.get("difficulty")
    if d is not None and d.score is not None:
        meta["policy_pass_rate"] = d.score
    return json.dumps(meta, sort_keys=True, ensure_ascii=False, default=str)


def clean_table(rows: Sequence[Row], verdicts: Sequence[Mapping[str, Verdict]], kept: Sequence[int]) -> pa.Table:
    """Kept rows, sorted by (source, line); ids made unique across sources when they clash."""
    order = sorted(kept, key=lambda i: (rows[i].source, rows[i].line))
    seen: set[str] = set()
    ids = []
    for i in order:
        rid = rows[i].id if rows[i].id not in seen else f"{rows[i].id}@{rows[i].source}:{rows[i].line}"
        seen.add(rid)
        ids.append(_safe(rid))
    cols = {
        "id": ids,
        "source": [rows[i].source for i in order],
        "line": [rows[i].line for i in order],
        "problem": [_safe(rows[i].problem) for i in order],
        "answer": [_safe(rows[i].answer) for i in order],
        "solution": [_safe(rows[i].solution) if rows[i].solution is not None else None for i in order],
        "meta": [_safe(meta_json(rows[i], verdicts[i])) for i in order],
    }
    return pa.table(cols, schema=CLEAN_SCHEMA)


def ledger_table(rows: Sequence[Row], verdicts: Sequence[Mapping[str, Verdict]],
                 rejected: Mapping[int, tuple[str, str, str]], ran: Sequence[str]) -> pa.Table:
    """One row per rejected input row; `rejected` maps index -> (reason, agent, message)."""
    order = sorted(rejected, key=lambda i: (rows[i].source, rows[i].line))
    cols: dict[str, list[Any]] = {name: [] for name in LEDGER_SCHEMA.names}
    for i in order:
        reason, agent, message = rejected[i]
        cols["source"].append(rows[i].source)
        cols["line"].append(rows[i].line)
        cols["id"].append(_safe(rows[i].id))
        cols["reason"].append(reason)
        cols["agent"].append(agent)
        cols["message"].append(_safe(message))
        for a in AGENT_ORDER:
            cols[f"verdict_{a}"].append(verdict_cell(a, verdicts[i], ran))
        notes = {a: v.message for a, v in verdicts[i].items() if v.status != "pass" and v.message}
        cols["messages"].append(_safe(json.dumps(notes, sort_keys=True, ensure_ascii=False)))
    return pa.table(cols, schema=LEDGER_SCHEMA)


def build_report(rows: Sequence[Row], verdicts: Sequence[Mapping[str, Verdict]], kept: Sequence[int],
                 rejected: Mapping[int, tuple[str, str, str]], ran: Sequence[str]) -> dict[str, Any]:
    """Counts per source, per agent and per reason (the DVC metrics of the stage)."""
    per_source: dict[str, dict[str, Any]] = {}
    for r in rows:
        per_source.setdefault(r.source, {"rows_in": 0, "kept": 0, "rejected": 0, "per_reason": Counter()})
        per_source[r.source]["rows_in"] += 1
    for i in kept:
        per_source[rows[i].source]["kept"] += 1
    reasons: Counter[str] = Counter({r: 0 for r in (*REASONS, SURPLUS)})
    primary: Counter[str] = Counter()
    for i, (reason, agent, _) in rejected.items():
        per_source[rows[i].source]["rejected"] += 1
        per_source[rows[i].source]["per_reason"][reason] += 1
        reasons[reason] += 1
        primary[agent] += 1
    per_agent = {}
    for a in AGENT_ORDER:
        counts = Counter(v[a].status for v in verdicts if a in v)
        per_agent[a] = {"ran": a in ran, "reviewed": sum(counts.values()), "rejected": counts["reject"],
                        "skipped": counts["skip"], "primary": primary[a]}
    for s in per_source.values():
        s["per_reason"] = dict(sorted(s["per_reason"].items()))
    return {
        "rows_in": len(rows), "rows_kept": len(kept), "rows_rejected": len(rejected),
        "per_source": dict(sorted(per_source.items())), "per_reason": dict(reasons),
        "per_agent": per_agent, "agents_run": list(ran),
    }


def check_partition(n_rows: int, kept: Sequence[int], rejected: Mapping[int, Any]) -> None:
    """Raise `LedgerError` unless every row index is kept or rejected, exactly once."""
    both = set(kept) & set(rejected)
    if both:
        raise LedgerError(f"row {min(both)} is both kept and rejected")
    missing = set(range(n_rows)) - set(kept) - set(rejected)
    if missing or len(set(kept)) != len(kept):
        raise LedgerError(f"{len(missing)} rows neither kept nor rejected (first: {min(missing, default=None)}) "
                          "or a row kept twice")


def check_arithmetic(report: Mapping[str, Any]) -> None:
    """Raise `LedgerError` unless rows in = kept + rejected, overall and per source."""
    if report["rows_in"] != report["rows_kept"] + report["rows_rejected"]:
        raise LedgerError(f"ledger does not balance: {report['rows_in']} rows in, {report['rows_kept']} kept, "
                          f"{report['rows_rejected']} rejected")
    for name, s in report["per_source"].items():
        if s["rows_in"] != s["kept"] + s["rejected"] or sum(s["per_reason"].values()) != s["rejected"]:
            raise LedgerError(f"ledger does not balance for source {name}: {s}")
    if sum(report["per_reason"].values()) != report["rows_rejected"]:
        raise LedgerError("ledger does not balance: reason counts differ from rejected rows")


def report_metrics(report: Mapping[str, Any]) -> dict[str, float]:
    """The report's counts as flat MLflow metric names (`reason/duplicate`, `source/x/kept`)."""
    def key(name: str) -> str:
        return "".join(c if c.isalnum() or c in "_-./ " else "_" for c in name)

    out = {k: float(report[k]) for k in ("rows_in", "rows_kept", "rows_rejected")}
    out.update({f"reason/{r}": float(n) for r, n in report["per_reason"].items()})
    for a, c in report["per_agent"].items():
        if c["ran"]:
            out[f"agent/{a}/rejected"] = float(c["rejected"])
            out[f"agent/{a}/primary"] = float(c["primary"])
    for s, c in report["per_source"].items():
        for k in ("rows_in", "kept", "rejected"):
            out[f"source/{key(s)}/{k}"] = float(c[k])
    return out


def write_parquet(table: pa.Table, path: Path) -> None:
    """Parquet written deterministically (fixed row groups and compression, no timestamps), atomically."""
    write_with(path, lambda tmp: pq.write_table(table, tmp, compression="zstd", row_group_size=65536,
                                                write_statistics=False))


def write_json(obj: Any, path: Path) -> None:
    write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8"))
