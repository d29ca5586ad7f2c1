"""The decoder agreement check runs on CPU with a tiny shape; in fp32 the lean forward equals the library's."""

import json

from benchmarks import decoder_agreement


def test_decoder_agreement_smoke_run_on_cpu(capsys):
    assert decoder_agreement.main(["--shape", "tiny", "--device", "cpu", "--dtype", "fp32", "--batch", "4",
                                   "--prompt-tokens", "12", "--new-tokens", "8", "--sample-batch", "8",
                                   "--sample-tokens", "10"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    pairs = {r["pair"]: r for r in lines if r["event"] == "agreement"}
    assert set(pairs) == {"lean_vs_library", "library_vs_fp32", "lean_vs_fp32"}
    assert pairs["library_vs_fp32"]["max_abs_logit_diff"] == 0.0       # fp32 against itself
    assert pairs["lean_vs_library"]["max_abs_logit_diff"] < 1e-4
    assert pairs["lean_vs_library"]["max_abs_hidden_diff"] < 1e-4
    assert pairs["lean_vs_library"]["top1_agreement"] == 1.0
    summary = lines[-1]
    assert summary["event"] == "summary" and summary["rows_identical"] == 1.0
    assert summary["lean_tokens_per_s"] > 0 and summary["library_tokens_per_s"] > 0
