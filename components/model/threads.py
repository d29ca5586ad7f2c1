"""How many CPU threads token-by-token decoding uses: fixed by configuration, never timed.

The intra-op thread count changes the bits a model computes: a matrix product split over two
threads sums its terms in another order than one thread does, and on some CPUs (this project's
AMD EPYC cores among them) the log-probs then differ in their last bits, which can flip a sampled
token further on. A count picked by timing at run time would make a seeded run depend on how busy
the machine was, so the count is a pure function of the environment:

- `REFLECT_DECODE_THREADS=N` (a whole number >= 1) decodes with N threads;
- otherwise one thread when `OMP_WAIT_POLICY=PASSIVE` (sleeping threads are woken for every small
  product: on two cores 8 batches of 32 rows of the embedded model took 91 ms each with one thread
  against 154 ms with two), and all of torch's threads otherwise (spinning threads: 72 ms with two
  against 90 ms with one).

So a seeded run repeats bit for bit on one machine with one thread setting; another CPU or another
setting may give other last bits and so other tokens. Models on an accelerator keep the current
count, and so do layouts the lean decoder (components/model/decoder.py) does not run, unless the
override names a count. Training updates keep all threads.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import torch

from components.config import ConfigError
from components.model import decoder

ENV = "REFLECT_DECODE_THREADS"


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


def override(environ: Mapping[str, str] | None = None) -> int | None:
    """The count `REFLECT_DECODE_THREADS` asks for, or None when unset or empty.

    Raises ConfigError (one line) when it is not a whole number >= 1.
    """
    raw = (os.environ if environ is None else environ).get(ENV, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise ConfigError(f"{ENV}={raw!r}: expected a whole number of threads >= 1 (or unset it)")
    return int(raw)


def configured_threads(available: int, environ: Mapping[str, str] | None = None) -> int:
    """Decode threads for a CPU model the lean decoder runs, given `available` torch threads.

    A pure function of `environ` (default os.environ) and `available`: the override, else 1 under
    `OMP_WAIT_POLICY=PASSIVE`, else `available`.
    """
    env = os.environ if environ is None else environ
    forced = override(env)
    if forced is not None:
        return forced
    if env.get("OMP_WAIT_POLICY", "").strip().upper() == "PASSIVE":
        return 1
    return max(1, available)


def decode_threads(model) -> int:
    """The intra-op thread count sampling `model` uses (see the module docstring)."""
    available = torch.get_num_threads()
    if next(model.parameters()).device.type != "cpu":
        return available
    forced = override()
    if forced is not None:
        return forced
    if not decoder.supports(model):
        return available
    return configured_threads(available)


def describe() -> str:
    """The decode thread setting in one line, for a run's recorded settings."""
    forced = override()
    if forced is not None:
        return f"{forced} ({ENV})"
    n = configured_threads(torch.get_num_threads())
    policy = os.environ.get("OMP_WAIT_POLICY", "").strip() or "unset"
    return f"{n} (OMP_WAIT_POLICY={policy}, {torch.get_num_threads()} torch threads)"
