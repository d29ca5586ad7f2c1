"""The difficulty agent: drop rows the current policy always or never solves.

GRPO (docs/method.md section 3) learns nothing from a group whose k answers all score the same, so a
problem the policy solves k times out of k (too_easy) or 0 times out of k (too_hard) only costs
compute. The agent samples `k` completions per problem from a `PolicySampler` (the model-backed
one is `components.inference.policy.ModelPolicy`: data sits below the model in the package order,
so the policy is handed in), grades them with `components.rewards.grading.is_correct`, and
records the pass rate as the verdict's score (used to stratify the sample to the target size).
Generation is the expensive part, so at most `max_rows` rows are measured (a reproducible sample
across sources); the others are skipped with a message saying so. It runs only when a policy
directory is given (`--policy DIR`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from components.data.agents import Scope
from components.data.rows import Row, Verdict, skip
from components.rewards.grading import is_correct


@dataclass(frozen=True)
class DifficultyConfig:
    k: int = 4
    max_rows: int = 256          # the sample cap: rows measured per run
    too_easy_at: float = 1.0     # pass rate >= this: too_easy
    too_hard_at: float = 0.0     # pass rate <= this: too_hard
    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 64
    batch_size: int = 64
    seed: int = 0
    device: str = "auto"         # "auto": cuda when available, else cpu


def _order_key(seed: int, row: Row) -> bytes:
    return hashlib.blake2b(f"{seed}:{row.source}:{row.line}".encode(), digest_size=8).digest()


class PolicySampler(Protocol):
    """`k` sampled completions per problem as (text, think) pairs; `ValueError` for a problem the
    policy cannot take as a prompt (e.g. longer than its context)."""

    def sample(self, problems: Sequence[str], k: int) -> list[list[tuple[str, bool]]]: ...


@dataclass
class DifficultyAgent:
    policy: PolicySampler | None
    cfg: DifficultyConfig = field(default_factory=DifficultyConfig)
    name: str = "difficulty"
    scope: Scope = "set"

    def review(self, rows: Sequence[Row]) -> list[Verdict]:
        cfg = self.cfg
        chosen = sorted(range(len(rows)), key=lambda i: _order_key(cfg.seed, rows[i]))[:cfg.max_rows]
        verdicts: list[Verdict] = [skip(f"not measured: over the sample cap of {cfg.max_rows} rows")] * len(rows)
        if not chosen:
            return verdicts
        rates = self.pass_rates([rows[i] for i in sorted(chosen)])
        for i, rate in zip(sorted(chosen), rates):
            verdicts[i] = self.judge(rate)
        return verdicts

    def judge(self, rate: float | None) -> Verdict:
        cfg = self.cfg
        if rate is None:
            return skip("the policy could not take this problem as a prompt")
        solved = f"solved {round(rate * cfg.k)}/{cfg.k} times by the policy"
        if rate >= cfg.too_easy_at:
            return Verdict("reject", "too_easy", solved, rate)
        if rate <= cfg.too_hard_at:
            return Verdict("reject", "too_hard", solved, rate)
        return Verdict("pass", "", solved, rate)

    def pass_rates(self, rows: Sequence[Row]) -> list[float | None]:
        """Share of `k` sampled completions per row whose boxed answer is correct."""
        if self.policy is None:
            raise ValueError("the difficulty agent needs a policy to sample from")
        k = self.cfg.k

        def run(batch: Sequence[Row]) -> list[float]:
            samples = self.policy.sample([r.problem for r in batch], k)
            return [sum(is_correct(text, r.answer, think) for text, think in cs) / max(len(cs), 1)
                    for r, cs in zip(batch, samples)]

        try:
            return list(run(rows))
        except ValueError:
            # One problem the policy refuses as a prompt (e.g. longer than its context) must not
            # stop the rest: measure row by row and skip only that one.
            out: list[float | None] = []
            for r in rows:
                try:
                    out.append(run([r])[0])
                except ValueError:
                    out.append(None)
            return out
