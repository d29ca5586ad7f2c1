"""Eval sets for decontamination: bundled MIT sets, AIME25 from ../shared, the held-out draw."""

import pytest

from components.data.sources.eval_sets import EvalSetsConfig, load_eval_sets
from components.data.sources.files import SourceError
from components.data.synthetic import TaskConfig, generate, is_heldout


def test_bundled_sets_and_heldout():
    sets, notes = load_eval_sets(["aime24", "math500", "gsm8k", "synthetic-heldout"],
                                 EvalSetsConfig(heldout_n=50), TaskConfig())
    sizes = {s.name: len(s.problems) for s in sets}
    assert sizes == {"aime24": 30, "math500": 500, "gsm8k": 1319, "synthetic-heldout": 50} and notes == []
    held = next(s for s in sets if s.name == "synthetic-heldout")
    assert all(is_heldout(p) for p in held.problems) and held.hash_split
    # The evaluation stage's held-out problems (seed 1) are a prefix of the default draw.
    assert [p.problem for p in generate(20, 1, split="heldout")] == list(held.problems[:20])


def test_missing_default_set_is_a_note_but_explicit_is_an_error(tmp_path):
    cfg = EvalSetsConfig(default=("aime25",), paths={"aime25": str(tmp_path / "aime25.jsonl")})
    sets, notes = load_eval_sets(None, cfg, TaskConfig())
    assert sets == [] and "aime25: eval set file not found" in notes[0]
    with pytest.raises(SourceError, match="aime25: eval set file not found"):
        load_eval_sets(["aime25"], cfg, TaskConfig())
    with pytest.raises(SourceError, match="not a known eval set"):
        load_eval_sets(["aime26"], cfg, TaskConfig())


def test_aime25_from_shared(shared_dir):
    sets, _ = load_eval_sets(["aime25"], EvalSetsConfig(), TaskConfig())
    assert len(sets[0].problems) == 30 and sets[0].origin == "../shared/data/eval/aime25.jsonl"


def test_eval_set_from_a_path(tmp_path):
    path = tmp_path / "mine.jsonl"
    path.write_text('{"question": "Compute 1+1.", "answer": 2}\n{"broken\n')
    (s,), _ = load_eval_sets([str(path)], EvalSetsConfig(), TaskConfig())
    assert s.problems == ("Compute 1+1.",) and s.answers == ("2",)
