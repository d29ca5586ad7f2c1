"""The embedded default task: step-by-step integer arithmetic (and small linear equations).

Every problem has a checkable integer answer and a solution trace in the reasoning format the
whole project uses (docs/method.md section 2): one step per line pair, each ending in `.\\n\\n`,
inside `<think> ... </think>`, then the boxed answer::

    Compute (7+5)*3-4.   ->   <think>7+5=12.\\n\\n12*3=36.\\n\\n36-4=32.\\n\\n</think> \\boxed{32}

Intermediate results stay within [0, `max_value`] (a trial here showed a 1M-parameter model
learns almost nothing when they reach 999, and learns well when capped at 99). Generation is
deterministic given a seed. Training and held-out problems never overlap: a problem belongs to
the held-out split iff a hash of its text says so (`is_heldout`), and each generator keeps only
its own split.

Noise (`noise_rate`): a share of traces get one wrong step whose wrong result propagates to the
final answer, so that a policy fine-tuned on them is fallible (the bootstrap needs pass@1 well
below pass@8).
"""

from __future__ import annotations

import hashlib
import random
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from components.config import ConfigError

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"
STEP_END = ".\n\n"


@dataclass(frozen=True)
class TaskConfig:
    """Difficulty knobs of the synthetic task (params.yaml section `task`)."""

    min_ops: int = 2
    max_ops: int = 4
    max_operand: int = 20
    max_value: int = 99
    # Share of linear-equation problems ("Solve for x: 3*x+5=20."); the rest is arithmetic.
    linear_share: float = 0.2
    heldout_share: float = 0.05
    # "chain": the chains above. "sum": one addition "What is a + b?" with a, b in
    # [0, max_operand] (a task a small pretrained model solves sometimes; ops knobs unused).
    kind: str = "chain"

    def __post_init__(self) -> None:
        if self.kind not in ("chain", "sum"):
            raise ConfigError(f"task.kind: {self.kind!r} is not one of chain, sum")


@dataclass(frozen=True)
class Problem:
    """One synthetic problem with its (possibly noisy) reference trace."""

    id: str
    problem: str
    answer: str
    solution: str
    meta: dict[str, Any] = field(default_factory=dict)

    def as_row(self) -> dict[str, Any]:
        return {"id": self.id, "problem": self.problem, "answer": self.answer,
                "solution": self.solution, "meta": dict(self.meta)}


def is_heldout(problem: str, share: float = TaskConfig.heldout_share) -> bool:
    """True iff `problem` belongs to the held-out split (a stable hash of its text)."""
    digest = hashlib.sha256(problem.encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") < share * 2**32


def format_trace(steps: list[str], answer: str) -> str:
    """`<think>s1.\\n\\ns2.\\n\\n</think> \\boxed{answer}` from step bodies (without the dot)."""
    body = "".join(f"{s}{STEP_END}" for s in steps)
    return f"{THINK_OPEN}{body}{THINK_CLOSE} \\boxed{{{answer}}}"


def _apply(a: int, op: str, b: int) -> int | None:
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if op == "/":
        return a // b if b and a % b == 0 else None
    raise ValueError(op)


_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2}


def _arithmetic(rng: random.Random, cfg: TaskConfig) -> tuple[str, list[tuple[int, str, int, int]]]:
    """A chain of operations on the previous result, rendered with minimal parentheses.

    Returns the expression text and the operations in evaluation order as
    (left, op, right, side), where `side` (0 = left, 1 = right) says which operand is the
    previous step's result (ignored for the first operation).
    """
    n_ops = rng.randint(cfg.min_ops, cfg.max_ops)
    value = rng.randint(1, cfg.max_operand)
    text, top_op = str(value), ""
    ops: list[tuple[int, str, int, int]] = []
    while len(ops) < n_ops:
        op = rng.choice("+-*/")
        if op == "*":
            b = rng.randint(2, 9)
        elif op == "/":
            divisors = [d for d in range(2, 10) if value % d == 0]
            if not divisors:
                continue
            b = rng.choice(divisors)
        else:
            b = rng.randint(1, cfg.max_operand)
        result = _apply(value, op, b)
        if result is None or not 0 <= result <= cfg.max_value:
            continue
        needs_parens = bool(top_op) and _PRECEDENCE[top_op] < _PRECEDENCE[op]
        sub = f"({text})" if needs_parens else text
        # + and * commute: sometimes put the sub-expression on the right for variety.
        if op in "+*" and rng.random() < 0.3:
            sub = f"({text})" if top_op and top_op != op else text
            text = f"{b}{op}{sub}"
            ops.append((b, op, value, 1))
        else:
            text = f"{sub}{op}{b}"
            ops.append((value, op, b, 0))
        value, top_op = result, op
    return text, ops


def _run_chain(ops: list[tuple[int, str, int, int]], wrong_at: int | None, delta: int,
               max_value: int) -> tuple[list[str], int] | None:
    """Evaluate `ops` in order, optionally corrupting step `wrong_at` by `delta` (propagated).

    Returns the step texts and the final value, or None when a value leaves [0, max_value] or a
    division stops being exact.
    """
    steps: list[str] = []
    prev = 0
    for i, (a, op, b, side) in enumerate(ops):
        if i > 0:
            a, b = (prev, b) if side == 0 else (a, prev)
        result = _apply(a, op, b)
        if result is None:
            return None
        if i == wrong_at:
            result += delta
        if not 0 <= result <= max_value:
            return None
        steps.append(f"{a}{op}{b}={result}")
        prev = result
    return steps, prev


def _linear(rng: random.Random, cfg: TaskConfig) -> tuple[str, int, list[str]]:
    """`Solve for x: a*x+b=c.` with integer x; steps undo b, then a."""
    while True:
        x = rng.randint(1, 12)
        a = rng.randint(2, 9)
        b = rng.randint(1, cfg.max_operand)
        if a * x + b <= cfg.max_value:
            break
    c = a * x + b
    return f"Solve for x: {a}*x+{b}={c}.", x, [f"{c}-{b}={c - b}", f"{c - b}/{a}={x}"]


def _sum(rng: random.Random, cfg: TaskConfig, noisy: bool) -> Problem:
    a, b = rng.randint(0, cfg.max_operand), rng.randint(0, cfg.max_operand)
    shown = a + b + (rng.choice([d for d in (-2, -1, 1, 2) if a + b + d >= 0]) if noisy else 0)
    meta = {"kind": "sum", "n_ops": 1, "noisy": shown != a + b}
    return Problem("", f"What is {a} + {b}?", str(a + b), format_trace([f"{a}+{b}={shown}"], str(shown)), meta)


def generate_problem(rng: random.Random, cfg: TaskConfig, noisy: bool) -> Problem:
    """One problem; `noisy` corrupts one step (and so the final answer) when possible."""
    if cfg.kind == "sum":
        return _sum(rng, cfg, noisy)
    if rng.random() < cfg.linear_share:
        text, x, steps = _linear(rng, cfg)
        answer = x
        if noisy:
            # Corrupt either the subtraction or the division; the division stays exact.
            d = rng.choice([d for d in (-2, -1, 1, 2) if x + d >= 0])
            c_minus_b, a = int(steps[0].split("=")[1]), int(steps[1].split("/")[1].split("=")[0])
            answer = x + d
            if rng.random() < 0.5:
                wrong = c_minus_b + d * a
                steps = [steps[0].rsplit("=", 1)[0] + f"={wrong}", f"{wrong}/{a}={answer}"]
            else:
                steps = [steps[0], f"{c_minus_b}/{a}={answer}"]
        meta = {"kind": "linear", "n_ops": 2, "noisy": noisy and answer != x}
        return Problem("", text, str(x), format_trace(steps, str(answer)), meta)
    while True:
        expr, ops = _arithmetic(rng, cfg)
        clean = _run_chain(ops, None, 0, cfg.max_value)
        if clean is None:
            continue
        steps, answer = clean
        if noisy:
            for _ in range(10):
                wrong_at = rng.randrange(len(ops))
                delta = rng.choice([-10, -3, -2, -1, 1, 2, 3, 10])
                bad = _run_chain(ops, wrong_at, delta, cfg.max_value)
                if bad is not None and bad[1] != answer:
                    steps, noisy_answer = bad
                    break
            else:
                noisy_answer = answer
        else:
            noisy_answer = answer
        meta = {"kind": "arithmetic", "n_ops": len(ops), "noisy": noisy_answer != answer}
        return Problem("", f"Compute {expr}.", str(answer), format_trace(steps, str(noisy_answer)), meta)


def generate(n: int, seed: int, cfg: TaskConfig = TaskConfig(), split: str = "train",
             noise_rate: float = 0.0, unique: bool = True) -> Iterator[Problem]:
    """Yield `n` problems of `split` ('train' or 'heldout'), deterministic given `seed`.

    With `unique`, no problem text repeats within the call. Ids are `synthetic-<split>-<seed>-<i>`.
    """
    if split not in ("train", "heldout"):
        raise ValueError(f"split must be 'train' or 'heldout', got {split!r}")
    rng = random.Random(f"{seed}:{split}")
    seen: set[str] = set()
    i = 0
    attempts = 0
    while i < n:
        attempts += 1
        if attempts > 200 * n + 10_000:
            raise RuntimeError(f"could not draw {n} unique {split} problems with {cfg}; widen the task")
        p = generate_problem(rng, cfg, noisy=rng.random() < noise_rate)
        if is_heldout(p.problem, cfg.heldout_share) != (split == "heldout"):
            continue
        if unique and p.problem in seen:
            continue
        seen.add(p.problem)
        yield Problem(f"synthetic-{split}-{seed}-{i}", p.problem, p.answer, p.solution, p.meta)
        i += 1


# ---------------------------------------------------------------- what a person types

_SYMBOLS = (("\\times", "*"), ("\\cdot", "*"), ("\\div", "/"), ("×", "*"), ("·", "*"), ("∗", "*"),
            ("÷", "/"), ("−", "-"), ("–", "-"), ("$", ""))
_WORD_OPS = ((r"\bplus\b", "+"), (r"\bminus\b", "-"), (r"\b(?:times|multiplied by)\b", "*"),
             (r"\b(?:divided by|over)\b", "/"))
_ASK = re.compile(r"^(?:please\s+)?(?:compute|calculate|evaluate|simplify|work out|find|what\s+is|what's"
                  r"|how much is)\s*:?\s*(?:the value of\s+)?", re.IGNORECASE)
_EXPRESSION = re.compile(r"[\d+\-*/() ]*\d[\d+\-*/() ]*")
_LINEAR_ASK = re.compile(r"^(?:solve(?:\s+for\s+x)?\s*[:,]?\s*)?(\d+)\s*\*?\s*x\s*\+\s*(\d+)\s*=\s*(\d+)"
                         r"(?:\s*(?:for\s+x|,?\s*x\s*=\s*\?))?$", re.IGNORECASE)
_TAIL = " ?.!="


def to_task_format(text: str) -> str:
    """`text` rewritten in the embedded task's own format when it asks one of its problems.

    The task writes `Compute (3+4)*2.` and `Solve for x: 3*x+5=20.`, never a space inside the
    expression; a person writes `Compute (3 + 4) * 2.`, `What is 7*8?`, `(3+4)*2`, `7 x 8 =`,
    `3 times 4` or `solve 3x + 5 = 20`. Those become the task's text; anything else (other
    words, digits separated only by a space, an empty expression) is returned unchanged, and so
    is the task's own text. Only for the embedded task's model: a real checkpoint reads text as
    written.
    """
    s = " ".join(text.split())
    for symbol, op in _SYMBOLS:
        s = s.replace(symbol, op)
    s = s.strip().rstrip(_TAIL).strip()
    m = _LINEAR_ASK.match(s)
    if m:
        return f"Solve for x: {m.group(1)}*x+{m.group(2)}={m.group(3)}."
    body = _ASK.sub("", s, count=1).rstrip(_TAIL).strip()
    for words, op in _WORD_OPS:
        body = re.sub(words, op, body, flags=re.IGNORECASE)
    body = re.sub(r"(?<=[\d)])\s*[xX]\s*(?=[\d(])", "*", body)
    if not _EXPRESSION.fullmatch(body) or re.search(r"\d\s+\d", body) or not re.search(r"[+\-*/]", body):
        return text
    return f"Compute {body.replace(' ', '')}."
