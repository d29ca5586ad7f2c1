"""Cleaning throughput on the embedded default: >= 50,000 raw rows to 40,000.

Runs `run_clean(["synthetic-default"], ...)` once in this fresh process, as `reflect clean`
does (format, verifiability, consistency, decontamination and dedup agents; no difficulty or
judge agent; the GX gate included), and prints JSON lines: the machine (with its 1-minute load
average), the time per phase, then a last line with rows_in, rows_kept, seconds, rows_per_s.
Set OMP_NUM_THREADS=1 and check `uptime` first: the cores are shared.

    python benchmarks/clean_throughput.py [--out DIR] [--params params.yaml] [--mlflow URI]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.report import emit, log_to_mlflow, machine  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=None, help="output folder (default: a temporary one)")
    ap.add_argument("--params", type=Path, default=Path("params.yaml"))
    ap.add_argument("--mlflow", default=None, help="tracking URI to log the summary to (optional)")
    args = ap.parse_args(argv)
    emit({"machine": machine()})
    start = time.perf_counter()
    from components.data.cleaning import CleanConfig, load_clean_config, run_clean

    cfg = load_clean_config(args.params) if args.params.is_file() else CleanConfig()
    with tempfile.TemporaryDirectory() as tmp:
        rep = run_clean(["synthetic-default"], args.out or Path(tmp) / "clean", None, None, cfg)
    seconds = time.perf_counter() - start
    emit({"phases_s": {k: round(v, 2) for k, v in rep.timings.items()},
          "import_s": round(seconds - rep.timings["total"], 2)})
    emit({"per_reason": rep.report["per_reason"]})
    summary = {"rows_in": rep.rows_in, "rows_kept": rep.rows_kept, "rows_rejected": rep.rows_rejected,
               "seconds": round(seconds, 2), "rows_per_s": round(rep.rows_in / seconds, 1),
               "target_size": cfg.target_size}
    log_to_mlflow("clean_throughput", summary, args.mlflow)
    emit(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
