"""The reflective model on a real tiny Qwen2: capture == second pass, and bad input."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from components.model.candidate import SamplingConfig
from components.model.checkpoint import ModelDirError
from components.model.reflective import PromptError, ReflectiveModel
from components.model.sprm_head import HEAD_FILE, HeadFileError, SPRMHead

PROBLEMS = ["Compute (3+4)*2.", "Compute 12-5+7.", "Solve for x: 3*x+5=20."]


@pytest.fixture(scope="module")
def rm(sft_tiny_dir):
    torch.manual_seed(0)
    return ReflectiveModel.load(sft_tiny_dir)


def test_generate_shapes_and_scores(rm):
    cands = rm.generate(PROBLEMS, 4, SamplingConfig(max_new_tokens=48), seed=3)
    assert [len(c) for c in cands] == [4, 4, 4]
    flat = [c for cs in cands for c in cs]
    assert sum(c.n_steps for c in flat) > 0, "the SFT'd tiny model should write steps"
    for c in flat:
        assert c.step_hidden.shape == (c.n_steps, rm.model.config.hidden_size)
        assert c.step_logprob.shape == (c.n_steps, 2)
        assert len(c.step_scores) == c.n_steps
        assert (c.score == 0.0) == (c.n_steps == 0)
        assert all(0.0 < s < 1.0 for s in c.step_scores)


def test_generation_is_deterministic_given_seed(rm):
    a = rm.generate(PROBLEMS[:1], 3, SamplingConfig(max_new_tokens=32), seed=7)
    b = rm.generate(PROBLEMS[:1], 3, SamplingConfig(max_new_tokens=32), seed=7)
    assert [c.token_ids for c in a[0]] == [c.token_ids for c in b[0]]
    ids = rm.generate([rm.encode_prompt(PROBLEMS[0])], 3, SamplingConfig(max_new_tokens=32), seed=7)
    assert [c.token_ids for c in ids[0]] == [c.token_ids for c in a[0]]     # pre-encoded prompt: same draw


def test_captured_scores_equal_second_pass(rm):
    """Scores from hidden states captured while sampling == one plain forward pass (fp32)."""
    torch.manual_seed(0)
    rm.head = SPRMHead(rm.model.config.hidden_size, rm.spec.sprm_features).eval()  # non-trivial weights
    cands = rm.generate(PROBLEMS, 4, SamplingConfig(max_new_tokens=48), seed=11)
    flat = [c for cs in cands for c in cs]
    second = rm.score_second_pass([PROBLEMS[c.prompt_index] for c in flat], [c.token_ids for c in flat])
    assert sum(c.n_steps for c in flat) > 0
    for a, b in zip(flat, second):
        assert a.step_positions == b.step_positions
        assert torch.allclose(a.step_hidden, b.step_hidden, atol=1e-4)
        assert torch.allclose(a.step_logprob, b.step_logprob, atol=1e-4)
        assert a.step_scores == pytest.approx(b.step_scores, abs=1e-4)
        assert a.score == pytest.approx(b.score, abs=1e-4)
        assert a.mean_logprob == pytest.approx(b.mean_logprob, abs=1e-4)


def test_save_and_reload_keeps_head(rm, tmp_path):
    rm.save(tmp_path / "m")
    again = ReflectiveModel.load(tmp_path / "m")
    assert again.head_trained and again.spec == rm.spec
    x, lp = torch.randn(2, rm.model.config.hidden_size), torch.randn(2, 2)
    assert torch.allclose(again.score_steps(x, lp), rm.score_steps(x, lp))


def test_missing_dir(tmp_path):
    with pytest.raises(ModelDirError, match="not found"):
        ReflectiveModel.load(tmp_path / "nope")


def test_partial_dir(tiny_dir, tmp_path):
    part = tmp_path / "partial"
    shutil.copytree(tiny_dir, part)
    (part / "model.safetensors").unlink()
    with pytest.raises(ModelDirError, match="partial"):
        ReflectiveModel.load(part)


def test_not_a_causal_lm(tiny_dir, tmp_path):
    other = tmp_path / "enc"
    shutil.copytree(tiny_dir, other)
    cfg = json.loads((other / "config.json").read_text())
    cfg["architectures"] = ["BertModel"]
    (other / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelDirError, match="not a causal LM"):
        ReflectiveModel.load(other)


def test_head_of_another_backbone_is_refused(tiny_dir, tmp_path):
    d = tmp_path / "wrong-head"
    shutil.copytree(tiny_dir, d)
    SPRMHead(999, "hidden+logprob").save(d / HEAD_FILE)
    with pytest.raises(HeadFileError, match="trained for another model"):
        ReflectiveModel.load(d)


def test_empty_and_overlong_prompts(rm):
    with pytest.raises(PromptError, match="empty"):
        rm.generate([" "], 1)
    with pytest.raises(PromptError, match="exceeds the model's context"):
        rm.generate(["Compute " + "1+" * 400 + "1."], 1)


def test_completion_without_steps_scores_zero(rm):
    cand = rm.score_second_pass(["Compute 1+1."], [rm.tokenizer.encode("2", add_special_tokens=False)])[0]
    assert cand.n_steps == 0 and cand.score == 0.0


def test_entropy_features_are_captured_and_equal_second_pass(sft_tiny_dir):
    """A `hidden+logprob+entropy` head: sampling records the token statistics (the same draw as
    without them), and capture equals one plain forward pass."""
    base = ReflectiveModel.load(sft_tiny_dir)
    rm = ReflectiveModel.load(sft_tiny_dir)
    torch.manual_seed(0)
    rm.head = SPRMHead(rm.model.config.hidden_size, "hidden+logprob+entropy").eval()
    assert rm.reads_entropy and not base.reads_entropy
    cfg = SamplingConfig(max_new_tokens=48)
    cands = [c for cs in rm.generate(PROBLEMS, 4, cfg, seed=11) for c in cs]
    plain = [c for cs in base.generate(PROBLEMS, 4, cfg, seed=11) for c in cs]
    assert [c.token_ids for c in cands] == [c.token_ids for c in plain]   # recording draws nothing
    second = rm.score_second_pass([PROBLEMS[c.prompt_index] for c in cands], [c.token_ids for c in cands])
    assert sum(c.n_steps for c in cands) > 0
    for a, b, p in zip(cands, second, plain):
        assert a.step_logprob.shape == (a.n_steps, 5)
        assert torch.equal(a.step_logprob[:, :2], p.step_logprob)          # the first two columns unchanged
        assert torch.allclose(a.step_logprob, b.step_logprob, atol=1e-4)
        assert a.step_scores == pytest.approx(b.step_scores, abs=1e-4)
        if a.n_steps:
            ent_mean, ent_max, off_top = a.step_logprob[:, 2], a.step_logprob[:, 3], a.step_logprob[:, 4]
            assert bool((ent_mean > 0).all()) and bool((ent_max >= ent_mean - 1e-6).all())
            assert bool(((off_top >= 0) & (off_top <= 1)).all())


def test_entropy_head_refuses_candidates_without_entropy(sft_tiny_dir):
    rm = ReflectiveModel.load(sft_tiny_dir)
    head = SPRMHead(rm.model.config.hidden_size, "hidden+logprob+entropy")
    with pytest.raises(ValueError, match="vLLM backend"):
        head(torch.zeros(3, rm.model.config.hidden_size), torch.zeros(3, 2))


def test_pooled_head_reads_the_steps_mean_state_and_equals_second_pass(sft_tiny_dir):
    rm = ReflectiveModel.load(sft_tiny_dir)
    torch.manual_seed(0)
    rm.head = SPRMHead(rm.model.config.hidden_size, "pooled+logprob").eval()
    cands = [c for cs in rm.generate(PROBLEMS, 4, SamplingConfig(max_new_tokens=48), seed=11) for c in cs]
    second = rm.score_second_pass([PROBLEMS[c.prompt_index] for c in cands], [c.token_ids for c in cands])
    last_only = ReflectiveModel.load(sft_tiny_dir).score_second_pass([PROBLEMS[c.prompt_index] for c in cands],
                                                                      [c.token_ids for c in cands])
    assert sum(c.n_steps for c in cands) > 0
    for a, b, c in zip(cands, second, last_only):
        assert torch.allclose(a.step_hidden, b.step_hidden, atol=1e-4)
        assert a.step_scores == pytest.approx(b.step_scores, abs=1e-4)
        if a.n_steps and len(a.token_ids) > a.n_steps:
            assert not torch.allclose(a.step_hidden, c.step_hidden)   # a mean, not the state before the step token
