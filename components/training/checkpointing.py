"""Training checkpoints: the model, its head and everything needed to resume exactly.

Layout of `<out>/checkpoints/step-000025/`:
- `model/`: an HF directory + `sprm_head.safetensors` + `reflective.json` (via `ReflectiveModel.save`),
  loadable on its own by `ReflectiveModel.load`;
- `optimizer.pt`: the AdamW state dict (tensors, numbers and tuples only: `weights_only=True` loads it);
- `rng.pt`: torch CPU (and CUDA) RNG states (tensors only);
- `trainer_state.json`: step, per-step metric history, scheduler state, MLflow run id, the config,
  the model's architecture signature (to refuse resuming onto another model) and the digests of the
  training data and the base model (to refuse resuming another run: `check_same_inputs`).

A `checkpoints/` directory belongs to one run: a fresh run refuses one that is not empty
(`check_fresh_start`), so an older run's checkpoints are never pruned into, or resumed by, a new one.
Each checkpoint is written to a temporary sibling, fsynced and renamed into place
(`components.atomic.save_dir`), so a crash or a full disk leaves the previous one usable.
"""

from __future__ import annotations

import json
import math
import re
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from components.atomic import save_dir
from components.tracking.lineage import dir_digest, file_digest

STATE_FILE = "trainer_state.json"
OPTIM_FILE = "optimizer.pt"
RNG_FILE = "rng.pt"
MODEL_SUBDIR = "model"
_STEP_DIR = re.compile(r"^step-(\d{6,})$")
# Keys of config.json that must match for a checkpoint to fit the model being trained.
ARCH_KEYS = ("architectures", "model_type", "hidden_size", "intermediate_size", "num_hidden_layers",
             "num_attention_heads", "num_key_value_heads", "vocab_size")


class CheckpointError(ValueError):
    """A checkpoint that is corrupt, partial or from another model/config; the message names it."""


@dataclass
class TrainerState:
    """What `trainer_state.json` holds (JSON-serialisable; NaN allowed in metrics)."""

    step: int                                   # optimisation steps completed
    history: list[dict[str, float]] = field(default_factory=list)
    scheduler: dict[str, Any] = field(default_factory=dict)
    mlflow_run_id: str | None = None
    config: dict[str, Any] = field(default_factory=dict)
    architecture: dict[str, Any] = field(default_factory=dict)
    data_digest: str | None = None              # md5 of the training set file
    base_model_digest: str | None = None        # md5 over the initial policy directory's files


def architecture_of(model_dir: Path) -> dict[str, Any]:
    """The architecture signature (ARCH_KEYS of config.json) of an HF model directory."""
    cfg = json.loads((Path(model_dir) / "config.json").read_text(encoding="utf-8"))
    text = cfg.get("text_config") or {}
    return {k: cfg.get(k, text.get(k)) for k in ARCH_KEYS}


def run_identity(model_dir: Path, data_path: Path) -> dict[str, str]:
    """The inputs a checkpoint belongs to: `data_digest` and `base_model_digest` (TrainerState fields)."""
    return {"data_digest": file_digest(data_path), "base_model_digest": dir_digest(model_dir)}


def check_fresh_start(root: Path, resume: bool) -> None:
    """Refuse a run without `resume` whose checkpoint directory already holds something.

    Pruning keeps the highest step numbers, so an older run's checkpoints would outlive the new run's.
    """
    root = Path(root)
    if resume or not root.is_dir():
        return
    entries = sorted(p.name for p in root.iterdir())
    if entries:
        shown = ", ".join(entries[:3]) + (", ..." if len(entries) > 3 else "")
        raise CheckpointError(f"{root}: holds checkpoints of an earlier run ({shown}); pass --resume to continue "
                              f"that run, or use another --out (or delete {root}) to start a new one")


def check_same_inputs(loaded: LoadedCheckpoint, identity: dict[str, str]) -> None:
    """Refuse resuming a checkpoint trained on other data or from another base model."""
    labels = {"data_digest": "training data (--data)", "base_model_digest": "base model (--model)"}
    for key, want in identity.items():
        have = getattr(loaded.state, key)
        if have != want:
            raise CheckpointError(
                f"{loaded.path}: checkpoint belongs to a run on other {labels[key]} ({key} {have or 'not recorded'}, "
                f"this run's is {want}); use another --out for a new run, or the run's own inputs to resume it")


def save_checkpoint(root: Path, rm, optimizer: torch.optim.Optimizer, state: TrainerState,
                    keep_last: int = 2) -> Path:
    """Write `root/step-<state.step>` atomically; keep only the newest `keep_last` checkpoints."""
    target = Path(root) / f"step-{state.step:06d}"

    def write(tmp: Path) -> None:
        rm.save(tmp / MODEL_SUBDIR)
        torch.save(optimizer.state_dict(), tmp / OPTIM_FILE)
        rng = {"torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state_all()
        torch.save(rng, tmp / RNG_FILE)
        (tmp / STATE_FILE).write_text(json.dumps(asdict(state), indent=1) + "\n", encoding="utf-8")

    save_dir(target, write)
    if keep_last > 0:
        for old in list_checkpoints(root)[:-keep_last]:
            shutil.rmtree(old, ignore_errors=True)
    return target


def list_checkpoints(root: Path) -> list[Path]:
    """Complete checkpoints under `root`, oldest first (temporary/partial directories are ignored)."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir()
             if p.is_dir() and (m := _STEP_DIR.match(p.name)) and (p / STATE_FILE).is_file()]
    return [p for _, p in sorted(found)]


def latest_checkpoint(root: Path) -> Path | None:
    """The newest complete checkpoint under `root`, or None."""
    found = list_checkpoints(root)
    return found[-1] if found else None


@dataclass
class LoadedCheckpoint:
    path: Path
    state: TrainerState
    optimizer: dict[str, Any]
    rng: dict[str, Any]

    @property
    def model_dir(self) -> Path:
        return self.path / MODEL_SUBDIR


def load_checkpoint(path: Path, expected_architecture: dict[str, Any] | None = None,
                    expected_config: dict[str, Any] | None = None,
                    free_keys: tuple[str, ...] = ("steps", "checkpoint.", "tracking.")) -> LoadedCheckpoint:
    """Read and validate a checkpoint; refuse a corrupt one or one from another model/config.

    `expected_config` is the flat config of the run that resumes; keys starting with one of
    `free_keys` may differ (e.g. more `steps`), any other difference is refused.
    """
    path = Path(path)
    for name in (STATE_FILE, OPTIM_FILE, RNG_FILE, f"{MODEL_SUBDIR}/config.json"):
        if not (path / name).is_file():
            raise CheckpointError(f"{path}: incomplete checkpoint (no {name}); delete it to resume from an earlier one")
    try:
        raw = json.loads((path / STATE_FILE).read_text(encoding="utf-8"))
        state = TrainerState(**raw)
    except (json.JSONDecodeError, TypeError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{path / STATE_FILE}: corrupt trainer state ({exc.__class__.__name__}); "
                              "delete this checkpoint to resume from an earlier one") from None
    try:
        optim = torch.load(path / OPTIM_FILE, map_location="cpu", weights_only=True)
        rng = torch.load(path / RNG_FILE, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many kinds for a damaged file; one message for all
        raise CheckpointError(f"{path}: corrupt optimizer/RNG state ({exc.__class__.__name__}); "
                              "delete this checkpoint to resume from an earlier one") from None
    if expected_architecture is not None:
        found = architecture_of(path / MODEL_SUBDIR)
        for key, want in expected_architecture.items():
            if found.get(key) != want:
                raise CheckpointError(f"{path}: checkpoint is for another model ({key} = {found.get(key)!r}, "
                                      f"this run's model has {want!r}); use another --out or the matching --model")
    if expected_config is not None:
        for key, want in expected_config.items():
            if key.startswith(free_keys):
                continue
            have = state.config.get(key)
            if not _same(have, want):
                raise CheckpointError(f"{path}: checkpoint was trained with {key} = {have!r}, this run has "
                                      f"{want!r}; resume with the same train config or use another --out")
    return LoadedCheckpoint(path, state, optim, rng)


def restore_rng(rng: dict[str, Any]) -> None:
    torch.set_rng_state(rng["torch"])
    if "cuda" in rng and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(rng["cuda"])


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return list(a) == list(b)
    return a == b
