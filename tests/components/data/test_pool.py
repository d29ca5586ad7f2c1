"""The embedded raw pool: deterministic bytes, every defect kind, file quirks."""

from collections import Counter

from components.data.pool import PoolConfig, build_pool
from components.data.eval_sets import EvalSetsConfig, load_eval_sets
from components.data.sources.files import parse_json_lines
from components.data.synthetic import TaskConfig

SMALL = PoolConfig(base_rows=400, exact_duplicates=30, near_duplicates=40, eval_copies=16, unverifiable=8,
                   malformed=16, empty=10, too_long=2)


def _pool(cfg=SMALL):
    sets, _ = load_eval_sets(list(cfg.copy_from), EvalSetsConfig(heldout_n=50), TaskConfig())
    return build_pool(cfg, TaskConfig(), sets, [{"problem": "Find $1000+2000$.", "answer": "3000"}])


def test_default_size_is_at_least_50k():
    assert PoolConfig().size >= 50_000


def test_deterministic_and_sized():
    a, b = _pool(), _pool()
    assert a == b and len(a) == SMALL.size
    assert a[0].startswith(b"\xef\xbb\xbf") and sum(line.endswith(b"\r\n") for line in a) == SMALL.size // 50


def test_every_defect_kind_is_present():
    records = list(parse_json_lines(_pool()))
    assert sum(err is not None for _, _, err in records) == 4  # truncated and invalid UTF-8 records
    origins = Counter(rec["meta"]["origin"].split(":")[0] + ":" + rec["meta"]["origin"].split(":")[1]
                      if ":" in rec["meta"]["origin"] else rec["meta"]["origin"]
                      for _, rec, err in records if rec and isinstance(rec.get("meta"), dict))
    for kind in ("generator", "exact_copy", "eval_copy:aime24", "eval_copy:math500", "eval_copy:gsm8k",
                 "eval_copy:synthetic-heldout", "defect:proof", "defect:choice_letter", "defect:too_long",
                 "defect:empty_problem", "defect:control_char", "defect:unbalanced_braces", "defect:junk"):
        assert origins[kind] > 0, kind
    assert any(k.startswith("variant:") for k in origins)
    long = [rec for _, rec, _ in records if rec and rec["meta"].get("origin") == "defect:too_long"]
    assert max(len(r["problem"]) for r in long) == 1_000_000
