"""Serving the champion with `mlflow models serve --env-manager local` on 127.0.0.1."""

from __future__ import annotations

import sys

import pytest
from mlflow import MlflowClient

from components.registry.promotion import PromoteConfig, promote
from components.registry.pyfunc import register_model
from components.registry.serving import ServeError, invoke, model_uri, serve_command, start_server

NAME = "reflective-math"


def _post(url: str, problems: list[str], params: dict) -> tuple[int, dict]:
    """POST one request as raw JSON (NaN and 2**64 included, as a client may send them)."""
    import json

    import requests

    payload = json.dumps({"dataframe_records": [{"problem": p} for p in problems], "params": params})
    resp = requests.post(url + "/invocations", data=payload, headers={"Content-Type": "application/json"},
                         timeout=120)
    return resp.status_code, resp.json()


def test_serve_command_is_local_env_on_loopback():
    cmd = serve_command(model_uri(NAME), port=5123)
    assert cmd[:3] == [sys.executable, "-m", "mlflow"]
    assert cmd[cmd.index("-m", 3) + 1] == "models:/reflective-math@champion"
    assert cmd[cmd.index("--env-manager") + 1] == "local" and cmd[cmd.index("-h") + 1] == "127.0.0.1"
    assert cmd[cmd.index("-p") + 1] == "5123"
    assert model_uri(NAME, "3") == "models:/reflective-math/3"


@pytest.mark.integration
def test_a_model_that_cannot_load_fails_fast_with_the_server_log(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    with pytest.raises(ServeError, match="exited with code"):
        start_server(model_uri("no-such-model"), uri, timeout_s=120, log_path=tmp_path / "serve.log")


@pytest.mark.integration
def test_champion_answers_invocations_with_effort_per_request(tmp_path, sft_tiny_dir):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    version = register_model(sft_tiny_dir, NAME, uri, {"git_commit": "test"}, log=lambda _m: None)
    decision = promote(NAME, version, {"eval/synthetic/sprm_best_at_8": 0.5, "eval/synthetic/pass_at_1": 0.4},
                       PromoteConfig(floor=0.1, validation_set=""), MlflowClient(uri), log=lambda _m: None)
    assert decision.promote
    with start_server(model_uri(NAME, "champion"), uri, timeout_s=180, log_path=tmp_path / "serve.log") as server:
        assert server.url.startswith("http://127.0.0.1:")
        low = invoke(server.url, ["Compute (3 + 4) * 2.", "Compute 9 - 5."], {"effort": "low", "seed": 0})
        assert [r["n"] for r in low] == [2, 2]
        assert any(isinstance(r["answer"], str) and r["answer"] for r in low)   # the SFT'd policy boxes answers
        high = invoke(server.url, ["Compute 9 - 5."], {"effort": "4", "return_candidates": True})
        assert high[0]["n"] == 4 and "candidates" in high[0]
        with pytest.raises(ServeError, match="HTTP 400.*unknown effort"):
            invoke(server.url, ["Compute 9 - 5."], {"effort": "extreme"})
        for params, says in [({"effort": "1000000"}, "at most 32 per problem"), ({"effort": "²"}, "param 'effort'"),
                             ({"temperature": float("nan")}, "param 'temperature'"),
                             ({"seed": 2**64}, "param 'seed'"), ({"seed": -3}, "param 'seed'")]:
            status, body = _post(server.url, ["Compute 9 - 5."], params)
            assert status == 400, (params, body)
            assert body["error_code"] == "INVALID_PARAMETER_VALUE" and "stack_trace" not in body, body
            assert says in body["message"] and "\n" not in body["message"], body["message"]
            assert "Failed to predict" not in body["message"] and "Traceback" not in body["message"]
        status, body = _post(server.url, ["x" * 5000], {"effort": "low"})
        assert status == 400 and body["message"].startswith("problem 0: 5000 characters"), body
        assert len(invoke(server.url, ["Compute 9 - 5."], {"effort": "low"})) == 1     # still serving
    assert server.process.poll() is not None                                 # stopped
