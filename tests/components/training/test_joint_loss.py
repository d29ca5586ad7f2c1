"""The training forward reads exactly the step features that generation captured (docs/method.md section 1)."""

import pytest
import torch

from components.model.candidate import SamplingConfig
from components.model.reflective import ReflectiveModel
from components.rewards.grading import reward
from components.training.grpo import token_logprobs
from components.training.rollouts import build_batch


@pytest.mark.integration   # builds the adder policy (~8 s)
def test_training_forward_matches_captured_features(adder_policy):
    torch.manual_seed(0)
    rm = ReflectiveModel.load(adder_policy)
    texts = ["Compute 1+2.", "Compute 3+4.", "Compute 4+4."]
    cands = [c for g in rm.generate(texts, 3, SamplingConfig(max_new_tokens=24), seed=3) for c in g]
    assert sum(c.n_steps for c in cands) > 0
    rewards = [reward(c.text, "0") for c in cands]
    batch = build_batch([rm.encode_prompt(texts[c.prompt_index]) for c in cands], cands, rewards,
                        rm.tokenizer.pad_token_id)
    with torch.no_grad():
        out = rm.model(input_ids=batch.input_ids, attention_mask=batch.attention_mask,
                       position_ids=batch.position_ids, output_hidden_states=True, use_cache=False)
    P, tc = batch.prompt_width, batch.responses.shape[1]
    # hidden state of layer -2 at the position that produced each kept step token
    hidden = out.hidden_states[-2][batch.step_rows, batch.step_cols]            # [S, h]
    captured = torch.cat([c.step_hidden for c in cands])                          # [S, h]
    assert torch.allclose(hidden, captured, atol=1e-4, rtol=1e-4)
    # response log-probs at temperature 1 equal the sampler's
    lp = token_logprobs(out.logits[:, P - 1:P - 1 + tc].float(), batch.responses)  # [B, Tc]
    for i, c in enumerate(cands):
        assert abs(float(lp[i, :c.n_tokens].mean()) - c.mean_logprob) < 1e-4
    # labels: every step of a trajectory carries its outcome label; masks cover exactly the responses
    assert batch.step_labels.numel() == captured.shape[0]
    assert batch.response_mask.sum().item() == sum(c.n_tokens for c in cands)
