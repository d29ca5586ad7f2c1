"""The Great Expectations gate on the cleaned set (GX 1.x, ephemeral context, no files).

Expectations: the schema (columns and their order), the row count (at least `min_rows`, at most
the target size), no nulls in the required columns, unique ids, 1-based line numbers, problem
and answer lengths within the format agent's limits, every answer parseable by the grader, and
the source mix (only the sources of the run, and every one of them present). `validate_clean`
returns the result per expectation; `GateError` carries a readable report of what failed, so a
broken set stops the stage before anything downstream trains on it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from components.data.ledger import CLEAN_SCHEMA

PARSEABLE = "answer_parseable"  # derived column the gate adds: the grader can parse the answer


class GateError(ValueError):
    """The cleaned set failed the expectation suite; the message lists each failure."""


@dataclass(frozen=True)
class GateConfig:
    enabled: bool = True
    min_rows: int = 1
    require_every_source: bool = True


@dataclass(frozen=True)
class GateResult:
    success: bool
    checks: tuple[dict[str, Any], ...]

    def failures(self) -> list[dict[str, Any]]:
        return [c for c in self.checks if not c["success"]]

    def summary(self) -> str:
        lines = [f"GX gate: {len(self.checks) - len(self.failures())}/{len(self.checks)} expectations met"]
        for c in self.failures():
            lines.append(f"  FAILED {c['expectation']}({c['target']}): {c['detail']}")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, Any]:
        return {"success": self.success, "expectations": [dict(c) for c in self.checks]}


def _expectations(sources: Sequence[str], max_rows: int, max_problem: int, max_answer: int,
                  cfg: GateConfig) -> list[Any]:
    import great_expectations.expectations as gxe

    exps: list[Any] = [
        gxe.ExpectTableColumnsToMatchOrderedList(column_list=[*CLEAN_SCHEMA.names, PARSEABLE]),
        gxe.ExpectTableRowCountToBeBetween(min_value=cfg.min_rows, max_value=max_rows),
        *[gxe.ExpectColumnValuesToNotBeNull(column=c) for c in ("id", "source", "line", "problem", "answer", "meta")],
        gxe.ExpectColumnValuesToBeUnique(column="id"),
        gxe.ExpectColumnValuesToBeBetween(column="line", min_value=1),
        gxe.ExpectColumnValueLengthsToBeBetween(column="problem", min_value=1, max_value=max_problem),
        gxe.ExpectColumnValueLengthsToBeBetween(column="answer", min_value=1, max_value=max_answer),
        gxe.ExpectColumnValuesToBeInSet(column=PARSEABLE, value_set=[True]),
        gxe.ExpectColumnValuesToBeInSet(column="source", value_set=sorted(sources)),
    ]
    if cfg.require_every_source:
        exps.append(gxe.ExpectColumnDistinctValuesToContainSet(column="source", value_set=sorted(sources)))
    return exps


def _detail(result: Any) -> str:
    r = result.result or {}
    if "unexpected_count" in r:
        sample = [str(v)[:40] for v in (r.get("partial_unexpected_list") or [])[:3]]
        return f"{r['unexpected_count']} unexpected value(s){', e.g. ' + repr(sample) if sample else ''}"
    if "observed_value" in r:
        return f"observed {str(r['observed_value'])[:200]}"
    exc = (result.exception_info or {}).get("exception_message")
    return f"could not be evaluated: {exc}" if exc else "not met"


def validate_clean(table: pa.Table, sources: Sequence[str], max_rows: int, max_problem: int,
                   max_answer: int, parseable: Callable[[str], bool], cfg: GateConfig = GateConfig()) -> GateResult:
    """Run the suite on the cleaned table (see the module docstring)."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    logging.getLogger("great_expectations").setLevel(logging.ERROR)
    df = table.to_pandas()
    df[PARSEABLE] = [bool(a) and parseable(a) for a in df["answer"].fillna("")] if len(df) else []
    ctx = gx.get_context(mode="ephemeral")
    ctx.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    batch = (ctx.data_sources.add_pandas("clean").add_dataframe_asset("rows")
             .add_batch_definition_whole_dataframe("all"))
    suite = ctx.suites.add(gx.ExpectationSuite(name="clean_set"))
    for e in _expectations(sources, max_rows, max_problem, max_answer, cfg):
        suite.add_expectation(e)
    vd = ctx.validation_definitions.add(gx.ValidationDefinition(name="clean_gate", data=batch, suite=suite))
    res = vd.run(batch_parameters={"dataframe": df}, result_format="SUMMARY")
    checks = []
    for r in res.results:
        kw = r.expectation_config.kwargs
        target = kw.get("column") or ("table" if "column_list" not in kw else "columns")
        checks.append({"expectation": r.expectation_config.type, "target": str(target),
                       "success": bool(r.success), "detail": "ok" if r.success else _detail(r)})
    checks.sort(key=lambda c: (c["expectation"], c["target"]))
    return GateResult(all(c["success"] for c in checks), tuple(checks))
