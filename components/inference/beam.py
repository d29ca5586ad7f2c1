"""SPRM-guided step-level beam search: spend the samples where the verifier is (docs/method.md section 4).

Best-of-N spends all of its compute before the head looks. Here each problem keeps `width`
prefixes; a round extends every unfinished prefix with `expand` continuations, each sampled up to
its next step marker (or the end of the answer). The head scores the new step from the states
captured while it was generated (no second pass), each prefix's trajectory score is the model's
aggregation of its step scores so far (eq. 5), and the `width` best prefixes survive. A finished
prefix stays in the pool with its score. The search ends when every kept prefix is finished or out
of tokens; the answer is the best finished prefix's (the best unfinished one when none finished).

`tokens` counts every sampled token, kept or not, so a comparison with best-of-N is at equal
generated tokens (best-of-N's cost is the sum of its candidates' lengths).

An effort's N buys a beam of about the same cost (`beam_for`): width x expand = N continuations per
round, so low / medium / high (N = 2 / 8 / 32) search 1x2 / 2x4 / 4x8. The evaluation reports it as
the method `beam` at each effort's N (with its tokens), and a served request asks for it with
`search: "beam"`.

Needs a one-token step marker (the embedded default's tokenizer); a model whose markers span
tokens is refused with a message.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from components.model.candidate import Candidate, SamplingConfig
from components.model.sampling import sample_tokens


@dataclass(frozen=True)
class BeamConfig:
    """`width` prefixes kept per problem, `expand` continuations per prefix and round, at most
    `max_step_tokens` tokens per continuation (a longer step goes on in the next round)."""

    width: int = 2
    expand: int = 4
    max_step_tokens: int = 64

    def __post_init__(self) -> None:
        for name in ("width", "expand", "max_step_tokens"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"beam.{name} must be >= 1, got {getattr(self, name)}")

    @property
    def label(self) -> str:
        return f"beam_{self.width}x{self.expand}"


SEARCHES = ("best_of_n", "beam")


class SearchUnavailable(ValueError):
    """This model cannot beam-search (multi-token step markers, or no trained head)."""


def beam_for(n: int, max_step_tokens: int = 64) -> BeamConfig:
    """The beam an effort of `n` candidates buys: expand = 2 x width, width x expand ~= n.

    >>> [beam_for(n).label for n in (1, 2, 4, 8, 32)]
    ['beam_1x1', 'beam_1x2', 'beam_1x4', 'beam_2x4', 'beam_4x8']
    """
    if n < 1:
        raise ValueError(f"a beam needs at least 1 continuation per round, got {n}")
    width = max(1, int((n / 2) ** 0.5))
    return BeamConfig(width=width, expand=max(1, n // width), max_step_tokens=max_step_tokens)


def supports_beam(rm) -> bool:
    """Whether `rm`'s step markers are single tokens (what the search cuts a step at)."""
    return rm.step_tokens.texts is None


@dataclass
class _Prefix:
    ids: list[int]
    logprobs: torch.Tensor          # [T] per-token log-probs at temperature 1
    hidden: torch.Tensor            # [T, h] captured states
    stats: torch.Tensor | None = None   # [T, 2] token statistics, for a head that reads the entropy
    done: bool = False              # finished (end token) or out of tokens
    finished: bool = False          # ended with an end token
    candidate: Candidate | None = None


@dataclass
class BeamResult:
    """One problem's search: `best` (the answer's candidate), the kept prefixes, tokens generated."""

    best: Candidate
    kept: list[Candidate]
    tokens: int


def beam_search(rm, problems: Sequence[str | list[int]], cfg: BeamConfig, sampling: SamplingConfig,
                seed: int = 0, batch_size: int = 256) -> list[BeamResult]:
    """Search each problem (text or `encode_prompt` ids) with the head of `rm` as the guide."""
    if not supports_beam(rm):
        raise SearchUnavailable("beam search needs a one-token step marker; this model's step markers span tokens "
                         "(use best-of-N)")
    prompts = [p if isinstance(p, list) else rm.encode_prompt(p) for p in problems]
    end_ids = set(rm.stop_ids())
    stops = sorted(end_ids | set(rm.step_tokens.step_ids))
    budget = [min(sampling.max_new_tokens, rm.max_positions - len(p)) for p in prompts]
    width_h = rm.model.config.get_text_config().hidden_size
    entropy = rm.reads_entropy
    beams: list[list[_Prefix]] = [[_Prefix([], torch.zeros(0), torch.zeros(0, width_h),
                                           torch.zeros(0, 2) if entropy else None)] for _ in prompts]
    tokens = [0] * len(prompts)
    gen = torch.Generator(device=rm.device).manual_seed(seed)
    rm.head.eval()
    while True:
        jobs = [(pi, b) for pi, kept in enumerate(beams) for b in kept if not b.done for _ in range(cfg.expand)]
        if not jobs:
            break
        grown: list[list[_Prefix]] = [[b for b in kept if b.done] for kept in beams]
        fresh: list[Candidate] = []
        for start in range(0, len(jobs), batch_size):
            chunk = jobs[start:start + batch_size]
            room = min(budget[pi] - len(b.ids) for pi, b in chunk)
            batch = sample_tokens(rm.model, [prompts[pi] + b.ids for pi, b in chunk], stops, sampling,
                                  min(cfg.max_step_tokens, room), gen, rm.tokenizer.pad_token_id,
                                  rm.spec.hidden_layer, capture=True, stats=entropy)
            for row, (pi, b) in enumerate(chunk):
                n = int(batch.lengths[row])
                new = batch.tokens[row, :n].tolist()
                tokens[pi] += n
                ended = bool(new) and new[-1] in end_ids
                p = _Prefix(b.ids + new, torch.cat([b.logprobs, batch.logprobs[row, :n]]),
                            torch.cat([b.hidden, batch.hidden[row, :n].float()]),
                            torch.cat([b.stats, batch.stats[row, :n]]) if entropy else None, finished=ended)
                p.done = ended or len(p.ids) >= budget[pi]
                p.candidate = rm.candidate_from(pi, prompts[pi], p.ids, p.logprobs, p.hidden, ended, p.stats)
                fresh.append(p.candidate)
                grown[pi].append(p)
        rm.score_candidates(fresh)
        beams = [sorted(pool, key=lambda p: -p.candidate.score)[:cfg.width] for pool in grown]
    out = []
    for pi, kept in enumerate(beams):
        finished = [p for p in kept if p.finished] or kept
        out.append(BeamResult(best=finished[0].candidate, kept=[p.candidate for p in kept], tokens=tokens[pi]))
    return out
