"""`train.rollout.backend: vllm`: refused in one line without vLLM; its data path checked on CPU.

Without a GPU the engine cannot run, so the parts around it are checked with the real tiny
policy: candidates built from sampled ids and temperature-1 log-probs equal the captured path's
(step positions, step log-prob features), and the head scores taken from the update pass's hidden
states equal the scores of hidden states captured while sampling. The end-to-end GPU check is
`benchmarks/gpu_vllm_check.py`.
"""

from __future__ import annotations

import importlib.util
from types import SimpleNamespace

import pytest
import torch

from components.model.candidate import SamplingConfig
from components.inference.vllm_backend import BackendUnavailable
from components.training.config import RolloutConfig, TrainConfig
from components.training.vllm_rollouts import (candidate_from_tokens, engine_kwargs, scores_from_update,
                                               vllm_sampling_params)

HAS_VLLM = importlib.util.find_spec("vllm") is not None


@pytest.mark.skipif(HAS_VLLM, reason="vllm is installed: the missing-backend refusal does not apply")
def test_vllm_backend_is_refused_in_one_line_that_says_how_to_install(random_policy, adder_data, tmp_path):
    from components.training.trainer import run_train

    cfg = TrainConfig(rollout=RolloutConfig(prompts_per_step=2, group_size=2, max_new_tokens=8, backend="vllm"), steps=1)
    with pytest.raises(BackendUnavailable) as err:
        run_train(cfg, random_policy, adder_data, tmp_path / "out", None, resume=False, log=lambda _m: None)
    msg = str(err.value)
    assert "\n" not in msg and "pip install -c constraints-gpu.txt -e '.[gpu]'" in msg
    assert not (tmp_path / "out").exists()                   # refused before anything was written


def test_rollout_backend_is_checked():
    with pytest.raises(ValueError, match="rollout.backend"):
        RolloutConfig(backend="sglang")                       # type: ignore[arg-type]
    with pytest.raises(ValueError, match="vllm_memory_fraction"):
        RolloutConfig(vllm_memory_fraction=1.0)


def test_engine_and_sampling_settings_follow_the_trainer(tmp_path):
    kw = engine_kwargs(tmp_path, 0.3, 1024, 7)
    assert kw["gpu_memory_utilization"] == 0.3 and kw["max_model_len"] == 1024 and kw["dtype"] == "bfloat16"
    assert kw["distributed_executor_backend"] == "external_launcher" and kw["tensor_parallel_size"] == 1
    assert kw["logprobs_mode"] == "raw_logprobs"              # temperature-1 log-probs: the head's features
    fake = SimpleNamespace(SamplingParams=lambda **kw: kw)   # records the arguments vLLM would get
    p = vllm_sampling_params(fake, SamplingConfig(temperature=0.6, top_p=0.95, max_new_tokens=64), 8, 3, [2, 5])
    assert (p["n"], p["temperature"], p["top_p"], p["max_tokens"], p["seed"]) == (8, 0.6, 0.95, 64, 3)
    assert p["stop_token_ids"] == [2, 5] and p["logprobs"] == 0   # the sampled token's raw log-prob


@pytest.mark.parametrize("features", ["hidden+logprob", "pooled+logprob"])
def test_update_pass_gives_the_captured_features_and_scores(adder_policy, features):
    """Candidates from (ids, log-probs) + head scores from the update forward == the captured path,
    for a head on the state before the step token and for one on the step's mean state."""
    from components.model.reflective import ReflectiveModel
    from components.model.sampling import forward_features
    from components.training.joint_loss import PolicyWithHead
    from components.training.rollouts import build_batch

    torch.manual_seed(0)
    rm = ReflectiveModel.load(adder_policy, features=features)
    if rm.head.features != features:                           # the policy's directory holds another head
        from components.model.sprm_head import SPRMHead
        rm.head = SPRMHead(rm.model.config.hidden_size, features).eval()
    problems = ["Compute 1+2.", "Compute 3+4."]
    groups = rm.generate(problems, 3, SamplingConfig(max_new_tokens=24), seed=5)   # captured + scored
    captured = [c for g in groups for c in g]
    assert sum(c.n_steps for c in captured) > 0
    prompts = [rm.encode_prompt(p) for p in problems]
    # What vLLM hands back: the ids and each token's log-prob at temperature 1.
    _, logprobs = forward_features(rm.model, [prompts[c.prompt_index] for c in captured],
                                   [c.token_ids for c in captured], rm.tokenizer.pad_token_id)
    rebuilt = [candidate_from_tokens(rm, c.prompt_index, prompts[c.prompt_index], c.token_ids,
                                     logprobs[i, :c.n_tokens].tolist(), c.finished)
               for i, c in enumerate(captured)]
    for a, b in zip(captured, rebuilt):
        assert (a.text, a.step_positions, a.step_start, a.think) == (b.text, b.step_positions, b.step_start, b.think)
        assert torch.allclose(a.step_logprob, b.step_logprob, atol=1e-4)
        assert b.step_hidden.shape[0] == 0                    # no hidden states from the engine
    batch = build_batch([prompts[c.prompt_index] for c in rebuilt], rebuilt, [1.0] * len(rebuilt),
                        rm.tokenizer.pad_token_id)
    joint = PolicyWithHead(rm.model, rm.head, 1e-4, rm.spec.hidden_layer)
    joint(batch.input_ids, batch.attention_mask, batch.position_ids, batch.step_rows, batch.step_cols,
          batch.step_logprob, batch.responses.shape[1], (batch.span_rows, batch.span_cols, batch.span_steps))
    assert torch.allclose(joint.last_step_hidden, torch.cat([a.step_hidden for a in captured if a.n_steps]),
                          atol=1e-4)
    scores_from_update(rm, joint.last_step_hidden, batch, rebuilt)
    assert rm.head.training is False
    for a, b in zip(captured, rebuilt):
        assert b.step_scores == pytest.approx(a.step_scores, abs=1e-4)
        assert b.score == pytest.approx(a.score, abs=1e-4)
