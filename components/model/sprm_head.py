"""The SPRM head (paper section 4.1, docs/method.md section 1).

`Sequential(Linear(d, 2h), ReLU, Dropout(0.5), Linear(2h, 1))` on the second-to-last layer's
hidden state just before each step token; output is a logit, the step score is its sigmoid.
With `features="hidden"`, d = h and the head has 2h^2 + 4h + 1 parameters with the reference's
key names (`0.weight, 0.bias, 3.weight, 3.bias`), so reference heads load unchanged.
`features="hidden+logprob"` (an improvement, see docs/method.md section 8) RMS-normalises the hidden
state and appends the step's min and mean token log-prob, d = h + 2. `hidden+logprob+entropy` (a
step-feature trial, docs/method.md section 8) appends three more: the step's mean and max token
entropy and the share of its tokens that were not the policy's most likely one, d = h + 5.
`pooled+logprob` (another trial) reads the hidden+logprob layout, but its hidden input is the mean
of the states over the step's tokens instead of the state before the step token alone.

Stored as `sprm_head.safetensors` with the feature spec in the file's metadata; the reference's
pickled `score_module.pt` is read with `torch.load(weights_only=True)`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file
from torch import nn

Features = Literal["hidden", "hidden+logprob", "hidden+logprob+entropy", "pooled+logprob"]
FEATURES: tuple[str, ...] = ("hidden", "hidden+logprob", "hidden+logprob+entropy", "pooled+logprob")
HEAD_FILE = "sprm_head.safetensors"
REFERENCE_HEAD_FILE = "score_module.pt"
HEAD_KEYS = ("0.weight", "0.bias", "3.weight", "3.bias")


class HeadFileError(ValueError):
    """A head file that is unreadable or does not fit the backbone; the message names it."""


def n_extra_features(features: Features) -> int:
    if features == "hidden":
        return 0
    if features in ("hidden+logprob", "pooled+logprob"):
        return 2
    if features == "hidden+logprob+entropy":
        return 5
    raise ValueError(f"sprm features must be one of {list(FEATURES)}, got {features!r}")


class SPRMHead(nn.Sequential):
    """Step scorer; `forward(hidden [.., h], logprob [.., k] | None) -> logits [..]`.

    `logprob` holds a step's token statistics (components/model/steps.py `step_logprob_features`):
    k = 2 (min, mean log-prob) or 5 (then mean, max entropy and the not-most-likely share); the
    head reads the first `n_extra_features(features)` columns.
    """

    def __init__(self, hidden_size: int, features: Features = "hidden", dropout: float = 0.5):
        self.n_extra = n_extra_features(features)
        d_in = hidden_size + self.n_extra
        super().__init__(nn.Linear(d_in, 2 * hidden_size), nn.ReLU(), nn.Dropout(dropout),
                         nn.Linear(2 * hidden_size, 1))
        self.hidden_size = hidden_size
        self.features: Features = features
        self.pools = features.startswith("pooled")   # reads the step's mean state (steps.pool_step_states)

    def forward(self, hidden: torch.Tensor, logprob: torch.Tensor | None = None) -> torch.Tensor:
        x = hidden
        if self.n_extra:
            if logprob is None:
                raise ValueError(f"this SPRM head reads {self.features} features; pass the step log-probs")
            if logprob.shape[-1] < self.n_extra:
                raise ValueError(
                    f"this SPRM head reads {self.features} features ({self.n_extra} step statistics) but the "
                    f"candidates carry {logprob.shape[-1]}: the entropy needs the full logits, which the vLLM "
                    "backend does not return; sample with the hf backend or use a hidden+logprob head")
            # RMS-normalise the hidden state first: its norm (~50 in the tiny model) would swamp
            # the two log-prob features (~-1); measured here, AUROC 0.65 without vs 0.9 with.
            # The paper's hidden-only layout stays untouched, so reference heads load unchanged.
            hidden = hidden * torch.rsqrt(hidden.float().pow(2).mean(-1, keepdim=True) + 1e-6).to(hidden.dtype)
            x = torch.cat([hidden, logprob[..., :self.n_extra].to(hidden.dtype)], dim=-1)  # [.., h+k]
        return super().forward(x).squeeze(-1)  # [..]

    def save(self, path: Path | str) -> None:
        """Write safetensors atomically (temp file, fsync, rename) with the feature spec."""
        from components.atomic import write_with

        tensors = {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in self.state_dict().items()}
        write_with(Path(path), lambda tmp: save_file(tensors, str(tmp), metadata={
            "format": "sprm-head-v1", "features": self.features,
            "hidden_size": str(self.hidden_size), "layer": "-2"}))

    @classmethod
    def load(cls, path: Path | str, hidden_size: int) -> SPRMHead:
        """Load a head saved by `save` or the reference's `score_module.pt` (hidden-only)."""
        path = Path(path)
        if path.suffix == ".pt":
            features: Features = "hidden"
            try:
                state = torch.load(path, map_location="cpu", weights_only=True)
            except Exception as exc:  # torch raises many kinds here; one message for all
                raise HeadFileError(f"{path}: not a readable torch state dict ({exc.__class__.__name__})") from None
            if isinstance(state, nn.Module):  # pragma: no cover - weights_only forbids modules
                state = state.state_dict()
        else:
            try:
                with safe_open(str(path), framework="pt") as fh:
                    meta = fh.metadata() or {}
                state = load_file(str(path))
            except (SafetensorError, OSError) as exc:
                raise HeadFileError(f"{path}: not a readable safetensors file ({exc})") from None
            features = meta.get("features", "hidden")  # type: ignore[assignment]
            if features not in FEATURES:
                raise HeadFileError(f"{path}: features {features!r} in its metadata is not one of {list(FEATURES)}")
        missing = [k for k in HEAD_KEYS if k not in state]
        if missing:
            raise HeadFileError(f"{path}: missing keys {missing}; an SPRM head has {list(HEAD_KEYS)}")
        head = cls(hidden_size, features)
        expected = {k: tuple(v.shape) for k, v in head.state_dict().items()}
        for key, shape in expected.items():
            if tuple(state[key].shape) != shape:
                raise HeadFileError(
                    f"{path}: {key} has shape {tuple(state[key].shape)} but this backbone "
                    f"(hidden size {hidden_size}, features {features}) needs {shape}; the head was "
                    "trained for another model")
        head.load_state_dict({k: state[k].float() for k in HEAD_KEYS})
        return head


def head_parameter_count(hidden_size: int, features: Features = "hidden") -> int:
    """2h^2 + 4h + 1 for `hidden` (docs/method.md section 1); + k*2h for k extra features."""
    h, d = hidden_size, hidden_size + n_extra_features(features)
    return d * 2 * h + 2 * h + 2 * h + 1
