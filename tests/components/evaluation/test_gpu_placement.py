"""`evaluate --backend vllm` scores on the GPU in bf16, and is refused in one line without vLLM."""

from __future__ import annotations

import importlib.util
from dataclasses import replace

import pytest
import torch

from components.evaluation.config import EvaluateConfig
from components.evaluation.runner import run_evaluate, scoring_placement
from components.inference.vllm_backend import BackendUnavailable

HAS_VLLM = importlib.util.find_spec("vllm") is not None


def test_vllm_second_pass_runs_on_the_gpu_in_bf16():
    assert scoring_placement(EvaluateConfig()) == ("cpu", None)                       # hf: evaluate.device, fp32
    assert scoring_placement(EvaluateConfig(backend="vllm")) == ("cuda", torch.bfloat16)  # default device cpu
    assert scoring_placement(EvaluateConfig(backend="vllm", device="cuda:1")) == ("cuda:1", torch.bfloat16)


@pytest.mark.skipif(HAS_VLLM, reason="vllm is installed: the missing-backend refusal does not apply")
def test_vllm_evaluation_is_refused_before_loading(tiny_dir, tmp_path):
    cfg = replace(EvaluateConfig(n_problems=2), backend="vllm")
    with pytest.raises(BackendUnavailable) as err:
        run_evaluate(tiny_dir, ["synthetic"], cfg, tmp_path / "eval", log=lambda _m: None)
    assert "\n" not in str(err.value) and "constraints-gpu.txt" in str(err.value)
    assert not (tmp_path / "eval").exists()
