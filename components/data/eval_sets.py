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
listed in `EvalSet.excluded`, so reports can state the count.

The cleaning stage decontaminates its training rows against the same sets (`load_eval_sets`):
every problem of a set, excluded rows included, in its bare form (`EvalProblem.text`, without
the instruction). There the held-out split is named `synthetic-heldout` and also flags any
synthetic problem whose text hashes into it (`EvalSet.hash_split`); any other name is read as a
path to a JSONL/Parquet file with a `problem` (or `question`, `prompt`) column.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from components.data.sources.files import SourceError, bundled_path, read_records
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
    """One evaluation problem: `prompt` is what the model is given (chat template applied later),
    `text` the bare problem (the prompt without the instruction; the prompt itself when empty)."""

    id: str
    prompt: str
    answer: str
    bucket: str
    text: str = ""

    def __post_init__(self) -> None:
        if not self.text:
            object.__setattr__(self, "text", self.prompt)


@dataclass(frozen=True)
class EvalSet:
    """A loaded set; `excluded` holds the rows whose reference answer is unparsable (never scored).

    `hash_split`: decontamination also flags synthetic problems hashing into the held-out split.
    """

    name: str
    problems: tuple[EvalProblem, ...]
    excluded: tuple[EvalProblem, ...] = ()
    source: str = ""
    hash_split: bool = False

    def __len__(self) -> int:
        return len(self.problems)

    @property
    def texts(self) -> tuple[str, ...]:
        """Every row's bare problem, excluded rows last: what decontamination compares against."""
        return tuple(p.text for p in (*self.problems, *self.excluded))

    @property
    def answers(self) -> tuple[str, ...]:
        """The reference answers, in the order of `texts`."""
        return tuple(p.answer for p in (*self.problems, *self.excluded))


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
    path = real_set_path(name, bundled_dir, shared_dir)
    if not path.is_file():
        hint = ("it has no licence so it is not bundled; place the shared copy at that path"
                if REAL_SETS[name][1] == "shared" else "restore it from data/eval in the repository")
        raise EvalSetError(f"{name}: {path} is missing ({hint})")
    loaded = real_set(name, path)
    if n_problems is not None:
        loaded = dataclasses.replace(loaded, problems=loaded.problems[:n_problems])
    return loaded


def real_set_path(name: str, bundled_dir: Path = BUNDLED_DIR, shared_dir: Path = SHARED_DIR) -> Path:
    """Where real set `name` (a key of `REAL_SETS`) is read from: bundled, or beside the repository."""
    file_name, home = REAL_SETS[name]
    return (bundled_dir if home == "bundled" else shared_dir) / file_name


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


def real_set(name: str, path: Path, check_answers: bool = True) -> EvalSet:
    """Parse one published-format JSONL file into an `EvalSet` (see the module docstring).

    Checking every reference answer with math-verify takes seconds on MATH500, so parsed sets are
    cached per (file, size, mtime), and `check_answers=False` (decontamination, which compares
    problem texts only) keeps every row in `problems` without checking.
    """
    stat = Path(path).stat()
    return _parse_real_set(name, str(path), stat.st_size, stat.st_mtime_ns, check_answers)


@functools.lru_cache(maxsize=16)
def _parse_real_set(name: str, path: str, size: int, mtime_ns: int, check_answers: bool) -> EvalSet:
    problems: list[EvalProblem] = []
    excluded: list[EvalProblem] = []
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
            text = str(row["problem"])
            problem = EvalProblem(pid, text + PROMPT_SUFFIX, answer, _bucket(name, row), text)
            (problems if not check_answers or (answer and is_verifiable(answer)) else excluded).append(problem)
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


# ------------------------------------------------------------------ the cleaning stage's view
SYNTHETIC_HELDOUT = "synthetic-heldout"
KNOWN_EVAL_SETS = ("aime24", "aime25", "math500", "gsm8k", SYNTHETIC_HELDOUT)
_PROBLEM_KEYS = ("problem", "question", "prompt")


@dataclass(frozen=True)
class EvalSetsConfig:
    """Which sets cleaning decontaminates against by default, where their files are, and the
    held-out draw (params.yaml `clean.eval_sets`)."""

    default: tuple[str, ...] = KNOWN_EVAL_SETS
    # The files `load_eval_set` reads (one list of them: `REAL_SETS`), as repo-relative paths.
    paths: dict[str, str] = field(default_factory=lambda: {
        name: f"{'data/eval' if where == 'bundled' else '../shared/data/eval'}/{file}"
        for name, (file, where) in REAL_SETS.items()})
    heldout_n: int = 1000
    heldout_seed: int = 1  # evaluate.problem_seed: the first heldout_n problems include its set


def file_set(name: str, path: Path, source: str) -> EvalSet:
    """Any JSONL/Parquet file's problems (a `problem`, `question` or `prompt` column) as a set."""
    problems = []
    for line, record, error in read_records(path):
        if record is None or error:
            continue  # a line that cannot be read adds nothing to compare against
        text = next((record[k] for k in _PROBLEM_KEYS if isinstance(record.get(k), str)), None)
        if text:
            answer = record.get("answer")
            problems.append(EvalProblem(f"{name}-{line}", text, str(answer) if isinstance(answer, (str, int)) else "",
                                        "all"))
    if not problems:
        raise SourceError(f"{path}: eval set {name!r} has no readable problem/question column")
    return EvalSet(name, tuple(problems), (), source)


def load_eval_sets(names: Sequence[str] | None, cfg: EvalSetsConfig,
                   task: TaskConfig) -> tuple[list[EvalSet], list[str]]:
    """The sets to decontaminate against, and notes on any default one that was skipped.

    `names=None` means `cfg.default`; a default set whose file is missing is skipped with a
    note. A set named explicitly must be found, else `SourceError`.
    """
    explicit = names is not None
    sets: list[EvalSet] = []
    notes: list[str] = []
    for name in (list(names) if explicit else list(cfg.default)):
        if name == SYNTHETIC_HELDOUT:
            held = synthetic_set(cfg.heldout_n, cfg.heldout_seed, task)
            sets.append(dataclasses.replace(held, name=SYNTHETIC_HELDOUT, hash_split=True, source=(
                f"generate(n={cfg.heldout_n}, seed={cfg.heldout_seed}, split='heldout')")))
        elif name in cfg.paths:
            path = bundled_path(cfg.paths[name])
            if not path.is_file():
                msg = f"{name}: eval set file not found at {cfg.paths[name]}"
                if explicit:
                    raise SourceError(msg + " (check clean.eval_sets.paths in params.yaml)")
                notes.append(msg + "; not decontaminated against it")
                continue
            try:
                sets.append(dataclasses.replace(real_set(name, path, check_answers=False), source=cfg.paths[name]))
            except EvalSetError as exc:
                raise SourceError(str(exc)) from None
        elif Path(name).is_file():
            sets.append(file_set(name, Path(name), name))
        else:
            known = ", ".join([SYNTHETIC_HELDOUT, *cfg.paths])
            raise SourceError(f"{name}: not a known eval set ({known}) and no such file")
    return sets, notes
