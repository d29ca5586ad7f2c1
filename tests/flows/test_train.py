"""The train flow under a real Prefect API, on a real tiny model and a real sqlite MLflow store."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

PARAMS = """
train:
  steps: 2
  rollout: {prompts_per_step: 2, group_size: 2, max_new_tokens: 8}
  grpo: {no_signal_patience: 0}
  checkpoint: {every_steps: 1}
"""


@pytest.mark.integration
def test_train_flow_trains_checkpoints_and_logs(tmp_path, tiny_dir, prefect_harness):
    from mlflow import MlflowClient

    from flows.train import train_flow

    params = tmp_path / "params.yaml"
    params.write_text(PARAMS)
    data = tmp_path / "clean.parquet"
    pq.write_table(pa.Table.from_pylist([{"problem": f"Compute {a}+1.", "answer": str(a + 1)} for a in range(4)]), data)
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    out = train_flow(model_dir=tiny_dir, data_path=data, out_dir=tmp_path / "train", params=params,
                     tracking_uri=uri, loss="bce")
    assert out["steps"] == 2 and (tmp_path / "train" / "model" / "sprm_head.safetensors").is_file()
    assert out["checkpoint"].endswith("step-000002")
    run = MlflowClient(tracking_uri=uri).get_run(out["run_id"])
    assert run.data.params["spr.loss"] == "bce" and "train/reward_mean" in run.data.metrics
    again = train_flow(model_dir=tiny_dir, data_path=data, out_dir=tmp_path / "train", params=params,
                       tracking_uri=uri, loss="bce", resume=True)   # nothing left to do: same run, same checkpoint
    assert again["steps"] == 2 and again["run_id"] == out["run_id"]
