"""The embedded default's raw pool: synthetic problems with the defects real data has.

The paper cleans about 40k examples out of larger public mixes (docs/method.md section 5). Offline,
the embedded default does the same honestly: `build_pool` writes a raw JSONL pool of
`base_rows` synthetic training problems (`components.data.synthetic.generate`, with
`noise_rate` of them carrying a trace whose boxed answer disagrees with the label) and mixes in
what real collections contain:
- exact duplicates of pool rows;
- near-duplicates: whitespace, LaTeX spacing (`\\,`, `\\cdot`, `$`) and number-format (`7.0`,
  `1{,}000`) variants, plus lightly reworded copies, of synthetic and bundled real rows;
- copies of evaluation problems (AIME24, MATH500, GSM8K, the synthetic held-out split), exact
  and reformatted;
- unverifiable rows (proofs, placeholder and prose answers, choice letters without options);
- empty and malformed rows (nulls, wrong types, truncated JSON, invalid UTF-8, control
  characters, unbalanced braces, symbol junk) and over-long ones (up to a 1 MB problem);
- harmless file quirks a reader must accept: a BOM on line 1 and CRLF line ends.
The pool is shuffled with a seeded RNG, so its bytes depend only on the config. Every record's
`meta.origin` says how it was made (the agents never read it; tests and the benchmark do).
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from components.data.eval_sets import EvalSet
from components.data.synthetic import TaskConfig, generate


@dataclass(frozen=True)
class PoolConfig:
    seed: int = 0
    base_rows: int = 44_000
    noise_rate: float = 0.02
    exact_duplicates: int = 2_500
    near_duplicates: int = 2_000
    eval_copies: int = 600
    unverifiable: int = 400
    malformed: int = 300
    empty: int = 150
    too_long: int = 50
    # Eval sets whose problems are copied into the pool (all bundled, so the pool is the same
    # on every machine).
    copy_from: tuple[str, ...] = ("aime24", "math500", "gsm8k", "synthetic-heldout")

    @property
    def size(self) -> int:
        return (self.base_rows + self.exact_duplicates + self.near_duplicates + self.eval_copies
                + self.unverifiable + self.malformed + self.empty + self.too_long)


# -- formatting variants that leave the problem unchanged ---------------------------------------
def spaced(t: str) -> str:
    return re.sub(r"\s*([+\-*/=<>])\s*", r" \1 ", t).replace("  ", " ")


def latex_spacing(t: str) -> str:
    t = re.sub(r"(?<=\d)\*(?=\d|\()", r"\\cdot ", t)
    return re.sub(r"(\d+)(?=[+\-/=])", r"\1\\,", t)


def dollars(t: str) -> str:
    m = re.match(r"^(Compute |Solve for x: )(.*?)(\.?)$", t)
    return f"{m.group(1)}${m.group(2)}${m.group(3)}" if m else f"{t} $ $"


def number_format(t: str) -> str:
    def fmt(m: re.Match[str]) -> str:
        n = m.group()
        return f"{n[:-3]}{{,}}{n[-3:]}" if len(n) >= 4 else f"{n}.0"
    return re.sub(r"(?<![\d.,])\d+(?![\d.,])", fmt, t, count=2)


def reworded(t: str) -> str:
    """A light edit the canonical key does not undo: case, the final period, one verb."""
    t = t.rstrip().rstrip(".")
    for a, b in (("Find ", "Determine "), ("Compute ", "compute "), ("What is", "what is")):
        if a in t:
            return t.replace(a, b, 1)
    return t + " ?"


FORMAT_VARIANTS = (spaced, latex_spacing, dollars, number_format)


def _record(id_: str, problem: Any, answer: Any, solution: Any, origin: str, **meta: Any) -> dict[str, Any]:
    return {"id": id_, "problem": problem, "answer": answer, "solution": solution,
            "meta": {**meta, "origin": origin}}


def _unverifiable(rng: random.Random, k: int) -> dict[str, Any]:
    a, b = rng.randint(2, 40), rng.randint(2, 40)
    kind = k % 4
    if kind == 0:
        return _record(f"bad-{k}", f"Prove that {a}*n+{a * b}*n is divisible by {a} for every integer n.",
                       rng.choice(["proof", "\\text{See proof}", "QED"]), None, "defect:proof")
    if kind == 1:
        return _record(f"bad-{k}", f"Which is larger, {a}/{b} or {b}/{a}?", rng.choice("ABCD"), None,
                       "defect:choice_letter")
    if kind == 2:
        return _record(f"bad-{k}", f"Describe what happens to {a}*x+{b} as x grows.",
                       "it grows by a fixed amount for each unit step of x", None, "defect:prose_answer")
    return _record(f"bad-{k}", f"Compute {a}+{b}*{rng.randint(2, 9)}.",
                   rng.choice(["See solution", "notfound", "N/A"]), None, "defect:placeholder_answer")


def _empty(rng: random.Random, k: int, base: dict[str, Any]) -> dict[str, Any]:
    field, value = [("problem", ""), ("problem", None), ("problem", "  \n "), ("answer", None), ("answer", "")][k % 5]
    return {**base, "id": f"empty-{k}", field: value, "meta": {"origin": f"defect:empty_{field}"}}


def _malformed(rng: random.Random, k: int, base: dict[str, Any]) -> dict[str, Any] | bytes:
    kind = k % 8
    rec = {**base, "id": f"malformed-{k}"}

    def made(origin: str, **changes: Any) -> dict[str, Any]:
        return {**rec, **changes, "meta": {"origin": f"defect:{origin}"}}

    if kind == 0:  # a record cut off mid-line, as by an interrupted write
        data = json.dumps(made("truncated")).encode()
        return data[: len(data) // 2]
    if kind == 1:  # Latin-1 bytes in a UTF-8 file
        data = json.dumps(made("invalid_utf8")).encode()
        return data.replace(b"Compute", b"Comp\xfcte", 1) if b"Compute" in data else data[:5] + b"\xff" + data[5:]
    if kind == 2:
        return made("answer_list", answer=[rec["answer"]])
    if kind == 3:
        return made("problem_number", problem=rng.randint(1, 99))
    if kind == 4:  # "\frac" written into JSON without escaping: a form feed and "rac"
        return made("control_char", problem=f"Compute \x0crac{{{rng.randint(2, 9)}}}{{2}}.")
    if kind == 5:
        return made("unbalanced_braces", problem=rec["problem"].rstrip(".") + " + \\frac{1}{2.")
    if kind == 6:
        return made("junk", problem="".join(rng.choice("#@%&*^~|<>") for _ in range(30)))
    return made("answer_bool", answer=True)


def _too_long(rng: random.Random, k: int, base: dict[str, Any]) -> dict[str, Any]:
    size = 1_000_000 if k == 0 else rng.randint(5_000, 20_000)
    pad = " Note that all numbers here are integers."
    problem = base["problem"] + pad * (size // len(pad) + 1)
    return {**base, "id": f"long-{k}", "problem": problem[:size], "meta": {"origin": "defect:too_long"}}


def build_pool(cfg: PoolConfig, task: TaskConfig, eval_sets: Sequence[EvalSet],
               real: Sequence[dict[str, Any]] = ()) -> list[bytes]:
    """The pool as JSONL lines (bytes, with line ends), deterministic given the arguments."""
    rng = random.Random(f"pool:{cfg.seed}")
    base = [_record(p.id, p.problem, p.answer, p.solution, "generator", **p.meta)
            for p in generate(cfg.base_rows, cfg.seed, task, "train", cfg.noise_rate)]
    out: list[dict[str, Any] | bytes] = list(base)
    for k in range(cfg.exact_duplicates):
        src = rng.choice(base)
        out.append({**src, "id": f"copy-{k}", "meta": {**src["meta"], "origin": "exact_copy", "copy_of": src["id"]}})
    real = [r for r in real if isinstance(r.get("problem"), str) and r.get("answer") is not None]
    for k in range(cfg.near_duplicates):
        from_real = real and k % 7 == 0
        src = rng.choice(real) if from_real else rng.choice(base)
        if k % 5 == 4:
            variant = reworded
        else:
            variant = rng.choice(FORMAT_VARIANTS)
        out.append({"id": f"variant-{k}", "problem": variant(src["problem"]), "answer": str(src["answer"]),
                    "solution": src.get("solution"),
                    "meta": {"origin": f"variant:{variant.__name__}:{'real' if from_real else 'synthetic'}",
                             "copy_of": src.get("id", f"real-{real.index(src) if from_real else ''}")}})
    usable = [(s.name, s.texts, s.answers) for s in eval_sets if s.texts]   # each set's rows, built once
    for k in range(cfg.eval_copies if usable else 0):
        name, texts, answers = usable[k % len(usable)]
        j = rng.randrange(len(texts))
        problem = texts[j] if k % 2 == 0 else spaced(texts[j])
        out.append(_record(f"evalcopy-{k}", problem, answers[j], None, f"eval_copy:{name}"))
    out += [_unverifiable(rng, k) for k in range(cfg.unverifiable)]
    out += [_empty(rng, k, rng.choice(base)) for k in range(cfg.empty)]
    out += [_malformed(rng, k, rng.choice(base)) for k in range(cfg.malformed)]
    out += [_too_long(rng, k, rng.choice(base)) for k in range(cfg.too_long)]
    rng.shuffle(out)
    lines = []
    for i, rec in enumerate(out):
        data = rec if isinstance(rec, bytes) else json.dumps(rec, ensure_ascii=False).encode("utf-8")
        lines.append(data + (b"\r\n" if i % 50 == 49 else b"\n"))
    if lines:
        lines[0] = b"\xef\xbb\xbf" + lines[0]
    return lines
