"""Evaluation sets: the synthetic held-out set (default) and AIME24/AIME25/MATH500/GSM8K.

docs/method.md section 5. Every set becomes an `EvalSet` of `EvalProblem(id, prompt, answer, bucket)`:

- `synthetic`: `components.data.synthetic.generate(n, seed, split="heldout")`; the prompt is the
  bare problem (the format the tiny policy was trained on). Given the training parquet, any
  overlap with training problems is an error (the held-out hash split should make it
  impossible; this checks it). Buckets: `arith-<k>ops` / `linear`.
- `synthetic_val`: the validation split, on which choices (the served selector, head variants)
  are made so that `synthetic` only confirms them. Held-out-hash problems (so never in training)
  drawn from their own seed stream (`seed + VAL_SEED_OFFSET`), minus the first `VAL_EXCLUDE`
  problems of the `synthetic` stream of `seed`: since `synthetic` of any size up to `VAL_EXCLUDE`
  is a prefix of that stream, the two sets never share a problem.
- real sets, read in their published JSONL formats (see data/eval/PROVENANCE.md): the prompt is
  the problem plus the reference's instruction `PROMPT_SUFFIX`. AIME24, MATH500, GSM8K are
  bundled (MIT) under `data/eval/`; AIME25 has no licence and is read from
  `../shared/data/eval/` relative to the repository when present. Buckets (difficulty proxies):
  AIME problem number `p01-05`/`p06-10`/`p11-15`, MATH500 `level-<1..5>`, GSM8K the rationale's
  line count `steps-2`, `steps-3-4`, `steps-5+`.

A row whose reference answer `components.rewards.grading.is_verifiable` rejects is excluded and
listed in `EvalSet.excluded` (id, answer), so reports can state the count.
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.data.synthetic import TaskConfig, generate
from components.rewards.grading import is_verifiable

PROMPT_SUFFIX = "\nPlease reason step by step, and put your final answer within \\boxed{}."
REPO_ROOT = Path(__file__).resolve().parents[2]
BUNDLED_DIR = REPO_ROOT / "data" / "eval"
SHARED_DIR = REPO_ROOT.parent / "shared" / "data" / "eval"

# name -> (file name, where it lives: "bundled" or "shared")
REAL_SETS: dict[str, tuple[str, str]] = {
    "aime24": ("aime24.jsonl", "bundled"),
    "aime25": ("aime25.jsonl", "shared"),
    "math500": ("math500.jsonl", "bundled"),
    "gsm8k": ("gsm8k_test.jsonl", "bundled"),
}
SYNTHETIC_SETS: tuple[str, ...] = ("synthetic", "synthetic_val")   # generated, sized by n_problems
KNOWN_SETS: tuple[str, ...] = (*SYNTHETIC_SETS, *REAL_SETS)
VAL_SEED_OFFSET = 1_000_003
VAL_EXCLUDE = 5_000


class EvalSetError(ValueError):
    """An unknown set name, a missing file or a malformed row; the message says what to do."""


@dataclass(frozen=True)
class EvalProblem:
    """One evaluation problem: `prompt` is what the model is given (chat template applied later)."""

    id: str
    prompt: str
    answer: str
    bucket: str


@dataclass(frozen=True)
class EvalSet:
    """A loaded set; `excluded` lists (id, answer) of rows with an unparsable reference answer."""

    name: str
    problems: tuple[EvalProblem, ...]
    excluded: tuple[tuple[str, str], ...] = ()
    source: str = ""

    def __len__(self) -> int:
        return len(self.problems)


def load_eval_set(name: str, *, n_problems: int | None = None, seed: int = 0,
                  task: TaskConfig = TaskConfig(), train_parquet: Path | None = None,
                  bundled_dir: Path = BUNDLED_DIR, shared_dir: Path = SHARED_DIR) -> EvalSet:
    """Load set `name` (one of `KNOWN_SETS`).

    `n_problems` is the synthetic set's size (required there; for a real set it keeps the first
    `n_problems` rows, None = all). `seed`/`task` drive the synthetic generator.
    """
    if name in SYNTHETIC_SETS:
        if n_problems is None:
            raise EvalSetError(f"{name}: n_problems is required (evaluate.n_problems in params.yaml)")
        if name == "synthetic_val":
            return validation_set(n_problems, seed, task, train_parquet)
        return synthetic_set(n_problems, seed, task, train_parquet)
    if name not in REAL_SETS:
        raise EvalSetError(f"unknown eval set {name!r}; known sets: {', '.join(KNOWN_SETS)}")
    file_name, home = REAL_SETS[name]
    path = (bundled_dir if home == "bundled" else shared_dir) / file_name
    if not path.is_file():
        hint = ("it has no licence so it is not bundled; place the shared copy at that path"
                if home == "shared" else "restore it from data/eval in the repository")
        raise EvalSetError(f"{name}: {path} is missing ({hint})")
    loaded = real_set(name, path)
    if n_problems is not None:
        loaded = EvalSet(loaded.name, loaded.problems[:n_problems], loaded.excluded, loaded.source)
    return loaded


def _synthetic_bucket(p) -> str:
    return "linear" if p.meta.get("kind") == "linear" else f"arith-{p.meta.get('n_ops')}ops"


def _check_not_trained_on(name: str, problems: list[EvalProblem], train_parquet: Path | None) -> None:
    if train_parquet is None:
        return
    overlap = sorted({p.prompt for p in problems} & training_problems(train_parquet))
    if overlap:
        raise EvalSetError(f"{name}: {len(overlap)} held-out problems also appear in "
                           f"{train_parquet} (e.g. {overlap[0]!r}); regenerate the training "
                           "data with the held-out split excluded")


def synthetic_set(n: int, seed: int, task: TaskConfig = TaskConfig(),
                  train_parquet: Path | None = None) -> EvalSet:
    """`n` held-out synthetic problems; raises if any appears in `train_parquet`'s `problem` column."""
    problems = [EvalProblem(p.id, p.problem, p.answer, _synthetic_bucket(p)) for p in generate(n, seed, task, split="heldout")]
    _check_not_trained_on("synthetic", problems, train_parquet)
    return EvalSet("synthetic", tuple(problems), (), f"components.data.synthetic seed={seed}")


def validation_set(n: int, seed: int, task: TaskConfig = TaskConfig(),
                   train_parquet: Path | None = None) -> EvalSet:
    """`n` validation problems, disjoint from training and from `synthetic_set(m, seed)` for any
    m <= VAL_EXCLUDE (see the module docstring)."""
    if n > VAL_EXCLUDE:
        raise EvalSetError(f"synthetic_val: n_problems {n} > {VAL_EXCLUDE}; the validation split keeps "
                           f"at most {VAL_EXCLUDE} problems apart from the held-out set")
    taken = {p.problem for p in generate(VAL_EXCLUDE, seed, task, split="heldout")}
    problems: list[EvalProblem] = []
    for p in generate(n + VAL_EXCLUDE, seed + VAL_SEED_OFFSET, task, split="heldout"):
        if p.problem not in taken:
            problems.append(EvalProblem(p.id.replace("heldout", "val", 1), p.problem, p.answer, _synthetic_bucket(p)))
            if len(problems) == n:
                break
    _check_not_trained_on("synthetic_val", problems, train_parquet)
    return EvalSet("synthetic_val", tuple(problems), (), f"components.data.synthetic seed={seed + VAL_SEED_OFFSET} "
                   f"minus the first {VAL_EXCLUDE} of seed={seed}")


def training_problems(path: Path) -> set[str]:
    """The `problem` column of a training parquet file, as a set of texts."""
    import pyarrow.parquet as pq

    path = Path(path)
    if not path.is_file():
        raise EvalSetError(f"{path}: training parquet not found (pass the clean training file)")
    table = pq.read_table(path)
    if "problem" not in table.column_names:
        raise EvalSetError(f"{path}: no 'problem' column (columns: {', '.join(table.column_names)})")
    return {str(x) for x in table.column("problem").to_pylist() if x is not None}


def real_set(name: str, path: Path) -> EvalSet:
    """Parse one published-format JSONL file into an `EvalSet` (see the module docstring).

    Parsed sets are cached per (file, size, mtime): checking every reference answer with
    math-verify takes seconds on MATH500.
    """
    stat = Path(path).stat()
    return _parse_real_set(name, str(path), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=16)
def _parse_real_set(name: str, path: str, size: int, mtime_ns: int) -> EvalSet:
    problems: list[EvalProblem] = []
    excluded: list[tuple[str, str]] = []
    source = ""
    with open(path, encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise EvalSetError(f"{path}:{line_no}: not valid JSON ({exc.msg})") from None
            for key in ("problem", "answer"):
                if key not in row:
                    raise EvalSetError(f"{path}:{line_no}: missing field {key!r}")
            source = source or str(row.get("source", ""))
            pid = _row_id(name, row, line_no)
            answer = str(row["answer"]).strip()
            if not answer or not is_verifiable(answer):
                excluded.append((pid, answer))
                continue
            problems.append(EvalProblem(pid, str(row["problem"]) + PROMPT_SUFFIX, answer,
                                        _bucket(name, row)))
    return EvalSet(name, tuple(problems), tuple(excluded), source)


def _row_id(name: str, row: dict[str, Any], line_no: int) -> str:
    raw = row.get("id", line_no - 1)
    return str(raw) if str(raw).startswith(name) or name == "math500" else f"{name}-{raw}"


def _bucket(name: str, row: dict[str, Any]) -> str:
    if name in ("aime24", "aime25"):
        number = row.get("problem_number")
        if number is None:
            match = re.search(r"Problem_(\d+)", str(row.get("url", "")))
            number = int(match.group(1)) if match else None
        if number is None:
            return "unknown"
        return "p01-05" if number <= 5 else "p06-10" if number <= 10 else "p11-15"
    if name == "math500":
        return f"level-{row.get('level', 'unknown')}"
    if name == "gsm8k":
        rationale = str(row.get("solution", "")).split("####")[0].strip()
        n_lines = rationale.count("\n") + 1 if rationale else 0
        return "steps-2" if n_lines <= 2 else "steps-3-4" if n_lines <= 4 else "steps-5+"
    return "all"
