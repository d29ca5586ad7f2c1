"""How the trainer's model is spread over processes: one process, DDP, or FSDP2 (`fully_shard`).

`accelerate launch` starts the processes and owns the process group in every mode. DDP goes
through `Accelerator.prepare` as before. FSDP is applied here with torch's own `fully_shard`
(FSDP2, what accelerate's FSDP2 plugin calls too), for two reasons measured with accelerate 1.15:
with `use_cpu` accelerate silently turns a `distributed_type: FSDP` launch into MULTI_CPU and
wraps the model in DDP (nothing is sharded), and its FSDP2 `prepare` makes the joint
policy+head module the one FSDP root, so the policy alone can no longer be called for sampling.
Sharding here is the same code on CPU (gloo) and GPU (NCCL), and it is what the CPU test runs.

Layout under FSDP: every decoder layer is its own shard unit, the policy (embeddings, final norm,
LM head) is one FSDP root, the SPRM head another. The policy can then be called on its own
(sampling, the reference policy's forward), and `joint_loss` runs both roots in one forward.
Gradients are reduce-scattered and averaged over processes, as DDP's all-reduce averages them.

- `gathered(model)`: full, plain parameters inside the block (sampling with the lean decoder or
  the library forward), sharded again after it;
- `full_state(module)`: a full CPU state dict on the main process (saving, loadable by
  `from_pretrained`); `optimizer_state` / `load_optimizer_state`: the optimizer's state keyed by
  parameter name, full, so a resumed FSDP run continues exactly;
- `iter_full_parameters(model)`: (name, full tensor) pairs, one collective per parameter, for
  loading the policy's weights into a colocated vLLM engine after each update.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

FSDP_ENV = "ACCELERATE_USE_FSDP"


@dataclass(frozen=True)
class FsdpSettings:
    """What the accelerate FSDP config asks for (the plugin on GPU, the launcher's env on CPU)."""

    layer_classes: tuple[str, ...] = ()     # empty: the model's `_no_split_modules`
    reshard_after_forward: bool = True
    activation_checkpointing: bool = False
    bf16: bool = False                      # compute in bf16, keep fp32 shards and reduce in fp32


def fsdp_requested(acc) -> bool:
    """Whether this launch asked for FSDP: accelerate's FSDP mode, or its launcher's env on CPU."""
    from accelerate.utils import DistributedType

    if acc.distributed_type == DistributedType.FSDP:
        return True
    return os.environ.get(FSDP_ENV, "").strip().lower() in ("1", "true", "yes") and acc.num_processes > 1


def fsdp_settings(acc) -> FsdpSettings:
    """Read the FSDP options from accelerate's plugin when it built one, else from the env."""
    plugin = getattr(acc.state, "fsdp_plugin", None)
    bf16 = acc.mixed_precision == "bf16" and torch.cuda.is_available()
    if plugin is not None:
        cls = getattr(plugin, "transformer_cls_names_to_wrap", None) or ()
        return FsdpSettings(tuple(cls) if not isinstance(cls, str) else tuple(cls.split(",")),
                            bool(getattr(plugin, "reshard_after_forward", True)),
                            bool(getattr(plugin, "activation_checkpointing", False)), bf16)
    env = os.environ
    cls = env.get("FSDP_TRANSFORMER_CLS_TO_WRAP", "")
    return FsdpSettings(tuple(c.strip() for c in cls.split(",") if c.strip()),
                        env.get("FSDP_RESHARD_AFTER_FORWARD", "true").lower() not in ("false", "0", "no"),
                        env.get("FSDP_ACTIVATION_CHECKPOINTING", "false").lower() in ("true", "1", "yes"), bf16)


def _layer_classes(model: nn.Module, settings: FsdpSettings) -> set[str]:
    names = set(settings.layer_classes) or set(getattr(model, "_no_split_modules", None) or ())
    if not names:
        raise ValueError("FSDP: the model names no decoder-layer class (`_no_split_modules`); set "
                         "fsdp_transformer_layer_cls_to_wrap in the accelerate config")
    found = {type(m).__name__ for m in model.modules()}
    if not names & found:
        raise ValueError(f"FSDP: no module of class {sorted(names)} in {type(model).__name__}; set "
                         f"fsdp_transformer_layer_cls_to_wrap to its decoder-layer class")
    return names


def broadcast_from_main(*modules: nn.Module | None) -> None:
    """Copy every parameter and buffer of `modules` from the main process to the others; collective.

    Under an accelerate FSDP launch with `fsdp_cpu_ram_efficient_loading`, transformers loads real
    weights on local rank 0 only and zeros elsewhere, expecting them to be synced before training
    (measured with transformers 5.17: without this the other ranks' shards stay zero).
    """
    import torch.distributed as dist

    for module in modules:
        if module is None:
            continue
        for t in (*module.parameters(), *module.buffers()):
            dist.broadcast(t.data, src=0)


def shard_policy(model: nn.Module, settings: FsdpSettings, checkpointing: bool | None = None) -> nn.Module:
    """`fully_shard` each decoder layer, then the policy as a root. Modifies and returns `model`."""
    from torch.distributed.fsdp import MixedPrecisionPolicy, fully_shard

    classes = _layer_classes(model, settings)
    if settings.activation_checkpointing if checkpointing is None else checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    kwargs: dict[str, Any] = {}
    if settings.bf16:
        kwargs["mp_policy"] = MixedPrecisionPolicy(param_dtype=torch.bfloat16, reduce_dtype=torch.float32)
    for module in list(model.modules()):
        if type(module).__name__ in classes:
            fully_shard(module, reshard_after_forward=settings.reshard_after_forward, **kwargs)
    fully_shard(model, reshard_after_forward=False, **kwargs)
    model._reflect_reshard_after_forward = settings.reshard_after_forward   # restored by `gathered`
    return model


def shard_head(head: nn.Module) -> nn.Module:
    """The SPRM head as its own FSDP root (fp32: it is tiny and its loss is a sum of BCE terms)."""
    from torch.distributed.fsdp import fully_shard

    fully_shard(head, reshard_after_forward=False)
    return head


def _fsdp_modules(model: nn.Module) -> list[nn.Module]:
    from torch.distributed.fsdp import FSDPModule

    return [m for m in model.modules() if isinstance(m, FSDPModule)]


def is_sharded(model: nn.Module) -> bool:
    return bool(_fsdp_modules(model))


@contextlib.contextmanager
def gathered(model: nn.Module) -> Iterator[nn.Module]:
    """Full, plain parameters in every process inside the block; a no-op for an unsharded model.

    Each FSDP unit is all-gathered once and kept unsharded (no reshard after each forward), so the
    lean decoder can fuse the real weights and the library forward runs without per-token
    all-gathers. Collective: every process must enter it.
    """
    units = _fsdp_modules(model)
    if not units:
        yield model
        return
    for unit in units:
        unit.unshard()
        unit.set_reshard_after_forward(False, recurse=False)
    try:
        yield model
    finally:
        layers = getattr(model, "_reflect_reshard_after_forward", True)
        for unit in units:
            unit.reshard()
            if unit is not model:
                unit.set_reshard_after_forward(layers, recurse=False)


def reducer(acc):
    """`reduce_sum(float) -> float` over processes (identity on one process)."""
    if acc.num_processes == 1:
        return lambda x: float(x)

    def reduce_sum(x: float) -> float:
        t = torch.tensor([float(x)], dtype=torch.float64, device=acc.device)
        return float(acc.reduce(t, reduction="sum").item())
    return reduce_sum


def gather_columns(acc, columns: list[list[float]]) -> list[list[float]]:
    """Concatenate per-process lists (equal lengths) across processes, rank order."""
    if acc.num_processes == 1:
        return columns
    t = torch.tensor(columns, dtype=torch.float64, device=acc.device).T.contiguous()  # [n, k]
    return acc.gather(t).T.tolist()


def local_fraction(params: Iterable[torch.Tensor]) -> float:
    """Elements held by this process / elements of the whole model (1.0 when nothing is sharded)."""
    from torch.distributed.tensor import DTensor

    local = total = 0
    for p in params:
        total += p.numel()
        local += p.to_local().numel() if isinstance(p, DTensor) else p.numel()
    return local / total if total else 1.0


def _plain(t: torch.Tensor) -> torch.Tensor:
    from torch.distributed.tensor import DTensor

    return t.full_tensor() if isinstance(t, DTensor) else t


def clip_grad_norm(params: Iterable[torch.Tensor], max_norm: float) -> float:
    """Global gradient norm (clipped to `max_norm`) of sharded parameters; collective."""
    return float(_plain(torch.nn.utils.clip_grad_norm_(list(params), max_norm)))


def all_finite(params: Iterable[torch.Tensor], reduce_sum) -> bool:
    """Whether every process's shards are finite (one reduction, so all processes agree)."""
    from torch.distributed.tensor import DTensor

    bad = sum(not bool(torch.isfinite(p.to_local() if isinstance(p, DTensor) else p).all()) for p in params)
    return reduce_sum(float(bad)) == 0.0


def full_state(module: nn.Module) -> dict[str, torch.Tensor]:
    """The full state dict on CPU in the main process (empty elsewhere); collective."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    return get_model_state_dict(module, options=StateDictOptions(full_state_dict=True, cpu_offload=True))


def optimizer_state(joint: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, Any]:
    """The optimizer's full state keyed by parameter name, on CPU in the main process; collective."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_optimizer_state_dict

    return get_optimizer_state_dict(joint, optimizer,
                                    options=StateDictOptions(full_state_dict=True, cpu_offload=True))


def load_optimizer_state(joint: nn.Module, optimizer: torch.optim.Optimizer, state: dict[str, Any],
                         path: Any) -> None:
    """Load a full, name-keyed optimizer state (every process reads the same file) into the shards."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, set_optimizer_state_dict

    keys = list((state.get("state") or {}).keys())
    if keys and not all(isinstance(k, str) for k in keys):
        raise ValueError(f"{path}: this checkpoint was written without FSDP (its optimizer state is keyed by "
                         "position); resume it with the launch that wrote it (DDP or one process)")
    set_optimizer_state_dict(joint, optimizer, optim_state_dict=state,
                             options=StateDictOptions(full_state_dict=True))


def check_unsharded_optimizer_state(state: dict[str, Any], path: Any) -> None:
    """Refuse a name-keyed (FSDP) optimizer state where a position-keyed one is loaded."""
    keys = list((state.get("state") or {}).keys())
    if keys and any(isinstance(k, str) for k in keys):
        raise ValueError(f"{path}: this checkpoint was written by an FSDP run (its optimizer state is keyed "
                         "by parameter name); resume it under the same FSDP launch")


def iter_full_parameters(model: nn.Module) -> Iterator[tuple[str, torch.Tensor]]:
    """(name, full tensor) for each parameter and buffer of `model`, in the same order everywhere.

    One all-gather per sharded tensor, so memory holds one full tensor at a time; collective.
    """
    for name, t in model.state_dict().items():
        yield name, _plain(t)


class FullStateSnapshot:
    """What a checkpoint writes from an FSDP run: full model, head and optimizer states (main process).

    Quacks like the `rm` and `optimizer` that `checkpointing.save_checkpoint` takes: `save(dir)`
    writes an HF directory + head + spec from the full states; `state_dict()` is the optimizer's.
    """

    def __init__(self, rm, model_state: dict[str, torch.Tensor], head_state: dict[str, torch.Tensor],
                 optim_state: dict[str, Any] | None):
        self.rm = rm
        self.model_state = model_state
        self.head_state = head_state
        self.optim_state = optim_state

    @classmethod
    def take(cls, rm, joint: nn.Module | None = None, optimizer: torch.optim.Optimizer | None = None
             ) -> FullStateSnapshot:
        """Collective: every process calls it; only the main process's snapshot holds tensors."""
        optim = optimizer_state(joint, optimizer) if joint is not None and optimizer is not None else None
        return cls(rm, full_state(rm.model), full_state(rm.head), optim)

    def state_dict(self) -> dict[str, Any]:
        if self.optim_state is None:
            raise ValueError("this snapshot holds no optimizer state")
        return self.optim_state

    def save(self, out_dir) -> Any:
        from pathlib import Path

        from components.atomic import save_dir
        from components.model.sprm_head import HEAD_FILE, SPRMHead

        rm = self.rm
        head = SPRMHead(rm.head.hidden_size, rm.head.features)
        head.load_state_dict(self.head_state)

        def write(tmp: Path) -> None:
            rm.model.save_pretrained(str(tmp), state_dict=self.model_state, safe_serialization=True)
            rm.tokenizer.save_pretrained(str(tmp))
            head.save(tmp / HEAD_FILE)
            rm.spec.write(tmp)
        return save_dir(Path(out_dir), write)
