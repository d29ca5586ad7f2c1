"""Test-time scaling for one problem: sample N at an effort, score, answer from the best (eq. 7).

Efforts follow the paper: low / medium / high = 2 / 8 / 32 candidates (docs/method.md section 4).
`search="beam"` spends the same effort on SPRM-guided step-level beam search instead
(`components.inference.beam`: N continuations per round, the best-scored prefixes kept).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from components.data.synthetic import to_task_format
from components.model.candidate import Candidate, SamplingConfig
from components.inference.selection import choose
from components.model.tokenizer import is_task_tokenizer
from components.rewards.grading import final_answer

EFFORTS: dict[str, int] = {"low": 2, "medium": 8, "high": 32}


def effort_to_n(effort: str | int) -> int:
    """Number of candidates for an effort name (or a positive integer given directly)."""
    if isinstance(effort, int) or (isinstance(effort, str) and effort.isdigit()):
        n = int(effort)
        if n < 1:
            raise ValueError(f"effort must be at least 1 candidate, got {n}")
        return n
    if effort not in EFFORTS:
        raise ValueError(f"unknown effort {effort!r}; choose one of {', '.join(EFFORTS)} or a number")
    return EFFORTS[effort]


@dataclass
class Solution:
    """The chosen answer for one problem and the candidates it was chosen from."""

    problem: str
    answer: str | None
    score: float
    chosen: int
    candidates: list[Candidate]
    head_trained: bool
    n: int = 0                 # the effort's N (0: the number of candidates; a beam keeps fewer)
    tokens: int = 0            # tokens generated for this problem (every sampled token, kept or not)

    def as_dict(self, with_candidates: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"problem": self.problem, "answer": self.answer, "score": self.score,
                               "chosen": self.chosen, "n": self.n or len(self.candidates),
                               "head_trained": self.head_trained}
        if with_candidates:
            out["candidates"] = [
                {"answer": final_answer(c.text, c.think), "score": c.score, "step_scores": c.step_scores,
                 "mean_logprob": c.mean_logprob, "n_tokens": c.n_tokens, "text": c.text}
                for c in self.candidates]
        return out


def task_prompts(model, problems: list[str]) -> list[str]:
    """The problem texts `model` is prompted with: in the synthetic task's format (`Compute
    (3+4)*2.` for `Compute (3 + 4) * 2.`, `What is 7*8?` -> `Compute 7*8.`) when `model` is the
    embedded task's model, which never saw spaces or questions; otherwise as given."""
    if is_task_tokenizer(model.tokenizer):
        return [to_task_format(p) for p in problems]
    return list(problems)


def solve(model, problems: list[str], effort: str | int = "medium",
          sampling: SamplingConfig | None = None, seed: int = 0, selector: str = "sprm_best",
          search: str = "best_of_n") -> list[Solution]:
    """Answers for `problems` with a `ReflectiveModel`: N candidates each, the one `selector`
    picks (`components.inference.selection.SERVED_SELECTORS`; `sprm_best` is the paper's best-of-N).
    With `search="beam"`, the effort's N buys a step-level beam (`beam_for`) guided by the head,
    and the answer is the best finished prefix's (the selector plays no part).

    For the embedded task's model, each problem is first rewritten in the task's format
    (`task_prompts`); each `Solution` keeps the text as given.
    """
    from components.inference.beam import SEARCHES, SearchUnavailable, beam_for, beam_search

    n = effort_to_n(effort)
    if search not in SEARCHES:
        raise ValueError(f"unknown search {search!r}; choose one of {', '.join(SEARCHES)}")
    sampling = sampling or model.default_sampling()
    prompts = task_prompts(model, problems)
    results = []
    if search == "beam":
        if not model.head_trained:
            raise SearchUnavailable("search 'beam' needs a trained SPRM head (sprm_head.safetensors); use best_of_n")
        for problem, found in zip(problems, beam_search(model, prompts, beam_for(n), sampling, seed=seed)):
            best = found.best
            chosen = next((i for i, c in enumerate(found.kept) if c is best), 0)
            results.append(Solution(problem, final_answer(best.text, best.think), best.score, chosen, found.kept,
                                    model.head_trained, n=n, tokens=found.tokens))
        return results
    for problem, cands in zip(problems, model.generate(prompts, n, sampling, seed=seed)):
        best = choose(selector, [final_answer(c.text, c.think) for c in cands], [c.score for c in cands],
                      [c.mean_logprob for c in cands])
        results.append(Solution(problem, final_answer(cands[best].text, cands[best].think), cands[best].score, best,
                                cands, model.head_trained, n=n, tokens=sum(c.n_tokens for c in cands)))
    return results
