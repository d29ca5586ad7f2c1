"""The three-engine GPU benchmark: its lean engine runs on CPU with a tiny shape (vLLM and TRL need a GPU)."""

import json

from benchmarks import gpu_engines


def test_side_by_side_runs_the_lean_engine_on_cpu(capsys, tmp_path):
    assert gpu_engines.main(["--engines", "lean", "--shape", "tiny", "--device", "cpu", "--precision", "fp32",
                             "--new-tokens", "8", "--prompt-tokens", "8", "--step-every", "4", "--steps", "2"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines[0]["event"] == "summary" and lines[0]["engine"] == "lean"
    side = lines[-1]
    assert side["event"] == "side_by_side" and list(side["engines"]) == ["lean"]
    assert side["engines"]["lean"]["tokens_per_s"] > 0


def test_word_level_tokenizer_decodes_every_id(tmp_path):
    from transformers import PreTrainedTokenizerFast

    args = gpu_engines._args(["--shape", "tiny"])
    gpu_engines.write_model(args, tmp_path / "m")
    tok = PreTrainedTokenizerFast.from_pretrained(str(tmp_path / "m"))
    assert len(tok) == 512 and "t511" in tok.decode([3, 511])
    assert tok("t7 t9", add_special_tokens=False)["input_ids"] == [7, 9]


def test_vllm_check_without_a_gpu_says_why_in_one_line(capsys):
    import importlib.util

    import pytest

    from benchmarks import gpu_vllm_check

    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vllm is installed: the missing-backend exit does not apply")
    assert gpu_vllm_check.main([]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "constraints-gpu.txt" in err
