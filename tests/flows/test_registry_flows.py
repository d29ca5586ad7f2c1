"""Register, promote and bootstrap flows under a real Prefect API, against a real sqlite MLflow store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow import MlflowClient
from prefect.states import Completed, Failed

from components.tracking.connection import RegistryUnavailableError
from components.tracking.lineage import dir_digest
from components.registry.promotion import FINGERPRINT_TAG, MetricsMismatchError, current_champion
from flows.registry_io import registry_io_only

NAME = "reflective-math"
GATE, PASS1 = "eval/synthetic/sprm_best_at_2", "eval/synthetic/pass_at_1"   # medium = 2 below
PARAMS = """
register: {name: reflective-math, retries: 1, retry_wait_s: 0.0}
promote: {margin: 0.02, pass1_tolerance: 0.05, floor: 0.3, retries: 1, retry_wait_s: 0.0, validation_set: ""}
evaluate: {n_problems: 4, max_n: 2, efforts: {low: 1, medium: 2, high: 2}, report_efforts: [low, medium],
           bootstrap_resamples: 10, subset_draws: 5, heatmap_problems: 1, batch_size: 16,
           sampling: {max_new_tokens: 16}}
"""


def test_only_an_unreachable_registry_is_retried():
    assert registry_io_only(None, None, Failed(data=RegistryUnavailableError("down")))
    assert not registry_io_only(None, None, Failed(data=ValueError("bad model dir")))
    assert not registry_io_only(None, None, Completed(data="1"))


@pytest.mark.integration
def test_register_then_promote_flows_move_the_champion_only_on_a_win(tmp_path, tiny_dir, prefect_harness):
    from flows.promote import promote_flow
    from flows.register import register_flow

    params = tmp_path / "params.yaml"
    params.write_text(PARAMS)
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    first = register_flow(model_dir=tiny_dir, params=params, tracking_uri=uri, tags={"aha_step": "5"})
    assert first == {"name": NAME, "version": "1", "alias": "challenger"}
    mv = MlflowClient(uri).get_model_version(NAME, "1")
    assert mv.tags["aha_step"] == "5" and mv.tags["git_commit"]          # flow adds the commit

    eval_dir = tmp_path / "eval"
    eval_dir.mkdir()
    (eval_dir / "metrics.json").write_text(json.dumps({GATE: 0.5, PASS1: 0.4, "model_digest": dir_digest(tiny_dir)}))
    out = promote_flow(version="1", eval_dir=eval_dir, params=params, tracking_uri=uri)
    assert out["promoted"] and "first model" in out["reason"]
    import mlflow                                       # the metrics are on the version's logged model
    source = MlflowClient(uri).get_model_version(NAME, "1").source             # models:/m-<id>
    logged = mlflow.MlflowClient(uri).get_logged_model(source.split("/")[-1])
    assert {m.key: m.value for m in logged.metrics} == {GATE: 0.5, PASS1: 0.4}

    register_flow(model_dir=tiny_dir, params=params, tracking_uri=uri)
    out = promote_flow(version="2", metrics={GATE: 0.51, PASS1: 0.4, "model_digest": dir_digest(tiny_dir)},
                       params=params, tracking_uri=uri)
    assert not out["promoted"] and "< margin" in out["reason"]
    assert str(current_champion(MlflowClient(uri), NAME).version) == "1"      # untouched

    with pytest.raises(FileNotFoundError, match="no evaluation metrics"):
        promote_flow(version="2", eval_dir=tmp_path / "nowhere", params=params, tracking_uri=uri)
    # metrics of another model, or of no model said, are refused before the gate looks at them
    (eval_dir / "metrics.json").write_text(json.dumps({GATE: 0.9, PASS1: 0.9, "model_digest": "md5:0ther"}))
    with pytest.raises(MetricsMismatchError, match="metrics are of model md5:0ther, but reflective-math version 2 is"):
        promote_flow(version="2", eval_dir=eval_dir, params=params, tracking_uri=uri)
    with pytest.raises(MetricsMismatchError, match="do not say which model they measured"):
        promote_flow(version="2", metrics={GATE: 0.9, PASS1: 0.9}, params=params, tracking_uri=uri)
    assert str(current_champion(MlflowClient(uri), NAME).version) == "1"


@pytest.mark.integration
def test_promote_flow_reevaluates_a_champion_measured_under_another_config(tmp_path, tiny_dir, prefect_harness):
    from flows.promote import promote_flow
    from flows.register import register_flow

    params = tmp_path / "params.yaml"
    params.write_text(PARAMS)
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    register_flow(model_dir=tiny_dir, params=params, tracking_uri=uri)
    promote_flow(version="1", metrics={GATE: 0.5, PASS1: 0.4, "model_digest": dir_digest(tiny_dir)}, params=params,
                 tracking_uri=uri)
    old = MlflowClient(uri).get_model_version(NAME, "1").tags[FINGERPRINT_TAG]

    params.write_text(PARAMS.replace("n_problems: 4", "n_problems: 3"))       # the eval changed
    register_flow(model_dir=tiny_dir, params=params, tracking_uri=uri)
    out = promote_flow(version="2", metrics={GATE: 0.9, PASS1: 0.9, "model_digest": dir_digest(tiny_dir)}, params=params, tracking_uri=uri,
                       workdir=tmp_path)
    assert (tmp_path / "reports" / "eval-champion-v1" / "metrics.json").is_file()    # champion measured again
    # the random tiny model has no trained head: its SPRM metric is missing, so the floor decides
    assert out["promoted"] and "champion has no recorded" in out["reason"]
    assert MlflowClient(uri).get_model_version(NAME, "2").tags[FINGERPRINT_TAG] != old


@pytest.mark.integration
def test_bootstrap_flow_writes_a_loadable_model(tmp_path, prefect_harness):
    from components.model.reflective import ReflectiveModel
    from flows.bootstrap import bootstrap_flow

    params = tmp_path / "params.yaml"
    params.write_text("bootstrap: {n_train: 200, steps: 3, batch_size: 8, eval_problems: 4, eval_samples: 2,\n"
                      "  max_new_tokens: 16, model: {hidden_size: 32, intermediate_size: 64, num_hidden_layers: 1,\n"
                      "  num_attention_heads: 2, num_key_value_heads: 1}}\n")
    report = bootstrap_flow(out_dir=tmp_path / "boot", params=params)
    assert report["model_dir"] == str(tmp_path / "boot") and 0 <= report["pass_at_1"] <= 1
    assert ReflectiveModel.load(Path(report["model_dir"])).model.config.hidden_size == 32
