"""`import-model`: a real pretrained checkpoint (SmolLM2-135M-Instruct GGUF) into a model dir."""

from __future__ import annotations

import json
import shutil

import pytest

from components.model.checkpoint import ModelDirError
from components.model.importing import IMPORT_FILE, ModelImportError, import_model, resolve_source


def test_imported_smollm2_is_a_plain_model_dir(smollm2_dir):
    cfg = json.loads((smollm2_dir / "config.json").read_text())
    assert cfg["architectures"] == ["LlamaForCausalLM"] and "quantization_config" not in cfg
    assert cfg["vocab_size"] == 49152
    gen = json.loads((smollm2_dir / "generation_config.json").read_text())
    assert gen["do_sample"] is True and gen["eos_token_id"] == 2
    rec = json.loads((smollm2_dir / IMPORT_FILE).read_text())
    assert rec["source"] == "smollm2-135m-instruct" and rec["dtype"] == "float32"
    assert rec["parameters"] == 134_515_008
    assert (smollm2_dir / "chat_template.jinja").is_file()


def test_second_import_reuses_the_dir(smollm2_dir):
    before = (smollm2_dir / "model.safetensors").stat().st_mtime_ns
    r = import_model("smollm2-135m-instruct", smollm2_dir)
    assert r.reused and (smollm2_dir / "model.safetensors").stat().st_mtime_ns == before


def test_hf_dir_import_and_reuse(tiny_dir, tmp_path):
    out = tmp_path / "copy"
    r1 = import_model(tiny_dir, out, "bfloat16")
    assert not r1.reused and json.loads((out / "config.json").read_text())["dtype"] == "bfloat16"
    assert import_model(tiny_dir, out, "bfloat16").reused
    assert not import_model(tiny_dir, out, "float32").reused  # another dtype is another import


@pytest.mark.parametrize("bad, match", [
    ("no-such-model", "not a known model name"),
    ("README.md", "not a .gguf file"),
])
def test_bad_sources_are_one_line_errors(bad, match, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "README.md").write_text("x")
    with pytest.raises(ModelImportError, match=match) as exc:
        resolve_source(bad)
    assert "\n" not in str(exc.value)


def test_bad_dtype_and_foreign_out_dir(tiny_dir, tmp_path):
    with pytest.raises(ModelImportError, match="--dtype"):
        import_model(tiny_dir, tmp_path / "x", "int8")
    with pytest.raises(ModelImportError, match="not an imported model"):
        import_model("smollm2-135m-instruct", tiny_dir)


def test_cli_import_model_errors(capsys):
    from flows.cli import main

    assert main(["import-model", "nope", "--out", "/tmp/never"]) == 2
    assert "not a known model name" in capsys.readouterr().err


def test_mismatched_tokenizer_is_refused(tiny_dir, smollm2_dir, tmp_path):
    from components.model.reflective import ReflectiveModel

    mixed = tmp_path / "mixed"
    shutil.copytree(tiny_dir, mixed)
    for f in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        shutil.copy(smollm2_dir / f, mixed / f)
    with pytest.raises(ModelDirError, match=r"49152 tokens but the model \(Qwen2ForCausalLM\) embeds only"):
        ReflectiveModel.load(mixed)
