"""`reflect run` refuses a bad params.yaml before any stage runs, naming the section and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from components.config import ConfigError
from components.pipeline_params import load_pipeline_params

REPO = Path(__file__).resolve().parents[2]


def test_the_repository_params_load():
    p = load_pipeline_params(REPO / "params.yaml")
    assert p.promote.gate_metric == "eval/synthetic/logprob_best_at_8" == f"eval/synthetic/{p.register.selector}_at_8"
    assert p.register.name == "reflective-math" and p.clean.task == p.task


def test_the_smollm2_params_load():
    p = load_pipeline_params(REPO / "params.smollm2.yaml")
    assert p.task.kind == "sum" and p.clean.task == p.task
    assert p.evaluate.max_n >= p.promote.n and p.train.rollout.max_new_tokens == 32


@pytest.mark.parametrize("text, match", [
    ("trian: {steps: 3}\n", "unknown section 'trian'"),
    ("train: {stepz: 3}\n", "params.yaml:train: unknown key 'stepz'"),
    ("train: {steps: many}\n", "params.yaml:train.steps: expected an integer, got 'many'"),
    ("promote: {margin: -1}\n", "promote: margin, pass1_tolerance and scaling_tolerance must be >= 0"),
    ("evaluate: {max_n: 2}\n", "evaluate.max_n"),
    ("register: {selector: majority}\n", "promote.method 'sprm_best' differs from register.selector 'majority'"),
    ("evaluate: {eval_sets: [synthetic]}\n", "promote.validation_set 'synthetic_val' is not in evaluate.eval_sets"),
])
def test_bad_params_name_the_key(tmp_path, text, match):
    path = tmp_path / "params.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=match):
        load_pipeline_params(path)
