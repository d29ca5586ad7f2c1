"""The promotion gate: pure decisions, then real promotions against a sqlite MLflow registry."""

from __future__ import annotations

import json
import multiprocessing as mp
import time
from dataclasses import replace
from pathlib import Path

import pytest
from mlflow import MlflowClient

from components.config import ConfigError, build
from components.tracking.connection import RegistryUnavailableError, RetryPolicy
from components.registry.promotion import (CHAMPION, FINGERPRINT_TAG, PromoteConfig, champion_to_reevaluate,
                                           current_champion, decide, promote)
from components.registry.serving import free_port

CFG = PromoteConfig(margin=0.02, pass1_tolerance=0.01, floor=0.3, retries=1, retry_wait_s=0.0, validation_set="")
G, P = CFG.gate_metric, CFG.pass1_metric
NAME = "reflective-math"


def m(gate: float | None, pass1: float | None) -> dict:
    return {G: gate, P: pass1, "eval/synthetic/oracle_at_8": 0.99}


# ----------------------------------------------------------------------------- decide (pure)
def test_gate_metric_is_the_evaluation_name():
    assert G == "eval/synthetic/sprm_best_at_8" and P == "eval/synthetic/pass_at_1"
    assert PromoteConfig(effort="high").gate_metric == "eval/synthetic/sprm_best_at_32"


def test_gate_metric_follows_evaluate_efforts():
    from components.evaluation.config import EffortsConfig

    cfg = PromoteConfig().with_efforts(EffortsConfig(low=4, medium=16, high=64))
    assert cfg.gate_metric == "eval/synthetic/sprm_best_at_16"
    assert cfg.scaling_metrics == ("eval/synthetic_val/sprm_best_at_16", "eval/synthetic_val/sprm_best_at_64")
    assert PromoteConfig(method="logprob_best", effort="high").gate_metric == "eval/synthetic/logprob_best_at_32"
    with pytest.raises(ConfigError, match="'efforts' is not set here: it comes from evaluate.efforts"):
        build(PromoteConfig, {"efforts": {"medium": 4}}, "promote")
    with pytest.raises(ConfigError, match="promote.method: 'oracle' is not one of"):
        PromoteConfig(method="oracle")


def test_more_compute_must_not_answer_worse_on_validation():
    cfg = PromoteConfig(margin=0.02, floor=0.3)
    val_m, val_h = cfg.scaling_metrics
    good = {G: 0.7, P: 0.5, val_m: 0.80, val_h: 0.80}            # equal is fine (non-strict)
    assert decide(good, None, cfg).promote
    worse = {**good, val_h: 0.79}
    d = decide(worse, None, cfg)                                  # even the first model is refused
    assert not d.promote and "effort high answers worse than medium on synthetic_val" in d.reason
    assert d.values["validation_high"] == 0.79
    assert not decide(worse, m(0.1, 0.5), cfg).promote            # and against a weak champion
    noise = {**good, val_h: 0.80 - 0.0003}                        # less than one problem in 500: noise
    assert decide(noise, None, cfg).promote
    assert not decide(noise, None, replace(cfg, scaling_tolerance=0.0)).promote
    d = decide({G: 0.7, P: 0.5}, None, cfg)
    assert not d.promote and "challenger has no eval/synthetic_val/sprm_best_at_8" in d.reason


def test_win_promotes():
    d = decide(m(0.70, 0.50), m(0.60, 0.50), CFG)
    assert d.promote and "gain +0.1000" in d.reason
    assert d.values["challenger_gate"] == 0.70 and d.values["champion_gate"] == 0.60


def test_lose_keeps_champion():
    d = decide(m(0.55, 0.50), m(0.60, 0.50), CFG)
    assert not d.promote and "< margin" in d.reason


def test_tie_is_not_enough():
    d = decide(m(0.60, 0.50), m(0.60, 0.50), CFG)
    assert not d.promote and "gain +0.0000 < margin 0.0200" in d.reason


def test_exactly_the_margin_promotes():
    assert decide(m(0.62, 0.50), m(0.60, 0.50), CFG).promote


def test_pass1_drop_beyond_tolerance_blocks_a_better_gate():
    d = decide(m(0.80, 0.45), m(0.60, 0.50), CFG)
    assert not d.promote and "pass@1 fell 0.0500 > tolerance 0.0100" in d.reason
    assert decide(m(0.80, 0.495), m(0.60, 0.50), CFG).promote      # within tolerance


def test_first_model_needs_the_floor():
    assert decide(m(0.31, 0.2), None, CFG).promote
    d = decide(m(0.29, 0.2), None, CFG)
    assert not d.promote and d.reason == f"first model: {G} 0.2900 < floor 0.3000"


def test_missing_or_nan_challenger_metric_is_rejected_with_the_name():
    d = decide({P: 0.5}, m(0.1, 0.1), CFG)
    assert not d.promote and G in d.reason and "trained SPRM head" in d.reason
    assert not decide(m(float("nan"), 0.5), None, CFG).promote


def test_config_refuses_bad_values_naming_the_key():
    with pytest.raises(ConfigError, match="promote.effort"):
        build(PromoteConfig, {"effort": "extreme"}, "promote")
    with pytest.raises(ConfigError, match="unknown key 'margn'"):
        build(PromoteConfig, {"margn": 0.1}, "promote")


# ----------------------------------------------------------------------------- real registry
def _registry(tmp_path: Path, n_versions: int) -> tuple[str, MlflowClient]:
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = MlflowClient(uri)
    client.create_registered_model(NAME)
    for i in range(n_versions):
        client.create_model_version(NAME, source=(tmp_path / f"model-{i}").as_uri())
    return uri, client


def test_first_model_becomes_champion_and_decision_is_recorded(tmp_path, capsys):
    _, client = _registry(tmp_path, 1)
    d = promote(NAME, 1, m(0.5, 0.4), CFG, client, eval_fingerprint="fp1")
    assert d.promote
    mv = client.get_model_version_by_alias(NAME, CHAMPION)
    assert str(mv.version) == "1"
    assert mv.tags["promotion.decision"] == "promote" and "first model" in mv.tags["promotion.reason"]
    assert float(mv.tags[G]) == 0.5 and mv.tags[FINGERPRINT_TAG] == "fp1"
    assert json.loads(mv.tags["promotion.values"])["challenger_gate"] == 0.5
    assert "version 1 PROMOTED" in capsys.readouterr().out


def test_failed_gate_leaves_champion_untouched_and_says_why(tmp_path, capsys):
    _, client = _registry(tmp_path, 2)
    promote(NAME, 1, m(0.6, 0.5), CFG, client, eval_fingerprint="fp")
    d = promote(NAME, 2, m(0.6, 0.5), CFG, client, eval_fingerprint="fp")     # a tie
    assert not d.promote
    assert str(current_champion(client, NAME).version) == "1"
    mv2 = client.get_model_version(NAME, "2")
    assert mv2.tags["promotion.decision"] == "reject" and "< margin" in mv2.tags["promotion.reason"]
    assert "version 2 not promoted" in capsys.readouterr().out


def test_win_moves_the_alias(tmp_path):
    _, client = _registry(tmp_path, 2)
    promote(NAME, 1, m(0.6, 0.5), CFG, client, eval_fingerprint="fp")
    assert promote(NAME, 2, m(0.7, 0.5), CFG, client, eval_fingerprint="fp").promote
    assert str(current_champion(client, NAME).version) == "2"
    assert client.get_model_version(NAME, "1").aliases == []


def test_champion_from_another_eval_config_is_not_compared(tmp_path):
    _, client = _registry(tmp_path, 2)
    promote(NAME, 1, m(0.6, 0.5), CFG, client, eval_fingerprint="old")
    assert champion_to_reevaluate(client, NAME, "new") == "1"
    d = promote(NAME, 2, m(0.9, 0.9), CFG, client, eval_fingerprint="new")
    assert not d.promote and "another eval config" in d.reason
    # measured again under the new config: now comparable
    d = promote(NAME, 2, m(0.9, 0.9), CFG, client, eval_fingerprint="new", champion_metrics={"1": m(0.6, 0.5)})
    assert d.promote and str(current_champion(client, NAME).version) == "2"


def test_promoting_the_champion_again_is_a_no_op(tmp_path):
    _, client = _registry(tmp_path, 1)
    promote(NAME, 1, m(0.6, 0.5), CFG, client)
    d = promote(NAME, 1, m(0.6, 0.5), CFG, client)
    assert not d.promote and "already the champion" in d.reason
    assert client.get_model_version(NAME, "1").tags["promotion.decision"] == "promote"


def _promote_in_process(uri: str, version: int, gate: float, barrier, log_path: str) -> None:
    client = MlflowClient(uri)

    def hold() -> None:                      # record when this process held the lock
        with open(log_path, "a") as fh:
            fh.write(f"{version} enter {time.monotonic()}\n")
        time.sleep(0.3)
        with open(log_path, "a") as fh:
            fh.write(f"{version} exit {time.monotonic()}\n")

    barrier.wait(timeout=60)
    promote(NAME, version, m(gate, 0.5), CFG, client, eval_fingerprint="fp", on_locked=hold, log=lambda _m: None)


def test_two_concurrent_promotions_leave_one_consistent_champion(tmp_path):
    uri, client = _registry(tmp_path, 3)
    promote(NAME, 1, m(0.50, 0.5), CFG, client, eval_fingerprint="fp", log=lambda _m: None)
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(2)
    log_path = tmp_path / "lock.log"
    procs = [ctx.Process(target=_promote_in_process, args=(uri, v, g, barrier, str(log_path)))
             for v, g in ((2, 0.60), (3, 0.70))]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=180)
    assert [p.exitcode for p in procs] == [0, 0]

    events = [line.split() for line in log_path.read_text().splitlines()]
    assert [e[1] for e in events] == ["enter", "exit", "enter", "exit"]      # never overlapping
    assert events[0][0] == events[1][0] and events[2][0] == events[3][0]

    champ = current_champion(client, NAME)
    assert str(champ.version) == "3"                      # the best one, whatever the order
    first = events[0][0]
    v2 = client.get_model_version(NAME, "2").tags
    if first == "2":                                 # 2 beat 1, then 3 beat 2
        assert v2["promotion.decision"] == "promote"
        assert json.loads(client.get_model_version(NAME, "3").tags["promotion.values"])["champion_version"] == "2"
    else:                                            # 3 beat 1, then 2 lost to 3
        assert v2["promotion.decision"] == "reject"
        assert json.loads(v2["promotion.values"])["champion_version"] == "3"


def test_server_down_gives_a_clear_error_after_bounded_retries(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    uri = f"http://127.0.0.1:{free_port()}"
    cfg = PromoteConfig(retries=2, retry_wait_s=0.1, timeout_s=1.0)
    logs: list[str] = []
    with pytest.raises(RegistryUnavailableError, match=r"127\.0\.0\.1.*not reachable after 2 attempt.*start_mlflow"):
        promote(NAME, 1, m(0.5, 0.5), cfg, MlflowClient(uri), log=logs.append)
    assert any("retry 1/1" in line for line in logs)
    assert RetryPolicy(2, 0.1, 1.0) == cfg.retry


def test_a_busy_promotion_lock_is_not_retried_as_an_unreachable_registry(tmp_path):
    from components.tracking.locks import LockTimeoutError, exclusive_lock
    from components.tracking.store import lock_path

    uri, client = _registry(tmp_path, 1)
    cfg = PromoteConfig(floor=0.3, retries=3, retry_wait_s=0.0, lock_timeout_s=0.2)
    logs: list[str] = []
    with exclusive_lock(lock_path(uri, NAME)):             # another promotion holds it (flock is per open file)
        t0 = time.monotonic()
        with pytest.raises(LockTimeoutError, match=r"still held by process .*wait for that promotion"):
            promote(NAME, 1, m(0.5, 0.4), cfg, client, log=logs.append)
    assert not any("not reachable" in line for line in logs), logs
    assert time.monotonic() - t0 < 0.2 * 3                 # one wait, not one per retry
