"""The bootstrapped default policy is fallible in the way the project needs."""

from __future__ import annotations

import json

import pytest

from components.model.reflective import ReflectiveModel


@pytest.mark.integration
def test_bootstrap_pass_rates_in_window(bootstrapped_dir):
    report = json.loads((bootstrapped_dir / "bootstrap_report.json").read_text())
    assert report["eval_problems"] == 500 and report["eval_samples"] == 8
    assert 0.25 <= report["pass_at_1"] <= 0.70, report
    assert report["pass_at_n"] >= report["pass_at_1"] + 0.20, report
    rm = ReflectiveModel.load(bootstrapped_dir)
    assert rm.spec.sprm_features == "hidden+logprob" and not rm.head_trained
    assert 0.5e6 < sum(p.numel() for p in rm.model.parameters()) < 3e6


def test_short_bootstrap_writes_a_standard_hf_dir(sft_tiny_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    for name in ("config.json", "model.safetensors", "generation_config.json", "tokenizer.json",
                 "reflective.json", "bootstrap_report.json"):
        assert (sft_tiny_dir / name).is_file(), name
    assert not list(sft_tiny_dir.glob("*.bin")), "checkpoints are safetensors only"
    AutoTokenizer.from_pretrained(str(sft_tiny_dir))
    model = AutoModelForCausalLM.from_pretrained(str(sft_tiny_dir))
    assert type(model).__name__ == "Qwen2ForCausalLM"
    report = json.loads((sft_tiny_dir / "bootstrap_report.json").read_text())
    assert report["final_loss"] < 2.0, "the short SFT learned something"
