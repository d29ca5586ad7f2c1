"""The beam-vs-best-of-N benchmark runs end to end on a tiny policy: a point per method and size,
tokens that grow with N and with the beam, and a plot."""

import json

from benchmarks import beam_vs_best_of_n


def test_beam_benchmark_smoke(sft_tiny_dir, tmp_path, capsys):
    params = tmp_path / "params.yaml"
    params.write_text("evaluate:\n  sampling: {max_new_tokens: 32}\n")
    plot = tmp_path / "tokens.png"
    assert beam_vs_best_of_n.main(["--model", str(sft_tiny_dir), "--params", str(params), "--n-problems", "4",
                                   "--ns", "1,2", "--beams", "1x1,1x2", "--max-step-tokens", "8",
                                   "--plot", str(plot)]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    points = [r for r in lines if r["event"] == "point"]
    assert {(r["method"], r.get("n"), r.get("beam")) for r in points} == {
        *((m, n, None) for m in beam_vs_best_of_n.SELECTORS for n in (1, 2)),
        ("beam", None, "beam_1x1"), ("beam", None, "beam_1x2")}
    best = {r["n"]: r["tokens"] for r in points if r["method"] == "majority"}
    beams = {r["beam"]: r["tokens"] for r in points if r["method"] == "beam"}
    assert best[2] >= best[1] > 0 and beams["beam_1x2"] > 0
    assert all(0.0 <= r["accuracy"] <= 1.0 for r in points)
    assert lines[-1]["event"] == "summary" and plot.is_file()
