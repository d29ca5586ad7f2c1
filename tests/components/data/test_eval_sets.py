"""Eval sets: loaders on the real files, the synthetic held-out and validation sets, bad input,
and the cleaning stage's decontamination view (bundled MIT sets, AIME25 from ../shared)."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from components.data.eval_sets import (BUNDLED_DIR, KNOWN_SETS, PROMPT_SUFFIX, SHARED_DIR, EvalSetError, EvalSetsConfig,
                                       load_eval_set, load_eval_sets)
from components.data.sources.files import SourceError
from components.data.synthetic import TaskConfig, generate, is_heldout


@pytest.mark.parametrize("name,count", [("aime24", 30), ("math500", 500), ("gsm8k", 1319)])
def test_bundled_sets_load_in_full(name, count):
    s = load_eval_set(name)
    assert len(s) + len(s.excluded) == count
    assert len(s.excluded) == 0
    assert all(p.prompt.endswith(PROMPT_SUFFIX) for p in s.problems)
    assert len({p.id for p in s.problems}) == len(s)


def test_aime25_from_shared_copy_or_clear_message(tmp_path):
    if (SHARED_DIR / "aime25.jsonl").is_file():
        s = load_eval_set("aime25")
        assert len(s) == 30
        assert s.problems[0].answer == "70"
        assert {p.bucket for p in s.problems} == {"p01-05", "p06-10", "p11-15"}
    with pytest.raises(EvalSetError, match="aime25: .* is missing .*no licence"):
        load_eval_set("aime25", shared_dir=tmp_path)


def test_real_set_fields_and_buckets():
    aime = load_eval_set("aime24")
    first = aime.problems[0]
    assert first.id == "aime24-60" and first.answer == "204"
    assert first.prompt.startswith("Every morning Aya")
    assert {p.bucket for p in aime.problems} == {"p01-05", "p06-10", "p11-15"}
    math500 = load_eval_set("math500", n_problems=50)
    assert len(math500) == 50
    assert {p.bucket for p in load_eval_set("math500").problems} == {f"level-{i}" for i in range(1, 6)}
    assert {p.bucket for p in load_eval_set("gsm8k").problems} == {"steps-2", "steps-3-4", "steps-5+"}


def test_unknown_name_lists_known_sets():
    with pytest.raises(EvalSetError, match="unknown eval set 'aime23'; known sets: synthetic, synthetic_val, aime24"):
        load_eval_set("aime23")
    assert KNOWN_SETS == ("synthetic", "synthetic_val", "aime24", "aime25", "math500", "gsm8k")


def test_unparsable_reference_answers_are_excluded_and_counted(tmp_path):
    rows = [{"id": "a", "problem": "1+1?", "answer": "2"},
            {"id": "b", "problem": "?", "answer": ""},
            {"id": "c", "problem": "3+3?", "answer": "6"}]
    (tmp_path / "gsm8k_test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    s = load_eval_set("gsm8k", bundled_dir=tmp_path)
    assert [p.id for p in s.problems] == ["gsm8k-a", "gsm8k-c"]
    assert [(p.id, p.answer) for p in s.excluded] == [("gsm8k-b", "")]


def test_malformed_rows_name_the_line(tmp_path):
    (tmp_path / "math500.jsonl").write_text('{"problem": "x", "answer": "1"}\n{"problem": "y"}\n')
    with pytest.raises(EvalSetError, match=r"math500.jsonl:2: missing field 'answer'"):
        load_eval_set("math500", bundled_dir=tmp_path)
    (tmp_path / "math500.jsonl").write_text("{not json\n")
    with pytest.raises(EvalSetError, match=r"math500.jsonl:1: not valid JSON"):
        load_eval_set("math500", bundled_dir=tmp_path)


def test_synthetic_heldout_set_is_bare_and_deterministic():
    a = load_eval_set("synthetic", n_problems=40, seed=3)
    b = load_eval_set("synthetic", n_problems=40, seed=3)
    assert a == b and len(a) == 40
    assert not any(PROMPT_SUFFIX in p.prompt for p in a.problems)
    assert all(p.bucket == "linear" or p.bucket.startswith("arith-") for p in a.problems)
    with pytest.raises(EvalSetError, match="n_problems is required"):
        load_eval_set("synthetic")


def test_synthetic_overlap_with_training_parquet_is_an_error(tmp_path):
    held = load_eval_set("synthetic", n_problems=10, seed=0)
    clean = tmp_path / "clean.parquet"
    pq.write_table(pa.table({"problem": ["Compute 1+1.", "Compute 2+2."]}), clean)
    assert len(load_eval_set("synthetic", n_problems=10, seed=0, train_parquet=clean)) == 10
    leaky = tmp_path / "leaky.parquet"
    pq.write_table(pa.table({"problem": ["Compute 1+1.", held.problems[3].prompt]}), leaky)
    with pytest.raises(EvalSetError, match="1 held-out problems also appear in"):
        load_eval_set("synthetic", n_problems=10, seed=0, train_parquet=leaky)
    bad = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"question": ["x"]}), bad)
    with pytest.raises(EvalSetError, match="no 'problem' column"):
        load_eval_set("synthetic", n_problems=10, seed=0, train_parquet=bad)


def test_bundled_dir_holds_only_licensed_files():
    names = sorted(p.name for p in BUNDLED_DIR.iterdir())
    assert "aime25.jsonl" not in names
    assert "PROVENANCE.md" in names


def test_validation_split_is_disjoint_from_training_and_the_heldout_set():
    from components.data.synthetic import is_heldout
    from components.data.eval_sets import VAL_EXCLUDE

    val = load_eval_set("synthetic_val", n_problems=300, seed=0)
    assert len(val) == 300 and val.name == "synthetic_val"
    assert val == load_eval_set("synthetic_val", n_problems=300, seed=0)                 # deterministic
    texts = [p.prompt for p in val.problems]
    assert len(set(texts)) == 300 and all(is_heldout(t) for t in texts)                # never a training problem
    held = {p.prompt for p in load_eval_set("synthetic", n_problems=VAL_EXCLUDE, seed=0).problems}
    assert not held & set(texts)                                                        # never a test problem
    assert {p.bucket for p in val.problems} <= {"linear", "arith-2ops", "arith-3ops", "arith-4ops", "arith-5ops"}
    with pytest.raises(EvalSetError, match="synthetic_val: n_problems"):
        load_eval_set("synthetic_val")


def test_bundled_sets_and_heldout():
    sets, notes = load_eval_sets(["aime24", "math500", "gsm8k", "synthetic-heldout"],
                                 EvalSetsConfig(heldout_n=50), TaskConfig())
    sizes = {s.name: len(s.problems) for s in sets}
    assert sizes == {"aime24": 30, "math500": 500, "gsm8k": 1319, "synthetic-heldout": 50} and notes == []
    held = next(s for s in sets if s.name == "synthetic-heldout")
    assert all(is_heldout(p) for p in held.texts) and held.hash_split
    # The evaluation stage's held-out problems (seed 1) are a prefix of the default draw.
    assert [p.problem for p in generate(20, 1, split="heldout")] == list(held.texts[:20])


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
    assert len(sets[0].problems) == 30 and sets[0].source == "../shared/data/eval/aime25.jsonl"


def test_eval_set_from_a_path(tmp_path):
    path = tmp_path / "mine.jsonl"
    path.write_text('{"question": "Compute 1+1.", "answer": 2}\n{"broken\n')
    (s,), _ = load_eval_sets([str(path)], EvalSetsConfig(), TaskConfig())
    assert s.texts == ("Compute 1+1.",) and s.answers == ("2",)
