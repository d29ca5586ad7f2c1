"""Batched sampling with capture, and the equivalent single forward pass (docs/method.md sections 1 and 4).

Both functions return, for each completion token k, the token's log-prob under the policy at
temperature 1 and the chosen layer's hidden state at the position that produced token k (the
position just before it), and, with `stats`, its entropy and whether it was not the most likely
token (components/model/steps.py `token_stats_from`). Step features are read from these at the
step-token indices.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from components.model.candidate import SamplingConfig
from components.model import decoder
from components.model.steps import token_stats_from
from components.model.threads import decode_threads, num_threads


@dataclass
class SampledBatch:
    """Shapes: tokens/logprobs [B, T], hidden [B, T, h], stats [B, T, 2], lengths/finished [B]."""

    tokens: torch.Tensor
    logprobs: torch.Tensor
    hidden: torch.Tensor | None   # None when sampled without capture
    lengths: torch.Tensor
    finished: torch.Tensor
    stats: torch.Tensor | None = None  # entropy, not-most-likely flag; None unless asked for


def left_pad(seqs: Sequence[Sequence[int]], pad_id: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-pad id lists; returns ids [B, L] and attention mask [B, L]."""
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, s in enumerate(seqs):
        if s:
            ids[i, width - len(s):] = torch.tensor(list(s), dtype=torch.long)
            mask[i, width - len(s):] = 1
    return ids.to(device), mask.to(device)


def position_ids(mask: torch.Tensor) -> torch.Tensor:
    """Rope positions [B, L] of left-padded rows: 0 at each row's first real token, 0 on padding."""
    return (mask.cumsum(-1) - 1).clamp(min=0)


def logits_warpers(cfg: SamplingConfig) -> list:
    """transformers' processors for `cfg`, in generate's order: repetition penalty, temperature, top-p.

    Built once per batch, outside the decoding loop; each takes (ids seen so far [B, L], fp32 logits
    [B, V]). Empty at temperature <= 0 (greedy) and for settings that change nothing.
    """
    from transformers.generation.logits_process import (RepetitionPenaltyLogitsProcessor,
                                                        TemperatureLogitsWarper, TopPLogitsWarper)

    if cfg.temperature <= 0:
        return []
    out = []
    if cfg.repetition_penalty != 1.0:
        out.append(RepetitionPenaltyLogitsProcessor(cfg.repetition_penalty))
    if cfg.temperature != 1.0:
        out.append(TemperatureLogitsWarper(cfg.temperature))
    if cfg.top_p < 1.0:
        out.append(TopPLogitsWarper(cfg.top_p))
    return out


def _warped(logits: torch.Tensor, seen: torch.Tensor, warpers: list) -> torch.Tensor:
    for warp in warpers:                    # called directly: LogitsProcessorList inspects signatures per call
        logits = warp(seen, logits)
    return logits


def draw(probs: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """One token per row of `probs` [B, V], by inverse CDF: [B] indices, exactly distributed.

    One uniform number per row, where `torch.multinomial` draws B x V exponentials (230 us against
    24 us for 32 x 323 on this machine: a tenth of a small model's decoding step). A token of
    probability 0 is never drawn, even when rounding puts the uniform at the very top of the CDF.
    Raises RuntimeError (as multinomial does) on inf or nan probabilities.
    """
    cdf = probs.cumsum(-1)                                                      # [B, V]
    total = cdf[:, -1:].contiguous()                                            # [B, 1]
    if not bool(torch.isfinite(total).all()):
        raise RuntimeError("probability tensor contains either inf or nan")
    u = torch.rand(total.shape, generator=generator, dtype=cdf.dtype, device=cdf.device) * total
    return invert_cdf(cdf, u, total)


def invert_cdf(cdf: torch.Tensor, u: torch.Tensor, total: torch.Tensor | None = None) -> torch.Tensor:
    """Per row of `cdf` [B, V], the first index whose cdf exceeds `u` [B, 1] (0 <= u <= total).

    `total` is the cdf's last column [B, 1] (contiguous), taken from `cdf` when not given.
    u == total (reachable by rounding) gives the last index of positive probability, not one past it.
    """
    if total is None:
        total = cdf[:, -1:].contiguous()
    picked = torch.searchsorted(cdf, u, right=True)                             # first index with cdf > u
    last = torch.searchsorted(cdf, total)                                       # last token of probability > 0
    return torch.minimum(picked, last).squeeze(-1)


@torch.no_grad()
def sample_tokens(model, prompts: Sequence[Sequence[int]], stop_ids: Sequence[int], cfg: SamplingConfig,
                  max_new_tokens: int, generator: torch.Generator, pad_id: int,
                  layer: int = -2, capture: bool = True, lean: bool | None = None,
                  threads: int | None = None, stats: bool = False) -> SampledBatch:
    """Sample one completion per prompt with a KV cache, capturing features as it goes.

    `capture=False` skips the hidden states (plain sampling, the benchmark's baseline). `lean`
    picks the forward: `LeanDecoder` (components/model/decoder.py, preallocated cache) or the
    library's; None takes the lean one wherever it supports the model. `threads` sets the CPU
    intra-op threads while decoding; None takes the count fixed by configuration
    (components/model/threads.py). With the same seed, settings and thread count the result is
    bit-identical on one machine; another thread count may change the last bits of the log-probs.
    `stats` also records each token's entropy and not-most-likely flag (what a
    `hidden+logprob+entropy` head reads); it changes nothing that is sampled.
    """
    if threads is None:
        threads = decode_threads(model)
    with num_threads(threads):
        return _sample(model, prompts, stop_ids, cfg, max_new_tokens, generator, pad_id, layer, capture, lean,
                       stats)


def _sample(model, prompts, stop_ids, cfg: SamplingConfig, max_new_tokens: int, generator: torch.Generator,
            pad_id: int, layer: int, capture: bool, lean: bool | None, stats: bool = False) -> SampledBatch:
    device = next(model.parameters()).device
    ids, mask = left_pad(prompts, pad_id, device)
    pos = position_ids(mask)
    B = ids.shape[0]
    T = max(max_new_tokens, 0)
    if lean is None:
        lean = decoder.supports(model)
    if lean:
        dec = decoder.LeanDecoder(model, B, ids.shape[1] + T)
        logits, h = dec.prefill(ids, pos, mask.bool(), layer, capture)
        ones = torch.ones((B, 1), dtype=torch.bool, device=device)
    else:
        out = model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True,
                    output_hidden_states=capture)
        past, logits = out.past_key_values, out.logits[:, -1].float()
        h = out.hidden_states[layer][:, -1] if capture else None
    next_pos = pos[:, -1] + 1  # [B]
    tokens = torch.full((B, T), pad_id, dtype=torch.long, device=device)
    logprobs = torch.zeros((B, T), dtype=torch.float32, device=device)
    token_stats = torch.zeros((B, T, 2), dtype=torch.float32, device=device) if stats else None
    hidden = torch.zeros((B, T, h.shape[-1]), dtype=h.dtype, device=device) if h is not None else None
    lengths = torch.full((B,), T, dtype=torch.long, device=device)
    finished = torch.zeros(B, dtype=torch.bool, device=device)
    stops = torch.tensor(list(stop_ids), dtype=torch.long, device=device)
    warpers = logits_warpers(cfg)
    seen = ids if cfg.repetition_penalty != 1.0 else None       # only the repetition penalty reads it
    steps_done = 0
    for t in range(T):
        logp = torch.log_softmax(logits, dim=-1)  # [B, V] policy at temperature 1
        if cfg.temperature <= 0:
            tok = logits.argmax(-1)
        else:
            probs = torch.softmax(_warped(logits, seen, warpers), dim=-1)
            tok = draw(probs, generator)                                        # [B]
        tok = torch.where(finished, torch.full_like(tok, pad_id), tok)
        tokens[:, t] = tok
        logprobs[:, t] = logp.gather(1, tok[:, None]).squeeze(-1)
        if token_stats is not None:
            token_stats[:, t] = token_stats_from(logp, logprobs[:, t])
        if hidden is not None:
            hidden[:, t] = h
        newly = torch.isin(tok, stops) & ~finished
        lengths = torch.where(newly, torch.full_like(lengths, t + 1), lengths)
        finished |= newly
        steps_done = t + 1
        if bool(finished.all()) or t == T - 1:
            break
        if seen is not None:
            seen = torch.cat([seen, tok[:, None]], dim=1)
        if lean:
            logits, h = dec.forward(tok[:, None], next_pos[:, None], ones, layer, capture)
        else:
            mask = torch.cat([mask, torch.ones((B, 1), dtype=mask.dtype, device=device)], dim=1)
            out = model(input_ids=tok[:, None], attention_mask=mask, position_ids=next_pos[:, None],
                        past_key_values=past, use_cache=True, output_hidden_states=capture)
            past, logits = out.past_key_values, out.logits[:, -1].float()
            h = out.hidden_states[layer][:, -1] if capture else None
        next_pos = next_pos + 1
    lengths = lengths.clamp(max=steps_done)
    return SampledBatch(tokens[:, :steps_done].cpu(), logprobs[:, :steps_done].cpu(),
                        hidden[:, :steps_done].cpu() if hidden is not None else None,
                        lengths.cpu(), finished.cpu(),
                        token_stats[:, :steps_done].cpu() if token_stats is not None else None)


@torch.no_grad()
def forward_features(model, prompts: Sequence[Sequence[int]], completions: Sequence[Sequence[int]],
                     pad_id: int, layer: int = -2, stats: bool = False):
    """One forward pass over prompt+completion; features aligned to completion tokens.

    Returns hidden [B, Tc, h] (the state at the position before each completion token) and
    logprobs [B, Tc] (that token's log-prob at temperature 1); Tc = longest completion. With
    `stats`, a third tensor [B, Tc, 2]: each token's entropy and not-most-likely flag.
    """
    device = next(model.parameters()).device
    seqs = [list(p) + list(c) for p, c in zip(prompts, completions)]
    ids, mask = left_pad(seqs, pad_id, device)
    out = model(input_ids=ids, attention_mask=mask, position_ids=position_ids(mask),
                output_hidden_states=True)
    states, logits = out.hidden_states[layer], out.logits.float()
    width = ids.shape[1]
    tc = max((len(c) for c in completions), default=0)
    hidden = torch.zeros((len(seqs), tc, states.shape[-1]), dtype=states.dtype)
    logprobs = torch.zeros((len(seqs), tc), dtype=torch.float32)
    token_stats = torch.zeros((len(seqs), tc, 2), dtype=torch.float32)
    for i, comp in enumerate(completions):
        if not comp:
            continue
        start = width - len(comp)  # index of the first completion token
        producers = torch.arange(start - 1, width - 1, device=device)
        hidden[i, :len(comp)] = states[i, producers].cpu()
        lp = torch.log_softmax(logits[i, producers], dim=-1)
        chosen = lp.gather(1, ids[i, start:, None]).squeeze(-1)       # [len(comp)]
        logprobs[i, :len(comp)] = chosen.cpu()
        if stats:
            token_stats[i, :len(comp)] = token_stats_from(lp, chosen).cpu()
    return (hidden, logprobs, token_stats) if stats else (hidden, logprobs)
