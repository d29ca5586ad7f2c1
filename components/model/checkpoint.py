"""Loading and atomically saving reflective-model directories.

A reflective model directory is a normal Hugging Face causal-LM directory (config.json,
safetensors weights, tokenizer files, generation_config.json) plus:
- `sprm_head.safetensors`: the SPRM head (absent -> a fresh head), or the reference's
  `score_module.pt`;
- `reflective.json`: which features the head reads and how steps are matched, so that a
  directory says how it must be scored (absent -> the paper's defaults: hidden, exact).

Saving writes a sibling temp directory and renames it into place, so a crash or a full disk
never leaves a half-written checkpoint where a good one was.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

from components.model.sprm_head import HEAD_FILE, REFERENCE_HEAD_FILE, Features

SPEC_FILE = "reflective.json"
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json")


class ModelDirError(ValueError):
    """A model directory that is missing, partial or not a causal LM; the message names it."""


@dataclass(frozen=True)
class ReflectiveSpec:
    """How a directory's head reads the backbone (docs/method.md sections 1 and 2)."""

    sprm_features: Features = "hidden"
    step_match: Literal["exact", "contains"] = "exact"
    hidden_layer: int = -2
    # The user turn sent through the chat template; `{problem}` is replaced by the problem text.
    # A checkpoint that needs an instruction (e.g. to write \boxed{}) records it here, so that
    # training, evaluation and serving all prompt it the same way.
    prompt_template: str = "{problem}"

    def __post_init__(self) -> None:
        if "{problem}" not in self.prompt_template:
            raise ModelDirError(f"{SPEC_FILE}: prompt_template must contain {{problem}}, "
                                f"got {self.prompt_template!r}")

    def user_turn(self, problem: str) -> str:
        return self.prompt_template.replace("{problem}", problem)

    @classmethod
    def read(cls, model_dir: Path) -> ReflectiveSpec:
        path = model_dir / SPEC_FILE
        if not path.is_file():
            return cls()
        try:
            return cls(**json.loads(path.read_text(encoding="utf-8")))
        except (json.JSONDecodeError, TypeError) as exc:
            raise ModelDirError(f"{path}: invalid reflective spec ({exc}); delete it to use defaults") from None

    def write(self, model_dir: Path) -> None:
        (model_dir / SPEC_FILE).write_text(json.dumps(asdict(self), indent=2) + "\n", encoding="utf-8")


def check_model_dir(model_dir: Path) -> None:
    """Refuse, with one line naming the problem, a directory that cannot be a causal LM."""
    if not model_dir.exists():
        raise ModelDirError(f"{model_dir}: model directory not found (run `reflect bootstrap` or pass --model)")
    if not model_dir.is_dir():
        raise ModelDirError(f"{model_dir}: is a file, expected a Hugging Face model directory")
    config = model_dir / "config.json"
    if not config.is_file():
        raise ModelDirError(f"{model_dir}: no config.json; not a Hugging Face model directory")
    try:
        cfg = json.loads(config.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ModelDirError(f"{config}: not valid JSON ({exc})") from None
    archs = cfg.get("architectures") or []
    if archs and not any(a.endswith("ForCausalLM") for a in archs):
        raise ModelDirError(f"{model_dir}: architecture {archs} is not a causal LM (need *ForCausalLM)")
    if not any((model_dir / w).is_file() for w in WEIGHT_FILES):
        raise ModelDirError(f"{model_dir}: no safetensors weights (model.safetensors); the directory is partial")
    if not any((model_dir / f).is_file() for f in ("tokenizer.json", "vocab.json", "tokenizer.model")):
        raise ModelDirError(f"{model_dir}: no tokenizer files (tokenizer.json); the directory is partial")


def head_file(model_dir: Path) -> Path | None:
    """The head file in `model_dir`: ours first, then the reference's; None when absent."""
    for name in (HEAD_FILE, REFERENCE_HEAD_FILE):
        if (model_dir / name).is_file():
            return model_dir / name
    return None


