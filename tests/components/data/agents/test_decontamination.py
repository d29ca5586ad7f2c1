"""The decontamination agent against the real eval sets and the synthetic held-out split."""

import pytest

from components.data.agents.decontamination import DecontaminationAgent
from components.data.pool import spaced
from components.data.eval_sets import EvalSetsConfig, load_eval_sets
from components.data.synthetic import TaskConfig, generate
from tests.components.data.agents.conftest import make_row


@pytest.fixture(scope="module")
def agent():
    sets, _ = load_eval_sets(["aime24", "math500", "gsm8k", "synthetic-heldout"],
                             EvalSetsConfig(heldout_n=200), TaskConfig())
    return DecontaminationAgent(sets), {s.name: s for s in sets}


def test_exact_and_reformatted_eval_copies(agent):
    ag, sets = agent
    for name in ("aime24", "math500", "gsm8k", "synthetic-heldout"):
        problem = sets[name].texts[7]
        for text in (problem, spaced(problem), "  " + problem.replace("$", "") + " "):
            v = ag.check(make_row(text))
            assert v.reason == "contaminated", (name, text[:60])


def test_reworded_copy_caught_by_ngram_overlap(agent):
    ag, sets = agent
    aime = sets["aime24"].texts[0]
    edited = aime.replace("Every morning", "Each day", 1).replace("Find the number", "Determine the number")
    v = ag.check(make_row(edited))
    assert v.reason == "contaminated" and "13-grams occur in eval set aime24" in v.message


def test_any_heldout_problem_even_outside_the_drawn_sample(agent):
    ag, sets = agent
    far = list(generate(300, 99, split="heldout"))[-1].problem
    assert far not in sets["synthetic-heldout"].texts
    assert ag.check(make_row(far)).message == "synthetic problem from the held-out split"


def test_training_rows_pass(agent, real_rows):
    ag, _ = agent
    train = [make_row(p.problem, p.answer) for p in generate(2000, 0)]
    assert all(ag.check(r).status == "pass" for r in train)
    flagged = [r for r in real_rows if ag.check(r).status == "reject"]
    assert len(flagged) <= 15  # AIME 1983-2023 rows: MATH test reuses a few AIME problems


def test_no_problem_is_skipped(agent):
    ag, _ = agent
    assert ag.check(make_row(problem="")).status == "skip"
    assert ag.check(make_row(problem="x " * 60_000)).status == "skip"
