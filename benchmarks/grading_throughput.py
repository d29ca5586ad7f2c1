"""Answer-grader throughput and self-consistency on the real eval answers.

For every reference answer of MATH500, GSM8K, AIME24 and AIME25 it grades, single-threaded, three
completions: the answer itself (must be right), a perturbed twin (must be wrong) and, for plain
numbers, the value written plainly (`025` -> `25`, must be right). Prints one JSON line per file
and pass (cold: empty parse caches; warm: the references' parses cached, as in training where
each reference is graded against N samples), then a summary. With `--baseline`, also times plain
math-verify (`verify(parse(gold), parse(pred))`, its defaults) on the same pairs and counts how
many perturbed twins it would accept.

    python benchmarks/grading_throughput.py [--baseline] [--mlflow sqlite:///mlflow/mlflow.db]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.report import emit, log_to_mlflow, machine  # noqa: E402
from components.rewards.equivalence import exact_value  # noqa: E402
from components.rewards.grading import is_correct, normalize_answer  # noqa: E402
from components.data.answer_pairs import EVAL_NAMES, completion_with, perturb, read_answers  # noqa: E402


def _cases(answers: list[tuple[str, str]]) -> list[tuple[str, str, bool]]:
    """(completion, reference, expected) triples for one file."""
    cases = []
    for _, gold in answers:
        cases.append((completion_with(gold), gold, True))
        cases.append((completion_with(perturb(gold)), gold, False))
        value = exact_value(normalize_answer(gold))
        if value is not None:
            plain = str(value.numerator) if value.denominator == 1 else f"{value.numerator}/{value.denominator}"
            cases.append((completion_with(plain), gold, True))
    return cases


def _grade_pass(name: str, label: str, answers, cases) -> dict:
    start = time.perf_counter()
    verdicts = [is_correct(c, g) for c, g, _ in cases]
    seconds = time.perf_counter() - start
    wrong = [(g, c.split("boxed{", 1)[1][:-3]) for (c, g, want), got in zip(cases, verdicts) if got != want]
    return {"file": name, "pass": label, "rows": len(answers), "gradings": len(cases),
            "disagreements": len(wrong), "examples": wrong[:5], "seconds": round(seconds, 3),
            "gradings_per_s": round(len(cases) / seconds, 1)}


def _baseline(name: str, cases) -> dict:
    from math_verify import parse, verify

    start = time.perf_counter()
    accepted_wrong = rejected_right = 0
    for completion, gold, want in cases:
        pred = completion.rsplit("</think>", 1)[1]
        got = bool(verify(parse(f"${gold}$"), parse(pred)))
        accepted_wrong += (not want) and got
        rejected_right += want and not got
    seconds = time.perf_counter() - start
    return {"file": name, "pass": "math-verify-defaults", "gradings": len(cases),
            "wrong_twins_accepted": accepted_wrong, "right_rejected": rejected_right, "seconds": round(seconds, 3),
            "gradings_per_s": round(len(cases) / seconds, 1)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--baseline", action="store_true", help="also time plain math-verify")
    ap.add_argument("--mlflow", default=None, help="tracking URI to log the summary to (optional)")
    args = ap.parse_args(argv)
    emit({"machine": machine()})
    is_correct("<think></think>\\boxed{x^2}", "x^2+0")  # import math-verify and warm its parser
    summary: dict = {}
    for name in EVAL_NAMES:
        answers = read_answers(name)
        if not answers:
            emit({"file": name, "skipped": "not found"})
            continue
        cases = _cases(answers)
        for label in ("cold", "warm"):
            record = _grade_pass(name, label, answers, cases)
            emit(record)
            key = name.split(".")[0]
            summary[f"{key}_{label}_gradings_per_s"] = record["gradings_per_s"]
            summary[f"{key}_disagreements"] = record["disagreements"]
        if args.baseline:
            record = _baseline(name, cases)
            emit(record)
            summary[f"{name.split('.')[0]}_math_verify_gradings_per_s"] = record["gradings_per_s"]
            summary[f"{name.split('.')[0]}_math_verify_wrong_accepted"] = record["wrong_twins_accepted"]
            summary[f"{name.split('.')[0]}_math_verify_right_rejected"] = record["right_rejected"]
    emit({"summary": summary})
    log_to_mlflow("grading_throughput", summary, args.mlflow)
    return 0


if __name__ == "__main__":
    sys.exit(main())
