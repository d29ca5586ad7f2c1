"""The cleaning run: sources -> agents -> consensus -> sample -> ledger -> GX gate (docs/method.md section 5).

`run_clean` reads every source into rows, lets the agents review them (`consensus.review_rows`),
rejects what the consensus rule rejects, samples the survivors down to `target_size` (stratified
by source and difficulty, reproducible), checks that every row is kept or in the ledger exactly
once, runs the Great Expectations gate on the clean set and writes `OUT/clean.parquet`,
`OUT/rejected.parquet` and `OUT/report.json`. Same inputs and params give byte-identical files.

Command line (until `reflect clean` is wired): `python -m components.data.cleaning --source
synthetic-default --out data/clean [--eval-sets NAME_OR_PATH ...] [--policy DIR]`.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from components.atomic import check_own_dir, staged_dir
from components.config import build, read_params
from components.data.agents import CleaningAgent
from components.data.agents.consistency import ConsistencyAgent
from components.data.agents.decontamination import DecontaminationAgent, DecontaminationConfig
from components.data.agents.dedup import DedupAgent, DedupConfig
from components.data.agents.difficulty import DifficultyAgent, DifficultyConfig, PolicySampler
from components.data.agents.format import FormatAgent, FormatConfig
from components.data.agents.judge import JudgeAgent, JudgeConfig
from components.data.agents.verifiability import VerifiabilityAgent, VerifiabilityConfig
from components.data.consensus import ConsensusConfig, decide, review_rows
from components.data.ledger import (build_report, check_arithmetic, check_partition, clean_table,
                                    ledger_table, write_json, write_parquet)
from components.data.pool import PoolConfig, build_pool
from components.data.rows import SURPLUS, Row, Verdict
from components.data.sampling import sample_to_target
from components.data.eval_sets import EvalSet, EvalSetsConfig, load_eval_sets
from components.data.sources import RecordSource, Source, SourcesConfig, bundled_sources, resolve_sources
from components.data.sources.files import parse_json_lines
from components.data.sources.local import SCHEMA as LOCAL_SCHEMA
from components.data.synthetic import TaskConfig
from components.data.validation import GateConfig, GateError, validate_clean

DEFAULT_SOURCE = "synthetic-default"
OUTPUTS = ("clean.parquet", "rejected.parquet", "report.json")   # the stage's files in --out
POOL_SOURCE = "synthetic"


@dataclass(frozen=True)
class CleanConfig:
    """params.yaml section `clean` (the `task` field comes from the top-level `task` section)."""

    target_size: int = 40_000
    seed: int = 0
    sources: SourcesConfig = field(default_factory=SourcesConfig)
    pool: PoolConfig = field(default_factory=PoolConfig)
    eval_sets: EvalSetsConfig = field(default_factory=EvalSetsConfig)
    consensus: ConsensusConfig = field(default_factory=ConsensusConfig)
    format: FormatConfig = field(default_factory=FormatConfig)
    verifiability: VerifiabilityConfig = field(default_factory=VerifiabilityConfig)
    decontamination: DecontaminationConfig = field(default_factory=DecontaminationConfig)
    dedup: DedupConfig = field(default_factory=DedupConfig)
    difficulty: DifficultyConfig = field(default_factory=DifficultyConfig)
    judge: JudgeConfig = field(default_factory=JudgeConfig)
    gate: GateConfig = field(default_factory=GateConfig)
    task: TaskConfig = field(default_factory=TaskConfig)


def load_clean_config(path: Path | str = "params.yaml") -> CleanConfig:
    """`clean` and `task` sections of a params file; unknown keys are a one-line error."""
    params = read_params(path)
    cfg = build(CleanConfig, params.get("clean"), f"{Path(path).name}:clean")
    return replace(cfg, task=build(TaskConfig, params.get("task"), f"{Path(path).name}:task"))


@dataclass(frozen=True)
class CleanReport:
    """What a run wrote: `report` is the content of report.json; `timings` (seconds per phase)
    are not written to any file, so that outputs stay byte-identical."""

    out_dir: Path
    report: dict[str, Any]
    timings: dict[str, float]

    @property
    def rows_in(self) -> int:
        return self.report["rows_in"]

    @property
    def rows_kept(self) -> int:
        return self.report["rows_kept"]

    @property
    def rows_rejected(self) -> int:
        return self.report["rows_rejected"]


def pool_source(cfg: CleanConfig) -> Source:
    """The embedded raw pool as a source named `synthetic` (built when first read)."""
    def records():
        copy_sets, _ = load_eval_sets(list(cfg.pool.copy_from), cfg.eval_sets, cfg.task)
        real = [rec for src in bundled_sources(cfg.sources) for _, rec, _ in src.records() if rec is not None]
        return parse_json_lines(build_pool(cfg.pool, cfg.task, copy_sets, real))
    return RecordSource(POOL_SOURCE, records, LOCAL_SCHEMA)


def embedded_sources(cfg: CleanConfig) -> dict[str, Callable[[], list[Source]]]:
    """`synthetic-default` (bundled real rows + the raw pool) and `synthetic` (the pool alone)."""
    return {DEFAULT_SOURCE: lambda: [*bundled_sources(cfg.sources), pool_source(cfg)],
            POOL_SOURCE: lambda: [pool_source(cfg)]}


def make_agents(cfg: CleanConfig, eval_sets: Sequence[EvalSet], policy: PolicySampler | None,
                notes: list[str]) -> list[CleaningAgent]:
    """The agents of this run, in pipeline order: those named in `clean.consensus`; difficulty
    only with a policy, judge only when enabled."""
    active = cfg.consensus.active
    agents: list[CleaningAgent] = []
    candidates = {
        "format": lambda: FormatAgent(cfg.format),
        "verifiability": lambda: VerifiabilityAgent(cfg.verifiability),
        "consistency": lambda: ConsistencyAgent(),
        "decontamination": lambda: DecontaminationAgent(eval_sets, cfg.decontamination, cfg.task),
        "dedup": lambda: DedupAgent(cfg.dedup),
    }
    for name, make in candidates.items():
        if name in active:
            agents.append(make())
    if policy is not None:
        if "difficulty" in active:
            agents.append(DifficultyAgent(policy, cfg.difficulty))
        else:
            notes.append("difficulty: a policy was given but the agent is not in clean.consensus")
    if cfg.judge.enabled and "judge" in active:
        agents.append(JudgeAgent(cfg.judge))
    return agents


def decide_rows(rows: Sequence[Row], verdicts: Sequence[Mapping[str, Verdict]],
                cfg: CleanConfig) -> tuple[list[int], dict[int, tuple[str, str, str]]]:
    """Kept row indices, and {index: (reason, agent, message)} for every other row.

    Rows the consensus rejects get its primary reason; survivors beyond `target_size` are
    sampled out (reason `surplus`, agent `sampler`).
    """
    rejected: dict[int, tuple[str, str, str]] = {}
    survivors: list[int] = []
    for i, v in enumerate(verdicts):
        decision = decide(v, cfg.consensus)
        if decision is None:
            survivors.append(i)
        else:
            rejected[i] = (decision[1].reason, decision[0], decision[1].message)
    keep = sample_to_target(rows, verdicts, survivors, cfg.target_size, cfg.seed)
    for i in survivors:
        if i not in keep:
            rejected[i] = (SURPLUS, "sampler", f"valid row left out of the stratified sample to {cfg.target_size:,}")
    return sorted(keep), rejected


def run_clean(sources: list[str], out_dir: Path, eval_sets: list[str] | None, policy: PolicySampler | None,
              cfg: CleanConfig) -> CleanReport:
    """Clean `sources` into `out_dir` (see the module docstring); returns the report.

    `policy` enables the difficulty agent (`components.inference.policy.open_policy` makes one
    from a model directory)."""
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    check_own_dir(Path(out_dir), OUTPUTS)        # before any work: the outputs are renamed in as one
    sets, notes = load_eval_sets(eval_sets, cfg.eval_sets, cfg.task)
    srcs = resolve_sources(sources, cfg.sources, embedded_sources(cfg))
    rows: list[Row] = [row for src in srcs for row in src.rows()]
    present = sorted({r.source for r in rows})
    notes += [f"{src.name}: no rows (empty source)" for src in srcs if src.name not in present]
    timings["load"] = time.perf_counter() - t0

    t = time.perf_counter()
    agents = make_agents(cfg, sets, policy, notes)
    verdicts = review_rows(rows, agents, cfg.consensus)
    ran = [a.name for a in sorted(agents, key=lambda a: cfg.consensus.active.index(a.name))]
    timings["review"] = time.perf_counter() - t

    t = time.perf_counter()
    kept, rejected = decide_rows(rows, verdicts, cfg)
    check_partition(len(rows), kept, rejected)
    report = build_report(rows, verdicts, kept, rejected, ran)
    check_arithmetic(report)
    report.update({
        "target_size": cfg.target_size, "short_of_target": max(0, cfg.target_size - len(kept)),
        "eval_sets": {s.name: {"problems": len(s.texts), "origin": s.source} for s in sets},
        "notes": notes,
    })
    clean = clean_table(rows, verdicts, kept)
    ledger = ledger_table(rows, verdicts, rejected, ran)
    timings["decide"] = time.perf_counter() - t

    t = time.perf_counter()
    if cfg.gate.enabled:
        gate = validate_clean(clean, present, max(cfg.target_size, 1), cfg.format.max_problem_chars,
                              cfg.format.max_answer_chars, VerifiabilityAgent().parses, cfg.gate)
        report["validation"] = gate.as_dict()
    timings["gate"] = time.perf_counter() - t

    t = time.perf_counter()
    out_dir = Path(out_dir)
    # The three files are written beside each other and renamed in as one directory: a reader never
    # sees a new clean.parquet next to an old report.json (components.atomic.staged_dir).
    with staged_dir(out_dir, OUTPUTS) as staged:
        write_parquet(ledger, staged.path / "rejected.parquet")
        write_json(report, staged.path / "report.json")
        if cfg.gate.enabled and not gate.success:
            staged.commit()          # the ledger and report, and no clean.parquet that looks current
            raise GateError(f"{out_dir / 'clean.parquet'} not written: the cleaned set failed its checks\n"
                            f"{gate.summary()}\n(details in {out_dir / 'report.json'}, key 'validation')")
        write_parquet(clean, staged.path / "clean.parquet")
    timings["write"] = time.perf_counter() - t
    timings["total"] = time.perf_counter() - t0
    return CleanReport(out_dir, report, timings)


def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    """The `reflect clean` arguments (also used by `python -m components.data.cleaning`)."""
    p = parser or argparse.ArgumentParser(prog="reflect clean", description=__doc__.splitlines()[0])
    p.add_argument("--source", dest="sources", action="extend", nargs="+", required=True,
                   metavar="NAME_OR_PATH", help=f"source name ({DEFAULT_SOURCE}, {POOL_SOURCE}, numina, "
                   "openr1, deepscaler, limr, oreal), a JSONL/JSONL.gz/JSON/Parquet file, or SCHEMA:PATH")
    p.add_argument("--out", type=Path, required=True, metavar="DIR",
                   help="writes DIR/clean.parquet, DIR/rejected.parquet, DIR/report.json")
    p.add_argument("--eval-sets", dest="eval_sets", action="extend", nargs="+", default=None,
                   metavar="PATH_OR_NAME", help="decontaminate against these (default: every known eval set: "
                   "aime24 aime25 math500 gsm8k synthetic-heldout)")
    p.add_argument("--policy", type=Path, default=None, metavar="DIR",
                   help="policy model directory: enables the difficulty agent")
    p.add_argument("--params", type=Path, default=Path("params.yaml"),
                   help="params file with the `clean` and `task` sections (default: params.yaml)")
    return p
