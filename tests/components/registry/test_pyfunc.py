"""The registered pyfunc: input parsing, signature, and a real log -> register -> load -> predict round trip."""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from components.tracking.connection import RegistryUnavailableError
from components.registry.limits import parse_effort
from components.registry.pyfunc import (RegisterConfig, default_temperature, download_model_dir, model_signature,
                                        problems_from_input, register_model)
from components.registry.serving import free_port

NAME = "reflective-math"


def test_problems_from_dataframe_list_series_and_dict():
    assert problems_from_input(pd.DataFrame({"problem": ["a", "b"]})) == ["a", "b"]
    assert problems_from_input(["a", "b"]) == ["a", "b"]
    assert problems_from_input(pd.DataFrame({0: ["a"]})) == ["a"]          # a list after schema enforcement
    assert problems_from_input(pd.Series(["a"])) == ["a"]
    assert problems_from_input({"problem": ["a", "b"]}) == ["a", "b"]
    assert problems_from_input(pd.DataFrame({"problem": [["a", "b"]]})) == ["a", "b"]


@pytest.mark.parametrize("bad, match", [
    (pd.DataFrame({"question": ["a"], "x": [1]}), "column 'problem'"),
    (["ok", ""], "problem 1: expected a non-empty string"),
    ([3], "problem 0"),
    (42, "DataFrame with a 'problem' column"),
])
def test_bad_input_is_a_400_naming_the_problem(bad, match):
    with pytest.raises(MlflowException, match=match) as exc:
        problems_from_input(bad)
    assert exc.value.error_code == "INVALID_PARAMETER_VALUE"


def test_effort_names_and_numbers():
    assert parse_effort("low") == "low" and parse_effort(" High ") == "high"
    assert parse_effort("8") == 8 and parse_effort(3) == 3
    with pytest.raises(MlflowException, match="param 'effort'.*unknown effort 'huge'"):
        parse_effort("huge")
    with pytest.raises(MlflowException, match="at least 1"):
        parse_effort("0")


def test_signature_declares_per_request_params(tmp_path):
    sig = model_signature(0.7).to_dict()
    params = {p["name"]: p for p in json.loads(sig["params"])}
    assert params["effort"]["default"] == "medium" and params["temperature"]["default"] == 0.7
    assert params["seed"]["type"] == "long" and params["return_candidates"]["type"] == "boolean"
    assert params["search"]["default"] == "best_of_n"
    (tmp_path / "generation_config.json").write_text('{"do_sample": true, "temperature": 0.6}')
    assert default_temperature(tmp_path) == 0.6
    assert default_temperature(tmp_path / "missing") == 1.0


def test_register_refuses_a_partial_model_dir(tmp_path):
    (tmp_path / "m").mkdir()
    with pytest.raises(ValueError, match="no config.json"):
        register_model(tmp_path / "m", NAME, f"sqlite:///{tmp_path}/mlflow.db")


def test_register_with_server_down_is_a_clear_error(tmp_path, tiny_dir, monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    cfg = RegisterConfig(retries=2, retry_wait_s=0.1, timeout_s=1.0)
    with pytest.raises(RegistryUnavailableError, match="not reachable after 2 attempt"):
        register_model(tiny_dir, NAME, f"http://127.0.0.1:{free_port()}", cfg=cfg, log=lambda _m: None)


@pytest.fixture(scope="module")
def registered(tmp_path_factory, tiny_dir):
    root = tmp_path_factory.mktemp("registry")
    uri = f"sqlite:///{root}/mlflow.db"
    tags = {"data_version": "md5:abc", "git_commit": "deadbeef", "training_run_id": "run123", "aha_step": 7}
    version = register_model(tiny_dir, NAME, uri, tags, log=lambda _m: None)
    return uri, version, root


@pytest.mark.integration
def test_register_tags_aliases_and_keeps_artifacts_beside_the_store(registered):
    uri, version, root = registered
    client = MlflowClient(uri)
    mv = client.get_model_version_by_alias(NAME, "challenger")
    assert str(mv.version) == version == "1"
    assert mv.tags["data_version"] == "md5:abc" and mv.tags["aha_step"] == "7"
    assert mv.tags["training_run_id"] == "run123" and mv.tags["git_commit"] == "deadbeef"
    assert mv.tags["model_digest"].startswith("md5:") and mv.tags["head_trained"] == "false"
    assert mv.tags["selector"] == "sprm_best"               # register.selector, served as model_config
    assert (root / "artifacts").is_dir()                    # not ./mlruns in the working directory
    model_dir = download_model_dir(NAME, "challenger", uri, root / "dl")
    assert (model_dir / "config.json").is_file() and (model_dir / "tokenizer.json").is_file()


@pytest.mark.integration
def test_logged_requirements_keep_extras_and_drop_local_build_tags(registered):
    uri, version, root = registered

    mlflow.set_tracking_uri(uri)
    reqs = mlflow.pyfunc.get_model_dependencies(f"models:/{NAME}/{version}")
    lines = Path(reqs).read_text().split()
    assert any(line.startswith("math-verify[antlr4_9_3]==") for line in lines), lines
    torch_pin = next(line for line in lines if line.startswith("torch=="))
    assert "+" not in torch_pin, torch_pin                  # 2.13.0, not 2.13.0+cpu


@pytest.mark.integration
def test_pyfunc_round_trip_effort_seed_and_candidates(registered):
    uri, _, _ = registered
    mlflow.set_tracking_uri(uri)
    model = mlflow.pyfunc.load_model(f"models:/{NAME}@challenger")
    problems = pd.DataFrame({"problem": ["Compute 2 + 3.", "Compute (4 + 1) * 3."]})
    low = model.predict(problems, params={"effort": "low", "seed": 1})
    assert list(low.columns) == ["problem", "answer", "score", "chosen", "n", "head_trained"]
    assert low["n"].tolist() == [2, 2] and low["problem"].tolist() == problems["problem"].tolist()
    assert low.equals(model.predict(problems, params={"effort": "low", "seed": 1}))   # seeded
    three = model.predict(["Compute 2 + 3."], params={"effort": "3", "return_candidates": True})
    cands = json.loads(three.loc[0, "candidates"])
    assert three.loc[0, "n"] == 3 and len(cands) == 3
    assert {"answer", "score", "step_scores", "text"} <= set(cands[0])
    with pytest.raises(MlflowException, match="unknown effort"):
        model.predict(problems, params={"effort": "extreme"})
    # beam search needs the head trained; this version has none: a one-line 400, not a traceback
    with pytest.raises(MlflowException, match="search 'beam' needs a trained SPRM head") as exc:
        model.predict(problems, params={"effort": "low", "search": "beam"})
    assert exc.value.get_http_status_code() == 400


@pytest.mark.integration
def test_the_served_selector_is_the_registered_one(registered):
    uri, _, _ = registered
    mlflow.set_tracking_uri(uri)
    problems = ["Compute 2 + 3.", "Compute (4 + 1) * 3."]
    model = mlflow.pyfunc.load_model(f"models:/{NAME}@challenger", model_config={"selector": "logprob_best"})
    out = model.predict(problems, params={"effort": "4", "seed": 2, "return_candidates": True})
    for _, row in out.iterrows():
        cands = json.loads(row["candidates"])
        assert row["chosen"] == max(range(len(cands)), key=lambda i: (cands[i]["mean_logprob"], -i))


@pytest.mark.integration
def test_a_model_whose_files_changed_after_registration_is_refused(tmp_path, tiny_dir):
    """The registered digest is checked when the pyfunc loads and when a version is downloaded."""
    import shutil

    from mlflow.models import Model

    from components.registry.pyfunc import MODEL_ARTIFACT, ModelDigestError

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    version = register_model(tiny_dir, NAME, uri, log=lambda _m: None)
    mv = MlflowClient(uri).get_model_version(NAME, version)
    local = Path(mlflow.artifacts.download_artifacts(artifact_uri=mv.source, dst_path=str(tmp_path / "dl"),
                                                     tracking_uri=uri))
    rel = Model.load(str(local)).flavors["python_function"]["artifacts"][MODEL_ARTIFACT]["path"]
    mlflow.pyfunc.load_model(str(local))                                  # untouched: loads
    config = local / rel / "config.json"
    config.write_text(config.read_text(encoding="utf-8").replace("}", ', "x": 1}', 1), encoding="utf-8")
    with pytest.raises(ModelDigestError, match="the files are not the registered model"):
        mlflow.pyfunc.load_model(str(local))
    store_copy = next(Path(tmp_path / "artifacts").rglob(f"{rel}/config.json"))   # damage the stored one
    shutil.copy(config, store_copy)
    with pytest.raises(ModelDigestError, match=f"not {NAME} version {version}"):
        download_model_dir(NAME, version, uri, tmp_path / "dl2")
