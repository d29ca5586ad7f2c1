"""`run_evaluate` on a real tiny model, its config, grading and head scoring."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import mlflow
import pytest
import torch

from components.config import ConfigError, build, load_section
from components.data.eval_sets import EvalSetError
from components.evaluation.config import EffortsConfig, EvaluateConfig
from components.evaluation.runner import grade, head_step_scores, parse_heads, run_evaluate
from components.model.candidate import Candidate, SamplingConfig
from components.tracking.lineage import dir_digest
from components.model.sprm_head import HEAD_FILE, SPRMHead

REPO = Path(__file__).resolve().parents[3]


def cand(text="", n_steps=0, h=4):
    return Candidate(prompt_index=0, text=text, token_ids=[1] * 3, step_positions=list(range(n_steps)),
                     step_hidden=torch.randn(n_steps, h), step_logprob=-torch.rand(n_steps, 2),
                     mean_logprob=-0.5, finished=True)


def test_params_yaml_section_loads():
    cfg = load_section(EvaluateConfig, "evaluate", REPO / "params.yaml")
    assert cfg.max_n == 32 and cfg.ns == [1, 2, 8, 32]
    assert cfg.efforts == EffortsConfig(2, 8, 32)


def test_config_refuses_bad_values():
    with pytest.raises(ConfigError, match="max_n \\(8\\) must be >= every reported effort"):
        build(EvaluateConfig, {"max_n": 8})
    with pytest.raises(ConfigError, match="'median' is not one of"):
        build(EvaluateConfig, {"aggregations": ["median"]})
    with pytest.raises(ConfigError, match="unknown key 'max_N'"):
        build(EvaluateConfig, {"max_N": 8})


def test_with_efforts_samples_only_the_largest_chosen():
    cfg = EvaluateConfig()
    assert cfg.with_efforts(["low", "medium"]).max_n == 8
    assert cfg.with_efforts(["low", "medium"]).ns == [1, 2, 8]
    assert cfg.with_efforts(["high"]).ns == [1, 32]
    with pytest.raises(ConfigError, match="report_efforts: \\['extreme'\\]"):
        cfg.with_efforts(["extreme"])


def test_parse_heads(tmp_path):
    f = tmp_path / "h.safetensors"
    f.write_bytes(b"x")
    assert parse_heads([f"bce={f}"]) == {"bce": f}
    with pytest.raises(ConfigError, match="NAME=PATH"):
        parse_heads(["bce"])
    with pytest.raises(ConfigError, match="is not a file"):
        parse_heads([f"bce={tmp_path / 'missing'}"])


def test_grade_answers_and_correctness():
    texts = ["<think>1+1=2.\n\n</think> \\boxed{2}", "<think>x</think> \\boxed{3}",
             "no think \\boxed{2}", "<think>y</think> \\boxed{02}"]
    answers, correct = grade([cand(t) for t in texts], "2")
    assert answers == ["2", "3", None, "02"]
    assert correct == [True, False, False, True]


def test_head_step_scores_split_per_candidate():
    torch.manual_seed(0)
    head = SPRMHead(4, "hidden+logprob").eval()
    cands = [cand(n_steps=2), cand(n_steps=0), cand(n_steps=3)]
    scores = head_step_scores(head, cands)
    assert [len(s) for s in scores] == [2, 0, 3]
    expected = torch.sigmoid(head(cands[2].step_hidden, cands[2].step_logprob)).tolist()
    assert scores[2] == pytest.approx(expected)
    assert head_step_scores(head, [cand(n_steps=0)]) == [[]]


SMALL = EvaluateConfig(n_problems=6, max_n=4, efforts=EffortsConfig(1, 2, 4),
                       sampling=SamplingConfig(max_new_tokens=48), batch_size=64, subset_draws=20,
                       bootstrap_resamples=100, heatmap_problems=2)


def test_unknown_eval_set_fails_before_loading_the_model(tmp_path):
    with pytest.raises(EvalSetError, match="known sets: synthetic, synthetic_val, aime24, aime25, math500, gsm8k"):
        run_evaluate(tmp_path / "no-model", ["synthetic", "aime23"], SMALL, tmp_path / "out")


@pytest.mark.integration
def test_end_to_end_on_a_tiny_model(sft_tiny_dir, tmp_path):
    from components.model.reflective import ReflectiveModel

    # a model dir with a (fresh, non-trivial) head saved as its trained head, plus an extra head
    torch.manual_seed(0)
    model_dir = tmp_path / "with_head"
    shutil.copytree(sft_tiny_dir, model_dir)
    rm = ReflectiveModel.load(sft_tiny_dir)
    hidden = rm.model.config.hidden_size
    SPRMHead(hidden, rm.spec.sprm_features).save(model_dir / HEAD_FILE)
    SPRMHead(hidden, "hidden").save(tmp_path / "hidden_head.safetensors")
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    previous = mlflow.get_tracking_uri()
    try:
        result = run_evaluate(model_dir, ["synthetic"], SMALL, tmp_path / "out", uri,
                              {"hidden": tmp_path / "hidden_head.safetensors"}, log=lambda *_: None)
    finally:
        mlflow.set_tracking_uri(previous)
    m = result.metrics
    for method in ("majority", "sprm_best", "sprm_vote", "logprob_best", "logprob_vote", "oracle"):
        for n in (1, 2, 4):
            assert 0.0 <= m[f"eval/synthetic/{method}_at_{n}"] <= 1.0
    assert m["eval/synthetic/oracle_at_4"] >= m["eval/synthetic/oracle_at_2"] >= m["eval/synthetic/pass_at_1"]
    assert m["eval/synthetic/sprm_best_at_1"] == pytest.approx(m["eval/synthetic/pass_at_1"])
    assert "eval/synthetic/sprm_auroc" in m
    for name in ("sprm_auroc_within", "logprob_auroc_within"):   # per problem, mixed outcomes only
        assert math.isnan(m[f"eval/synthetic/{name}"]) or 0.0 <= m[f"eval/synthetic/{name}"] <= 1.0
    assert "eval/synthetic/ablation/hidden-geometric/sprm_best_at_4" in m
    assert "eval/synthetic/ablation/default-min/sprm_vote_at_2" in m
    # beam search at each effort's N (1, 2, 4 -> beams 1x1, 1x2, 1x4), with its own tokens
    for n in (1, 2, 4):
        assert 0.0 <= m[f"eval/synthetic/beam_at_{n}"] <= 1.0
        assert m[f"eval/synthetic/beam_tokens_at_{n}"] > 0
    assert m["eval/synthetic/beam_tokens_at_4"] > m["eval/synthetic/beam_tokens_at_1"]
    details = json.loads((tmp_path / "out" / "details.json").read_text())["synthetic"]
    assert details["beam"]["4"]["shape"] == "beam_1x4"
    assert "eval/synthetic/beam_at_4" in details["intervals"]
    on_disk = json.loads((tmp_path / "out" / "metrics.json").read_text())
    assert set(on_disk) == set(m) | {"model_digest"}
    assert on_disk["model_digest"] == dir_digest(model_dir)             # which model the numbers measured
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["details.json", "metrics.json", "plots",
                                                                     "report.md"]   # renamed in as one
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]
    for name in ("scaling", "tokens", "scores", "step_heatmap"):
        assert (tmp_path / "out" / "plots" / f"synthetic_{name}.png").stat().st_size > 1000
    assert "| sprm_best |" in (tmp_path / "out" / "report.md").read_text()
    assert "| beam |" in (tmp_path / "out" / "report.md").read_text()
    run = mlflow.MlflowClient(uri).get_run(result.run_id)
    assert run.data.metrics["eval/synthetic/pass_at_1"] == pytest.approx(m["eval/synthetic/pass_at_1"])
    assert run.data.params["evaluate.max_n"] == "4"

    # the runner's headline scores are the model's own geometric-mean trajectory scores
    loaded = ReflectiveModel.load(model_dir)
    cands = loaded.generate(["Compute 3+4."], 3, SMALL.sampling, seed=0)[0]
    again = head_step_scores(loaded.head, cands)
    assert [c.step_scores for c in cands] == [pytest.approx(s, abs=1e-6) for s in again]


@pytest.mark.integration
def test_model_without_head_skips_sprm_methods(sft_tiny_dir, tmp_path):
    cfg = EvaluateConfig(n_problems=3, max_n=2, efforts=EffortsConfig(1, 2, 2),
                         sampling=SamplingConfig(max_new_tokens=40), subset_draws=10, bootstrap_resamples=50,
                         eval_sets=["synthetic"])
    result = run_evaluate(sft_tiny_dir, [], cfg, tmp_path / "out", None, None, log=lambda *_: None)
    assert result.run_id is None
    assert not any("sprm" in k for k in result.metrics)
    assert {"eval/synthetic/pass_at_1", "eval/synthetic/majority_at_2", "eval/synthetic/logprob_best_at_2",
            "eval/synthetic/oracle_at_2"} <= set(result.metrics)
    report = (tmp_path / "out" / "report.md").read_text()
    assert "Skipped: sprm_best, sprm_vote and sprm_auroc" in report
    assert "Skipped: beam: the model has no trained SPRM head" in report
    assert not any("beam" in k for k in result.metrics)
    assert not (tmp_path / "out" / "plots" / "synthetic_step_heatmap.png").exists()


@pytest.mark.integration
def test_real_set_longer_than_context_counts_as_wrong(tiny_dir, tmp_path):
    cfg = EvaluateConfig(max_real_problems=3, max_n=2, efforts=EffortsConfig(1, 2, 2),
                         sampling=SamplingConfig(max_new_tokens=8), subset_draws=10, bootstrap_resamples=50)
    result = run_evaluate(tiny_dir, ["aime24"], cfg, tmp_path / "out", None, None, log=lambda *_: None)
    assert result.reports[0].n_problems == 3
    assert result.metrics["eval/aime24/oracle_at_2"] == 0.0
    assert "exceed the model's context" in (tmp_path / "out" / "report.md").read_text()
