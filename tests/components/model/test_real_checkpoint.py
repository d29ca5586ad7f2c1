"""The reflective model on a real pretrained checkpoint: SmolLM2-135M-Instruct (imported GGUF).

Its tokenizer splits the step marker (`.` + `\\n\\n`), it has no `<think>`, and the import
records a one-shot prompt template: capture, second pass, `solve --json` and a reference-layout
`score_module.pt` must all work on it.
"""

from __future__ import annotations

import json
import math
import shutil

import pytest
import torch

from components.model.candidate import SamplingConfig
from components.model.reflective import ReflectiveModel

PROBLEMS = ["What is 3 + 5?", "What is 7 + 2?"]
pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def smol(smollm2_dir):
    return ReflectiveModel.load(smollm2_dir)


def test_loads_as_transformers_intends(smol):
    assert smol.model.dtype == torch.float32 and smol.model.config.model_type == "llama"
    assert not smol.thinks and smol.step_tokens.texts is not None
    ids = smol.encode_prompt(PROBLEMS[0])
    text = smol.tokenizer.decode(ids)
    assert text.startswith("<|im_start|>system") and "Now you: What is 3 + 5?" in text
    assert text.endswith("<|im_start|>assistant\n")


def test_captured_steps_equal_second_pass(smol):
    torch.manual_seed(0)
    smol.head = type(smol.head)(smol.model.config.hidden_size, "hidden").eval()
    cands = [c for cs in smol.generate(PROBLEMS, 6, SamplingConfig(0.8, max_new_tokens=32), seed=3) for c in cs]
    assert sum(c.n_steps for c in cands) > 0
    second = smol.score_second_pass([PROBLEMS[c.prompt_index] for c in cands], [c.token_ids for c in cands])
    for a, b in zip(cands, second):
        assert a.step_positions == b.step_positions
        for p in a.step_positions:  # the step token holds the marker's "."; the score position precedes it
            assert "." in smol.tokenizer.decode([a.token_ids[p]])
        assert a.step_scores == pytest.approx(b.step_scores, abs=1e-4)


def test_vllm_rollout_candidates_grade_without_a_thinking_span(smol):
    """Rollout candidates rebuilt from engine output (ids + log-probs) keep the model's no-think
    reading, so a box in a SmolLM2 completion earns its reward (it once read as `<think>`-less: 0)."""
    from components.rewards.grading import reward
    from components.training.vllm_rollouts import candidate_from_tokens

    prompt = smol.encode_prompt(PROBLEMS[0])
    ids = smol.tokenizer.encode("3 + 5 = 8.\n\nSo the answer is \\boxed{8}.", add_special_tokens=False)
    cand = candidate_from_tokens(smol, 0, prompt, ids, [-0.5] * len(ids), True)
    assert cand.think is False and cand.n_steps >= 1
    assert reward(cand.text, "8", 0.0, cand.think) == 1.0


def test_solve_json_scores_steps(smollm2_dir, capsys):
    from flows.cli import main

    assert main(["solve", "--model", str(smollm2_dir), "--effort", "8", "--temperature", "0.8", "--seed", "3",
                 "--selector", "sprm_best", "--json", "--show-candidates", PROBLEMS[0]]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n"] == 8 and len(out["candidates"]) == 8
    scored = [c for c in out["candidates"] if c["step_scores"]]
    assert scored, "no candidate had a step"
    for c in scored:
        assert all(0.0 < s < 1.0 for s in c["step_scores"])
        assert c["score"] == pytest.approx(math.exp(sum(map(math.log, c["step_scores"])) / len(c["step_scores"])))
    assert out["score"] == max(c["score"] for c in out["candidates"])


def test_reference_score_module_pt(smollm2_dir, tmp_path):
    """A reference-layout head (`torch.save` of keys 0.weight, 0.bias, 3.weight, 3.bias) scores."""
    d = tmp_path / "with_pt"
    shutil.copytree(smollm2_dir, d)
    h = 576
    g = torch.Generator().manual_seed(0)
    state = {"0.weight": torch.randn(2 * h, h, generator=g) * 0.02, "0.bias": torch.zeros(2 * h),
             "3.weight": torch.randn(1, 2 * h, generator=g) * 0.02, "3.bias": torch.tensor([0.3])}
    torch.save(state, d / "score_module.pt")
    rm = ReflectiveModel.load(d)
    assert rm.head_trained and rm.head.features == "hidden"
    x = torch.randn(3, h, generator=g)
    expected = torch.sigmoid(torch.relu(x @ state["0.weight"].T + state["0.bias"]) @ state["3.weight"].T
                             + state["3.bias"]).squeeze(-1)
    assert torch.allclose(rm.score_steps(x, torch.zeros(3, 2)), expected, atol=1e-5)
    cands = rm.score_second_pass(["What is 1 + 1?"], [rm.tokenizer.encode("1 + 1 = 2.\n\n\\boxed{2}")])
    assert cands[0].n_steps == 1 and 0.0 < cands[0].step_scores[0] < 1.0
    assert cands[0].text.endswith("\\boxed{2}") and cands[0].think is False
