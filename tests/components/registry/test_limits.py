"""Serving limits: every request outside them is one 400 line naming the parameter and the limit."""

from __future__ import annotations

import json
import math

import pytest
from mlflow.exceptions import MlflowException

from components.config import ConfigError
from components.registry.limits import RequestRefused, ServingLimits, check_request

LIMITS = ServingLimits().resolved(32)


def test_a_request_inside_the_limits_passes():
    req = check_request(["Compute 1 + 2."] * 3, {"effort": "high", "temperature": 2, "seed": 7,
                                                 "return_candidates": True}, LIMITS)
    assert (req.n, req.temperature, req.seed, req.return_candidates) == (32, 2.0, 7, True)
    assert check_request(["x"], {}, LIMITS).n == 8                     # medium by default
    assert check_request(["x"], {"effort": " 4 "}, LIMITS).effort == 4
    assert check_request(["x"], {}, LIMITS).search == "best_of_n"
    assert check_request(["x"], {"search": " Beam "}, LIMITS).search == "beam"


@pytest.mark.parametrize("problems, params, match", [
    (["x"], {"effort": "1000000"}, r"1000000 candidates; at most 32 per problem"),
    (["x"], {"effort": "33"}, r"at most 32 per problem \(register.serving.max_candidates\)"),
    (["x"], {"effort": "²"}, r"param 'effort'"),
    (["x"], {"effort": "0"}, r"at least 1"),
    (["x"], {"effort": True}, r"param 'effort'"),
    (["x"] * 257, {}, r"257 problems in one request; at most 256"),
    (["x"] * 256, {"effort": "high"}, "8192"),
    (["x" * 4001], {}, r"problem 0: 4001 characters; at most 4000"),
    (["x"], {"temperature": math.nan}, r"param 'temperature': nan is not a finite number in \[0, 2\]"),
    (["x"], {"temperature": math.inf}, r"param 'temperature'"),
    (["x"], {"temperature": -0.1}, r"param 'temperature'"),
    (["x"], {"temperature": 2.5}, r"param 'temperature'"),
    (["x"], {"temperature": "hot"}, r"param 'temperature': expected a number"),
    (["x"], {"seed": 2**64}, r"param 'seed': 18446744073709551616 is outside \[0, 9223372036854775807\]"),
    (["x"], {"seed": -1}, r"param 'seed'"),
    (["x"], {"seed": 1.5}, r"param 'seed'"),
    (["x"], {"return_candidates": "yes"}, r"param 'return_candidates'"),
    (["x"], {"search": "dfs"}, r"param 'search': expected best_of_n or beam, got 'dfs'"),
])
def test_refusals_are_one_line_400s(problems, params, match):
    if problems == ["x"] * 256:                      # 256 x 32 = 8192 is the limit itself: allowed
        assert check_request(problems, params, LIMITS).n == 32
        with pytest.raises(RequestRefused, match="8224 samples; at most 8192"):
            check_request(problems + ["x"], {"effort": "32"}, ServingLimits(max_problems=300).resolved(32))
        return
    with pytest.raises(RequestRefused, match=match) as exc:
        check_request(problems, params, LIMITS)
    err = exc.value
    assert isinstance(err, MlflowException) and err.get_http_status_code() == 400
    assert "\n" not in err.message
    body = json.loads(err.serialize_as_json())
    assert body["error_code"] == "INVALID_PARAMETER_VALUE" and "stack_trace" not in body


def test_the_scoring_server_cannot_prepend_the_request_to_the_line():
    err = RequestRefused("param 'seed': bad")
    err.message = f"Failed to predict data '{'x' * 100}'. \nError: {err.message}"   # what MLflow does
    assert err.message == "param 'seed': bad"


def test_limits_in_params_are_checked():
    assert ServingLimits().max_candidates is None and ServingLimits().resolved(8).max_candidates == 8
    assert ServingLimits(max_candidates=4).resolved(32).max_candidates == 4
    with pytest.raises(ConfigError, match="max_temperature"):
        ServingLimits(max_temperature=math.nan)
    with pytest.raises(ConfigError, match="max_samples"):
        ServingLimits(max_samples=0)
    assert ServingLimits.from_config(None, 16).max_candidates == 16
    with pytest.raises(ConfigError, match="unknown key 'max_n'"):
        ServingLimits.from_config({"max_n": 3})
