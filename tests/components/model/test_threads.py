"""Decoding's thread count is measured, remembered, restored, and never changes what is sampled."""

import pytest
import torch

from components.inference.candidate import SamplingConfig
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


def _sample(model, n_threads):
    prompts = [[5, 6, 7, 8, 9, 10]] * 8 + [[11, 12, 13]] * 8
    cfg = SamplingConfig(temperature=1.0, max_new_tokens=16)
    return sample_tokens(model, prompts, [2], cfg, 16, torch.Generator().manual_seed(7), 0, threads=n_threads)


def test_one_or_two_threads_sample_the_same_bits(tiny):
    # The choice is a speed choice only: a resumed run may measure differently and must still
    # sample exactly what the uninterrupted run did.
    one, two = _sample(tiny, 1), _sample(tiny, 2)
    assert torch.equal(one.tokens, two.tokens)
    assert torch.equal(one.logprobs, two.logprobs)
    assert torch.equal(one.hidden, two.hidden)


def test_the_count_is_measured_once_and_restored(tiny):
    torch.set_num_threads(2)
    threads._CHOSEN.clear()
    picked = threads.decode_threads(tiny, 16)
    assert picked in (1, 2)
    assert list(threads._CHOSEN.values()) == [picked]
    threads._CHOSEN[next(iter(threads._CHOSEN))] = 2 if picked == 1 else 1   # remembered, not re-measured
    assert threads.decode_threads(tiny, 16) != picked
    _sample(tiny, None)
    assert torch.get_num_threads() == 2
    threads._CHOSEN.clear()


def test_one_thread_processes_and_other_layouts_keep_their_count():
    from transformers import GPT2Config, GPT2LMHeadModel

    gpt2 = GPT2LMHeadModel(GPT2Config(vocab_size=50, n_embd=16, n_layer=2, n_head=2, n_positions=64)).eval()
    torch.set_num_threads(2)
    assert threads.decode_threads(gpt2, 4) == 2
    with threads.num_threads(1):
        assert threads.decode_threads(gpt2, 4) == 1
    assert torch.get_num_threads() == 2
