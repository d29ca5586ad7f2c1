"""The GPU step benchmark runs end to end on CPU with a tiny shape (its 1.5B run needs a GPU)."""

import json

from benchmarks import gpu_step


def test_gpu_step_smoke_run_on_cpu(capsys):
    assert gpu_step.main(["--shape", "tiny", "--device", "cpu", "--precision", "fp32", "--new-tokens", "12",
                          "--prompt-tokens", "8", "--step-every", "4", "--steps", "2"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    steps = [r for r in lines if r["event"] == "step"]
    summary = lines[-1]
    assert [r["warmup"] for r in steps] == [True, False]
    assert summary["event"] == "summary" and summary["timed_steps"] == 1
    assert steps[-1]["completions"] == 32
    assert 0 < steps[-1]["generated_tokens"] <= 32 * 12
    assert summary["tokens_per_s"] > 0 and summary["time_update_s"] > 0
