"""The evaluation sets the cleaning stage decontaminates against (docs/method.md section 5).

Known names: `aime24`, `math500`, `gsm8k` (bundled under `data/eval/`, MIT, see its
PROVENANCE.md), `aime25` (no licence to bundle: read from `../shared/data/eval/aime25.jsonl`
when that file is there, else skipped with a note), and `synthetic-heldout` (the embedded task's
held-out split, drawn with `components.data.synthetic.generate(..., split="heldout")`; any
synthetic problem whose text hashes into the held-out split also counts, see `is_heldout`).
Any other name is read as a path to a JSONL/Parquet file with a `problem` (or `question`,
`prompt`) column.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from components.data.sources.files import SourceError, bundled_path, read_records
from components.data.synthetic import TaskConfig, generate
from components.evaluation.eval_sets import REAL_SETS

SYNTHETIC_HELDOUT = "synthetic-heldout"
KNOWN_EVAL_SETS = ("aime24", "aime25", "math500", "gsm8k", SYNTHETIC_HELDOUT)
_PROBLEM_KEYS = ("problem", "question", "prompt")


@dataclass(frozen=True)
class EvalSetsConfig:
    """Which eval sets are used by default, where their files are, and the held-out draw."""

    default: tuple[str, ...] = KNOWN_EVAL_SETS
    # The same files the evaluation stage reads (one list of them: `REAL_SETS`), as repo-relative paths.
    paths: dict[str, str] = field(default_factory=lambda: {
        name: f"{'data/eval' if where == 'bundled' else '../shared/data/eval'}/{file}"
        for name, (file, where) in REAL_SETS.items()})
    heldout_n: int = 1000
    heldout_seed: int = 1  # evaluate.problem_seed: the first heldout_n problems include its set


@dataclass(frozen=True)
class EvalSet:
    """Problems (and answers, for making realistic contaminated copies) of one eval set."""

    name: str
    origin: str
    problems: tuple[str, ...]
    answers: tuple[str, ...]
    hash_split: bool = False  # also flag synthetic problems that hash into the held-out split


def read_eval_file(name: str, path: Path, origin: str) -> EvalSet:
    problems, answers = [], []
    for _, record, error in read_records(path):
        if record is None or error:
            continue  # eval files are curated; an unreadable line simply adds nothing
        text = next((record[k] for k in _PROBLEM_KEYS if isinstance(record.get(k), str)), None)
        if text:
            problems.append(text)
            answer = record.get("answer")
            answers.append(str(answer) if isinstance(answer, (str, int)) else "")
    if not problems:
        raise SourceError(f"{path}: eval set {name!r} has no readable problem/question column")
    return EvalSet(name, origin, tuple(problems), tuple(answers))


def synthetic_heldout(cfg: EvalSetsConfig, task: TaskConfig) -> EvalSet:
    probs = list(generate(cfg.heldout_n, cfg.heldout_seed, task, split="heldout"))
    origin = f"generate(n={cfg.heldout_n}, seed={cfg.heldout_seed}, split='heldout')"
    return EvalSet(SYNTHETIC_HELDOUT, origin, tuple(p.problem for p in probs),
                   tuple(p.answer for p in probs), hash_split=True)


def load_eval_sets(names: Sequence[str] | None, cfg: EvalSetsConfig,
                   task: TaskConfig) -> tuple[list[EvalSet], list[str]]:
    """The eval sets to decontaminate against, and notes on any default one that was skipped.

    `names=None` means `cfg.default`; a default set whose file is missing is skipped with a
    note. A set named explicitly must be found, else `SourceError`.
    """
    explicit = names is not None
    sets: list[EvalSet] = []
    notes: list[str] = []
    for name in (list(names) if explicit else list(cfg.default)):
        if name == SYNTHETIC_HELDOUT:
            sets.append(synthetic_heldout(cfg, task))
        elif name in cfg.paths:
            path = bundled_path(cfg.paths[name])
            if not path.is_file():
                msg = f"{name}: eval set file not found at {cfg.paths[name]}"
                if explicit:
                    raise SourceError(msg + " (check clean.eval_sets.paths in params.yaml)")
                notes.append(msg + "; not decontaminated against it")
                continue
            sets.append(read_eval_file(name, path, cfg.paths[name]))
        elif Path(name).is_file():
            sets.append(read_eval_file(name, Path(name), name))
        else:
            known = ", ".join([SYNTHETIC_HELDOUT, *cfg.paths])
            raise SourceError(f"{name}: not a known eval set ({known}) and no such file")
    return sets, notes
