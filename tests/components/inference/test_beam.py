"""SPRM-guided step-level beam search on a real tiny policy (short SFT): it keeps `width` prefixes,
counts every sampled token, is reproducible, and prefixes it keeps carry the head's scores."""

from __future__ import annotations

import pytest
import torch

from components.inference.beam import BeamConfig, beam_search
from components.model.candidate import SamplingConfig
from components.model.reflective import ReflectiveModel

PROBLEMS = ["Compute (3+4)*2.", "Compute 7*8-5."]


@pytest.fixture(scope="module")
def rm(sft_tiny_dir):
    return ReflectiveModel.load(sft_tiny_dir)


def test_beam_keeps_width_prefixes_scored_and_counts_every_token(rm):
    sampling = SamplingConfig(max_new_tokens=48)
    cfg = BeamConfig(width=2, expand=3, max_step_tokens=16)
    results = beam_search(rm, PROBLEMS, cfg, sampling, seed=3)
    assert len(results) == len(PROBLEMS)
    for r in results:
        assert 1 <= len(r.kept) <= cfg.width
        assert r.best in r.kept
        assert r.kept == sorted(r.kept, key=lambda c: -c.score)
        # every kept prefix was generated; the search spent at least its longest kept prefix
        assert r.tokens >= max(c.n_tokens for c in r.kept) and all(c.n_tokens <= 48 for c in r.kept)
        assert all(len(c.step_scores) == c.n_steps for c in r.kept)
    again = beam_search(rm, PROBLEMS, cfg, sampling, seed=3)
    assert [r.best.token_ids for r in again] == [r.best.token_ids for r in results]


def test_captured_step_scores_equal_a_second_pass(rm):
    """The states carried across rounds give the same step features as scoring the final text once."""
    r = beam_search(rm, PROBLEMS[:1], BeamConfig(width=1, expand=2, max_step_tokens=8),
                    SamplingConfig(max_new_tokens=40), seed=1)[0]
    second = rm.score_second_pass(PROBLEMS[:1], [r.best.token_ids])[0]
    rm.score_candidates([second])
    assert second.step_positions == r.best.step_positions
    assert torch.allclose(torch.tensor(second.step_scores), torch.tensor(r.best.step_scores), atol=1e-4)


def test_bad_settings_and_multi_token_markers_are_refused(rm, monkeypatch):
    with pytest.raises(ValueError, match="beam.width must be >= 1"):
        BeamConfig(width=0)
    from dataclasses import replace

    monkeypatch.setattr(rm, "step_tokens", replace(rm.step_tokens, texts=(".", "\n")))
    with pytest.raises(ValueError, match="one-token step marker"):
        beam_search(rm, PROBLEMS, BeamConfig(), SamplingConfig())


def test_an_effort_buys_a_beam_of_about_its_cost():
    from components.inference.beam import beam_for

    assert [(b.width, b.expand) for b in map(beam_for, (2, 8, 32))] == [(1, 2), (2, 4), (4, 8)]
    assert all(n // 2 <= beam_for(n).width * beam_for(n).expand <= n for n in range(1, 65))
    with pytest.raises(ValueError, match="at least 1"):
        beam_for(0)


def test_solve_with_beam_search_needs_a_trained_head_and_answers_from_the_best_prefix(sft_tiny_dir, tmp_path):
    import shutil

    from components.inference.beam import SearchUnavailable
    from components.inference.solve import solve
    from components.model.sprm_head import HEAD_FILE, SPRMHead

    untrained = ReflectiveModel.load(sft_tiny_dir)
    with pytest.raises(SearchUnavailable, match="needs a trained SPRM head"):
        solve(untrained, PROBLEMS[:1], "low", search="beam")
    with pytest.raises(ValueError, match="unknown search 'dfs'"):
        solve(untrained, PROBLEMS[:1], "low", search="dfs")
    model_dir = tmp_path / "with_head"
    shutil.copytree(sft_tiny_dir, model_dir)
    torch.manual_seed(0)
    SPRMHead(untrained.model.config.hidden_size, untrained.spec.sprm_features).save(model_dir / HEAD_FILE)
    rm = ReflectiveModel.load(model_dir)
    sampling = SamplingConfig(max_new_tokens=48)
    sols = solve(rm, PROBLEMS, "8", sampling, seed=2, search="beam")
    direct = beam_search(rm, PROBLEMS, BeamConfig(width=2, expand=4), sampling, seed=2)
    for sol, r in zip(sols, direct):
        d = sol.as_dict(with_candidates=True)
        assert d["n"] == 8 and len(d["candidates"]) == len(r.kept) <= 2    # the effort, the kept prefixes
        assert sol.candidates[sol.chosen].token_ids == r.best.token_ids and sol.score == r.best.score
        assert sol.tokens == r.tokens
