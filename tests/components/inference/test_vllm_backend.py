"""The optional vLLM backend: a clear error without vLLM; a real run where vLLM and a GPU exist."""

import importlib.util

import pytest

from components.model.candidate import SamplingConfig
from components.inference.vllm_backend import BackendUnavailable, VLLMSampler, sampling_params

HAS_VLLM = importlib.util.find_spec("vllm") is not None


@pytest.mark.skipif(HAS_VLLM, reason="vllm is installed: the missing-backend message does not apply")
def test_without_vllm_the_error_says_how_to_install():
    with pytest.raises(BackendUnavailable, match=r"gpu. extra"):
        sampling_params(SamplingConfig(), 2, 0, [1])
    with pytest.raises(BackendUnavailable):
        VLLMSampler.from_reflective(object())


@pytest.mark.integration
@pytest.mark.skipif(not HAS_VLLM, reason="vllm is not installed (the `gpu` extra)")
def test_vllm_candidates_are_scored_like_the_hf_path(sft_tiny_dir):
    import torch

    if not torch.cuda.is_available():
        pytest.skip("vllm needs a GPU")
    from components.model.reflective import ReflectiveModel

    rm = ReflectiveModel.load(sft_tiny_dir, device="cuda")
    sampler = VLLMSampler.from_reflective(rm, sft_tiny_dir, gpu_memory_utilization=0.3)
    sampling = SamplingConfig(max_new_tokens=32)
    out = sampler.generate(["Compute 3+4.", "Compute 12-5."], 3, sampling, seed=0)
    assert [len(c) for c in out] == [3, 3]
    flat = [c for cs in out for c in cs]
    assert all(c.step_hidden.shape == (c.n_steps, rm.model.config.hidden_size) for c in flat)
    assert all(len(c.step_scores) == c.n_steps for c in flat)
    # the second pass gives the same features as scoring the same ids again
    again = rm.score_second_pass(["Compute 3+4."] * 3, [c.token_ids for c in out[0]])
    assert [c.score for c in again] == pytest.approx([c.score for c in out[0]], abs=1e-4)
