"""The consistency agent: the solution's final answer must equal the answer column."""

from components.data.agents.consistency import ConsistencyAgent, stated_answer
from components.data.synthetic import generate
from tests.components.data.agents.conftest import make_row


def test_real_rows(real_rows):
    verdicts = ConsistencyAgent().review(real_rows)
    counts = {s: sum(v.status == s for v in verdicts) for s in ("pass", "reject", "skip")}
    assert counts["pass"] > 800 and counts["reject"] <= 10, counts
    for r, v in zip(real_rows, verdicts):
        if v.status == "skip":
            assert stated_answer(r.solution or "") is None


def test_real_gsm8k_solutions(shared_dir):
    import json

    lines = (shared_dir / "data" / "eval" / "gsm8k_test.jsonl").read_text().splitlines()[:200]
    rows = [json.loads(x) for x in lines]
    agent = ConsistencyAgent()
    verdicts = [agent.check(make_row(r["problem"], r["answer"], r["solution"])) for r in rows]
    assert all(v.status == "pass" for v in verdicts)  # "#### N" agrees with the answer column


def test_noisy_synthetic_traces_are_caught():
    agent = ConsistencyAgent()
    problems = list(generate(400, 3, noise_rate=0.5))
    for p in problems:
        v = agent.check(make_row(p.problem, p.answer, p.solution))
        assert (v.status == "reject") == p.meta["noisy"], (p, v)


def test_equal_forms_and_skips():
    agent = ConsistencyAgent()
    assert agent.check(make_row(answer="0.5", solution="so \\boxed{\\frac{1}{2}}")).status == "pass"
    assert agent.check(make_row(answer="2,125", solution="#### 2125")).status == "pass"
    v = agent.check(make_row(answer="56", solution="$7\\times 8=\\boxed{54}$."))
    assert v.reason == "inconsistent" and "'54'" in v.message and "'56'" in v.message
    assert agent.check(make_row(solution=None)).status == "skip"
    assert agent.check(make_row(solution="no final answer stated")).status == "skip"
