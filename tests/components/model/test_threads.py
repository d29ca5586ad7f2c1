"""Decoding's thread count is fixed by configuration, restored after, and seeded samples repeat."""

import subprocess
import sys

import pytest
import torch

from components.config import ConfigError
from components.model.candidate import SamplingConfig
from components.model import threads
from components.model.sampling import sample_tokens


@pytest.fixture(scope="module")
def tiny(tiny_dir):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(tiny_dir).eval()


@pytest.fixture(autouse=True)
def _restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def _sample(model, n_threads=None):
    prompts = [[5, 6, 7, 8, 9, 10]] * 8 + [[11, 12, 13]] * 8
    cfg = SamplingConfig(temperature=1.0, max_new_tokens=16)
    return sample_tokens(model, prompts, [2], cfg, 16, torch.Generator().manual_seed(7), 0, threads=n_threads)


def _same(a, b):
    return torch.equal(a.tokens, b.tokens) and torch.equal(a.logprobs, b.logprobs) and torch.equal(a.hidden, b.hidden)


@pytest.mark.parametrize("env, available, expected", [
    ({"OMP_WAIT_POLICY": "PASSIVE"}, 2, 1),
    ({"OMP_WAIT_POLICY": "passive"}, 8, 1),
    ({"OMP_WAIT_POLICY": "ACTIVE"}, 2, 2),
    ({}, 4, 4),
    ({"OMP_WAIT_POLICY": "PASSIVE", threads.ENV: "3"}, 2, 3),
    ({threads.ENV: " 1 "}, 8, 1),
    ({threads.ENV: ""}, 2, 2),
])
def test_the_count_is_a_pure_function_of_configuration(env, available, expected):
    # Same answer on every call and no model involved: nothing is timed.
    assert {threads.configured_threads(available, env) for _ in range(5)} == {expected}


@pytest.mark.parametrize("bad", ["0", "-1", "two", "1.5"])
def test_a_bad_override_is_a_one_line_error(bad):
    with pytest.raises(ConfigError, match=rf"^{threads.ENV}=.*whole number.*$") as err:
        threads.configured_threads(2, {threads.ENV: bad})
    assert "\n" not in str(err.value)


def test_sampling_uses_the_configured_count_and_restores(tiny, monkeypatch):
    torch.set_num_threads(2)
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    monkeypatch.delenv(threads.ENV, raising=False)
    assert threads.decode_threads(tiny) == 1
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")
    assert threads.decode_threads(tiny) == 2
    monkeypatch.setenv(threads.ENV, "1")
    assert threads.decode_threads(tiny) == 1
    assert threads.describe().startswith(f"1 ({threads.ENV}")
    _sample(tiny)
    assert torch.get_num_threads() == 2


def test_a_seeded_sample_repeats_bit_for_bit_under_load(tiny):
    first = {n: _sample(tiny, n) for n in (1, 2)}
    first[None] = _sample(tiny)
    # A competing process spinning on the CPU (bounded, in case the test dies before stopping it).
    busy = subprocess.Popen([sys.executable, "-c", "import time\nt = time.time() + 120\nwhile time.time() < t: pass"])
    try:
        loaded = {n: _sample(tiny, n) for n in first}
    finally:
        busy.kill()
        busy.wait()
    again = {n: _sample(tiny, n) for n in first}
    for n in first:
        assert _same(first[n], loaded[n]), f"{n} thread(s): bits changed under load"
        assert _same(first[n], again[n]), f"{n} thread(s): bits changed after load"


def test_other_layouts_keep_their_count(monkeypatch):
    from transformers import GPT2Config, GPT2LMHeadModel

    monkeypatch.delenv(threads.ENV, raising=False)
    gpt2 = GPT2LMHeadModel(GPT2Config(vocab_size=50, n_embd=16, n_layer=2, n_head=2, n_positions=64)).eval()
    torch.set_num_threads(2)
    assert threads.decode_threads(gpt2) == 2
    with threads.num_threads(1):
        assert threads.decode_threads(gpt2) == 1
    assert torch.get_num_threads() == 2
