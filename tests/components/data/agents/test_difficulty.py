"""The difficulty agent with the real model core (a tiny random policy, and pure thresholds)."""

import pytest

from components.data.agents.difficulty import DifficultyAgent, DifficultyConfig
from components.inference.policy import ModelPolicy
from tests.components.data.agents.conftest import make_row

reflective = pytest.importorskip("components.model.reflective",
                                 reason="the model core (components.model.reflective) is not in this checkout")


def test_thresholds():
    agent = DifficultyAgent(policy=None, cfg=DifficultyConfig(k=4))
    assert agent.judge(1.0).reason == "too_easy" and agent.judge(1.0).score == 1.0
    assert agent.judge(0.0).reason == "too_hard" and "solved 0/4" in agent.judge(0.0).message
    assert agent.judge(0.5).status == "pass"
    assert agent.judge(None).status == "skip"


def test_random_tiny_policy_never_solves(tiny_dir):
    cfg = DifficultyConfig(k=2, max_rows=3, max_new_tokens=8, device="cpu")
    rows = [make_row(f"Compute {a}+{a}.", str(2 * a), line=a) for a in range(1, 6)]
    verdicts = DifficultyAgent(ModelPolicy(tiny_dir, cfg), cfg).review(rows)
    measured = [v for v in verdicts if v.score is not None]
    assert len(measured) == 3  # the sample cap
    assert all(v.reason == "too_hard" and v.score == 0.0 for v in measured)  # a random policy boxes nothing
    assert sum("over the sample cap of 3" in v.message for v in verdicts) == 2


@pytest.mark.integration
def test_pass_rates_come_from_graded_policy_samples(sft_tiny_dir):
    """Label one row with what the (weak) SFT policy actually answers: its pass rate must rise."""
    from components.data.synthetic import generate
    from components.model.candidate import SamplingConfig
    from components.model.reflective import ReflectiveModel
    from components.rewards.grading import final_answer, is_correct

    cfg = DifficultyConfig(k=4, max_rows=6, max_new_tokens=48, device="cpu", too_easy_at=0.5)
    problems = [p.problem for p in generate(6, 11)]
    rows = [make_row(p, "-1", line=i + 1) for i, p in enumerate(problems)]  # no policy answers -1
    before = DifficultyAgent(ModelPolicy(sft_tiny_dir, cfg), cfg).review(rows)
    assert all(v.reason == "too_hard" and v.score == 0.0 for v in before)
    # The same call the agent makes (same problems, seed, batch): the same samples on CPU.
    rm = ReflectiveModel.load(sft_tiny_dir, device="cpu")
    cands = rm.generate(problems, cfg.k, SamplingConfig(max_new_tokens=48), cfg.seed, cfg.batch_size)
    i, answer = next((i, final_answer(c.text)) for i, cs in enumerate(cands) for c in cs if final_answer(c.text))
    wins = sum(is_correct(c.text, answer) for c in cands[i])
    rows[i] = make_row(problems[i], answer, line=i + 1)
    after = DifficultyAgent(ModelPolicy(sft_tiny_dir, cfg), cfg).review(rows)
    assert after[i].score == pytest.approx(wins / cfg.k) and after[i].score > 0.0
    assert after[i].reason == ("too_easy" if wins / cfg.k >= 0.5 else "")
    assert [v.score for j, v in enumerate(after) if j != i] == [0.0] * 5


def test_difficulty_votes_in_a_cleaning_run(tiny_dir, tmp_path):
    import pyarrow.parquet as pq

    from components.data.cleaning import CleanConfig, run_clean
    from components.data.validation import GateConfig

    src = tmp_path / "rows.jsonl"
    src.write_text("".join(f'{{"problem": "Compute {a}+1.", "answer": "{a + 1}"}}\n' for a in range(1, 6)))
    cfg = CleanConfig(difficulty=DifficultyConfig(k=2, max_rows=2, max_new_tokens=8, device="cpu"),
                      gate=GateConfig(min_rows=1))
    rep = run_clean([str(src)], tmp_path / "out", ["aime24"], ModelPolicy(tiny_dir, cfg.difficulty), cfg)
    ledger = pq.read_table(tmp_path / "out" / "rejected.parquet").to_pylist()
    assert rep.rows_kept == 3 and [r["reason"] for r in ledger] == ["too_hard", "too_hard"]
    assert all(r["agent"] == "difficulty" for r in ledger)
    assert rep.report["per_agent"]["difficulty"] == {"ran": True, "reviewed": 5, "rejected": 2, "skipped": 3,
                                                     "primary": 2}
