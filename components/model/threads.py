"""How many CPU threads token-by-token decoding uses: measured once per batch shape, not guessed.

A decoding step of a small model is a few dozen small matrix products. Spreading each over two
threads halves its arithmetic but adds a thread hand-off, and which one wins depends on the
machine, the batch and OpenMP's wait policy. On this project's two cores, 8 batches of 32 rows of
the embedded model took 91 ms each with one thread against 154 ms with two under
`OMP_WAIT_POLICY=PASSIVE` (sleeping threads are woken for every product), and 90 ms against 72 ms
under `ACTIVE` (threads spin). So `decode_threads` times a few steps of the lean decoder with one
thread and with all of them, once per (model shape, batch size), and sampling uses the faster.
Training updates keep all threads: their products are large enough to gain from them.
The choice changes speed only: the products give the same bits with one or several threads
(tests/components/model/test_threads.py checks it on the machine that runs the tests).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

import torch

from components.model import decoder

logger = logging.getLogger(__name__)

_CHOSEN: dict[tuple, int] = {}   # (model shape, batch, threads available) -> threads to decode with
_STEPS = 4                       # timed one-token steps per trial
_ROUNDS = 3                      # alternating trials per candidate; the fastest of each counts


@contextmanager
def num_threads(n: int) -> Iterator[None]:
    """Run the body with `n` intra-op threads, then restore the previous count."""
    before = torch.get_num_threads()
    if n != before:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if n != before:
            torch.set_num_threads(before)


def decode_threads(model, batch: int) -> int:
    """The intra-op thread count (1 or all) that decodes `batch` rows of `model` fastest here.

    Measured on the first call for each model shape and batch size, then remembered for the
    process. Models on an accelerator, layouts the lean decoder does not run, and a process with
    one thread keep the current count.
    """
    available = torch.get_num_threads()
    p = next(model.parameters())
    if available <= 1 or p.device.type != "cpu" or not decoder.supports(model):
        return available
    c = model.config
    key = (c.model_type, c.hidden_size, c.intermediate_size, c.num_hidden_layers, c.vocab_size, p.dtype,
           batch, available)
    if key not in _CHOSEN:
        times = _time_steps(model, batch, (1, available))
        _CHOSEN[key] = min(times, key=times.get)
        logger.debug("decoding %d rows with %d thread(s): %s", batch, _CHOSEN[key],
                     ", ".join(f"{n} thread(s) {t * 1e3:.2f} ms/step" for n, t in times.items()))
    return _CHOSEN[key]


@torch.no_grad()
def _time_steps(model, batch: int, candidates: tuple[int, ...]) -> dict[int, float]:
    """Seconds per one-token step of the lean decoder for each thread count (best of `_ROUNDS`)."""
    device = next(model.parameters()).device
    ids = torch.zeros((batch, 1), dtype=torch.long, device=device)
    valid = torch.ones((batch, 1), dtype=torch.bool, device=device)
    best = {n: float("inf") for n in candidates}
    for _ in range(_ROUNDS):
        for n in candidates:
            with num_threads(n):
                dec = decoder.LeanDecoder(model, batch, 2 + _STEPS)
                dec.forward(ids, ids, valid, capture=True)           # prefill one token (and warm up)
                dec.forward(ids, ids + 1, valid, capture=True)
                t0 = time.perf_counter()
                for k in range(_STEPS):
                    dec.forward(ids, ids + 2 + k, valid, capture=True)
                best[n] = min(best[n], (time.perf_counter() - t0) / _STEPS)
    return best
