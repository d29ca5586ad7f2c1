"""The real-head benchmark runs end to end on CPU at a tiny size (the SFT'd tiny policy)."""

import json

from benchmarks import real_head


def test_real_head_smoke_run_on_cpu(sft_tiny_dir, capsys):
    assert real_head.main(["--model", str(sft_tiny_dir), "--kind", "chain", "--max-operand", "20",
                           "--heldout-share", "0.05", "--train-problems", "6", "--test-problems", "4",
                           "--n", "4", "--ns", "2,4", "--max-new-tokens", "48", "--temperature", "1.0",
                           "--warmup-epochs", "2", "--spr-epochs", "2", "--bootstrap", "50",
                           "--draws", "10"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["event"] for r in rows] == ["samples", "head", "head", "reference_pt", "summary"]
    heads = {r["features"]: r for r in rows if r["event"] == "head"}
    assert set(heads) == {"hidden", "hidden+logprob"}
    for r in heads.values():
        for key in ("sprm_best@2", "confidence@2", "majority@4", "oracle@4", "pass@1"):
            value, low, high = r[key]
            assert 0.0 <= low <= value <= high <= 1.0
    assert rows[3]["max_abs_score_diff"] < 1e-6
