"""Step segmentation and trajectory scores as pure functions (paper section 4.1, docs/method.md section 2).

A reasoning step ends where the decoded text completes the step marker `.\\n\\n`. Tokenizers
spell it differently: one token (Qwen2, id 382), two (`.` + `\\n\\n`, SmolLM2), three (`.` + `\\n` +
`\\n`, SmolLM2 before a letter), or inside a longer token (`).\\n\\n`). One definition covers all:

- the **step token** of a marker occurrence is the token holding its first character (the `.`);
  for a one-token marker that is the marker token itself;
- the **score position** is the token just before the step token: its second-to-last hidden state
  is the one that predicts the end of the step, exactly as for Qwen2's single token. `step_positions`
  returns step-token indices; callers read the hidden state that produced that token.

Only markers inside the thinking span `<think> ... </think>` count (without `<think>` in the
vocabulary, e.g. SmolLM2, the whole completion is the span); of a run of consecutive markers only
the first is kept; a marker right at the start of the thinking span is ignored. The trajectory
score is the geometric mean of the step scores (eq. 5), clamped at 1e-10, and 0 with no step.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import torch

STEP_TEXT = ".\n\n"
Aggregation = Literal["geometric", "min", "last", "product", "mean"]


class StepTokenError(ValueError):
    """The tokenizer cannot mark steps (it cannot spell `.\\n\\n`)."""


@dataclass(frozen=True)
class StepTokens:
    """What marks steps and the thinking span for one tokenizer.

    `step_ids`: the tokens whose own text contains the whole marker. `texts`: the text of every
    token that can take part in a marker (holds `.` or a newline), for markers that span tokens;
    None means only `step_ids` mark steps (a one-token marker, matched exactly).
    `think_open`/`think_close` are None when the vocabulary has no such single token; the whole
    completion then counts as the thinking span.
    """

    step_ids: frozenset[int]
    think_open: int | None
    think_close: int | None
    texts: Mapping[int, str] | None = field(default=None, compare=False, hash=False, repr=False)

    @classmethod
    def from_tokenizer(cls, tokenizer, match: Literal["exact", "contains"] = "exact") -> StepTokens:
        """Find how this tokenizer marks steps.

        `exact` (default): when `.\\n\\n` is one token, only that token (the reference's rule,
        Qwen2's id 382); otherwise wherever the decoded text completes the marker. `contains`:
        always the decoded-text rule, so also tokens that hold the marker among other characters
        (46 in the Qwen2 vocabulary, the paper's wording) and markers split over tokens.
        """
        if match not in ("exact", "contains"):
            raise ValueError(f"step match must be 'exact' or 'contains', got {match!r}")
        name = getattr(tokenizer, "name_or_path", "")
        ids = tokenizer.encode(STEP_TEXT, add_special_tokens=False)
        think = (_single_id(tokenizer, "<think>"), _single_id(tokenizer, "</think>"))
        if match == "exact" and len(ids) == 1:
            return cls(frozenset(ids), *think)
        if not ids or tokenizer.decode(ids) != STEP_TEXT:
            raise StepTokenError(f"tokenizer {name!r} cannot spell '.\\n\\n' (it encodes to {ids} = "
                                 f"{tokenizer.decode(ids)!r}); step scoring needs it")
        vocab_size = max(len(tokenizer), max(tokenizer.get_vocab().values()) + 1)
        decoded = tokenizer.batch_decode([[i] for i in range(vocab_size)])
        texts = {i: s for i, s in enumerate(decoded) if "." in s or "\n" in s}
        step_ids = frozenset(i for i, s in texts.items() if STEP_TEXT in s)
        return cls(step_ids, *think, texts=texts)


def _single_id(tokenizer, text: str) -> int | None:
    ids = tokenizer.encode(text, add_special_tokens=False)
    return ids[0] if len(ids) == 1 else None


def inside_think_after(ids: Sequence[int], tokens: StepTokens) -> bool:
    """Whether a sequence (e.g. a prompt) leaves the thinking span open at its end."""
    if tokens.think_open is None:
        return True
    inside = False
    for t in ids:
        if t == tokens.think_open:
            inside = True
        elif t == tokens.think_close:
            inside = False
    return inside


def marker_spans(ids: Sequence[int], tokens: StepTokens) -> list[tuple[int, int]]:
    """(first, last) token index of every occurrence of the marker in `ids`, in order.

    `first` holds the marker's `.`, `last` completes it. Think tokens break a marker.

    >>> st = StepTokens(frozenset(), None, None, texts={1: ".", 2: "\\n\\n", 3: "\\n", 4: ".\\n\\n"})
    >>> marker_spans([5, 1, 2, 5, 1, 3, 3, 4], st)
    [(1, 2), (4, 6), (7, 7)]
    """
    texts = tokens.texts
    if texts is None:
        return [(i, i) for i, t in enumerate(ids) if t in tokens.step_ids]
    spans: list[tuple[int, int]] = []
    tail, tail_idx = "", []  # the last (at most 2) characters before this token, and their tokens
    for i, t in enumerate(ids):
        s = texts.get(t)
        if s is None or t == tokens.think_open or t == tokens.think_close:
            tail, tail_idx = "", []
            continue
        joined = tail + s
        k = joined.find(STEP_TEXT)
        if k >= 0:
            spans.append((tail_idx[k] if k < len(tail) else i, i))
        owners = tail_idx + [i] * len(s)
        tail, tail_idx = joined[-2:], owners[-2:]
    return spans


def step_positions(ids: Sequence[int], tokens: StepTokens, start_inside: bool = False) -> list[int]:
    """Indices of the kept step tokens in `ids` (a completion), docs/method.md section 2.

    `start_inside` says the thinking span was opened before `ids` began (e.g. by the prompt).
    Without think tokens in the vocabulary, everything counts as inside. A marker continues a run
    when it starts right after the previous marker ends.

    >>> st = StepTokens(frozenset({9}), think_open=1, think_close=2)
    >>> step_positions([1, 9, 5, 9, 9, 5, 9, 2, 5, 9], st)
    [3, 6]
    """
    spans = iter(marker_spans(ids, tokens))
    nxt = next(spans, None)
    inside = start_inside or tokens.think_open is None
    span_start = 0 if inside else -1
    kept: list[int] = []
    prev_end = -2
    for i, t in enumerate(ids):
        if t == tokens.think_open:
            inside, span_start, prev_end = True, i + 1, -2
        elif t == tokens.think_close and tokens.think_close is not None:
            inside, prev_end = False, -2
        while nxt is not None and nxt[1] == i:
            first = nxt[0]
            if inside and first > prev_end + 1 and first != span_start:
                kept.append(first)
            if inside:
                prev_end = i
            nxt = next(spans, None)
    return kept


def step_spans(positions: Sequence[int], first_start: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """The tokens each step spans: token indices [N] and the step index of each [N].

    Step k spans the tokens after the previous kept step token (or from `first_start`) up to and
    including its own step token; tokens before `first_start` and after the last step are in none.
    """
    n = len(positions)
    if n == 0:
        return torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long)
    pos = torch.as_tensor(positions, dtype=torch.long)  # [n]
    starts = torch.cat([pos.new_tensor([max(first_start, 0)]), pos[:-1] + 1]).clamp(max=pos)  # [n]
    idx = torch.arange(int(pos[-1]) + 1)
    seg = torch.bucketize(idx, pos, right=False)  # step index of each token up to the last step
    inside = idx >= starts[seg.clamp(max=n - 1)]
    return idx[inside], seg[inside]


def step_logprob_features(token_logprobs: torch.Tensor, positions: Sequence[int],
                          first_start: int = 0, token_stats: torch.Tensor | None = None) -> torch.Tensor:
    """Min and mean token log-prob of each step: the extra head input of `hidden+logprob`.

    Over the tokens of `step_spans`. token_logprobs: [T]; returns [n_steps, 2]. With `token_stats`
    [T, 2] (each token's entropy and whether it was not the most likely token, captured from the
    full logits) three columns follow: the step's mean and max entropy and its not-most-likely
    share ([n_steps, 5], what `hidden+logprob+entropy` reads). Vectorised (one scatter per
    candidate), since it runs on the sampling hot path.
    """
    n = len(positions)
    width = 2 if token_stats is None else 5
    if n == 0:
        return torch.zeros(0, width, dtype=torch.float32)
    tok, seg = step_spans(positions, first_start)
    vals = token_logprobs.float()[tok]
    mins = torch.full((n,), float("inf")).scatter_reduce(0, seg, vals, "amin", include_self=True)
    if token_stats is None:
        return torch.stack([mins, segment_mean(vals, seg, n)], dim=-1)
    st = token_stats.float()[tok]  # [tokens in steps, 2]: entropy, not-most-likely
    means = segment_mean(torch.stack([vals, st[:, 0], st[:, 1]], dim=-1), seg, n)  # [n, 3]
    ent_max = torch.full((n,), float("-inf")).scatter_reduce(0, seg, st[:, 0], "amax", include_self=True)
    return torch.stack([mins, means[:, 0], means[:, 1], ent_max, means[:, 2]], dim=-1)


def pool_step_states(states: torch.Tensor, positions: Sequence[int], first_start: int = 0) -> torch.Tensor:
    """Mean of the captured states [T, h] over each step's tokens (`step_spans`): [n_steps, h], fp32.

    What a `pooled+logprob` head reads instead of the state before the step token alone; state t
    is the one that produced token t, as captured while sampling.
    """
    n = len(positions)
    if n == 0:
        return torch.zeros(0, states.shape[-1], dtype=torch.float32)
    tok, seg = step_spans(positions, first_start)
    return segment_mean(states[tok].float(), seg, n)


def segment_mean(values: torch.Tensor, seg: torch.Tensor, n: int) -> torch.Tensor:
    """Mean of `values` [N, ...] over the rows of each segment: seg [N] in [0, n) -> [n, ...].

    The step pooling shared by capture (`pool_step_states`, `step_logprob_features`) and the
    training forward (over `step_spans`' tokens); out of place, so gradients flow. An empty
    segment's mean is 0.

    >>> segment_mean(torch.tensor([1., 3., 5.]), torch.tensor([0, 0, 1]), 3).tolist()
    [2.0, 5.0, 0.0]
    """
    sums = values.new_zeros((n, *values.shape[1:])).index_add(0, seg, values)
    counts = values.new_zeros(n).index_add(0, seg, values.new_ones(seg.shape[0])).clamp(min=1)
    return sums / counts.view(n, *([1] * (values.dim() - 1)))


def token_stats_from(logp: torch.Tensor, chosen: torch.Tensor) -> torch.Tensor:
    """Per-token entropy and not-most-likely flag: [.., 2] from the log-probs `logp` [.., V] and the
    sampled tokens' own log-probs `chosen` [..] (already gathered by the caller).

    The entropy is of the policy at temperature 1 (as the log-probs are); a token is "not the
    most likely" when another token had a strictly higher probability.
    """
    ent = torch.special.entr(logp.exp()).sum(-1)                              # [..]
    off_top = (chosen < logp.amax(-1)).to(logp.dtype)                        # [..]
    return torch.stack([ent, off_top], dim=-1)


def aggregate_scores(scores: torch.Tensor | Sequence[float], how: Aggregation = "geometric") -> float:
    """Trajectory score from step scores (eq. 5: geometric mean); 0.0 when there is no step.

    >>> round(aggregate_scores([0.5, 0.125]), 6)
    0.25
    >>> aggregate_scores([])
    0.0
    >>> aggregate_scores([0.0, 1.0]) > 0
    True
    """
    s = torch.as_tensor(scores, dtype=torch.float64).flatten()  # [n_steps]
    if s.numel() == 0:
        return 0.0
    if how == "geometric":
        return float(torch.exp(torch.log(s.clamp(min=1e-10)).mean()))
    if how == "min":
        return float(s.min())
    if how == "last":
        return float(s[-1])
    if how == "product":
        return float(torch.exp(torch.log(s.clamp(min=1e-10)).sum()))
    if how == "mean":
        return float(s.mean())
    raise ValueError(f"unknown aggregation {how!r} (geometric, min, last, product, mean)")

