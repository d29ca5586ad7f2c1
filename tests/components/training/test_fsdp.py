"""FSDP2 training on CPU: two processes over gloo shard, train, sample, save and resume like DDP.

The DDP run is `torchrun --nproc_per_node 2 launch_train.py`; the FSDP runs are
`accelerate launch --use_fsdp --fsdp_version 2 --num_processes 2` (on CPU accelerate itself would
fall back to DDP; the trainer shards with `fully_shard`). The FSDP run must hold about half of the
parameter elements per process (DTensor shards) while it trains, and its saved model (a full state
dict, loaded back with `from_pretrained`) must equal the DDP run's.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

HERE = Path(__file__).parent


def _launch(model: Path, data: Path, out: Path, port: int, fsdp: bool, steps: int = 2, resume: bool = False) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ACCELERATE_", "FSDP_"))}
    env.update({"OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"})
    if fsdp:
        launcher = [str(Path(sys.executable).with_name("accelerate")), "launch", "--use_fsdp", "--fsdp_version", "2",
                    "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
                    "--dynamo_backend", "no", "--main_process_port", str(port)]
    else:
        launcher = [str(Path(sys.executable).with_name("torchrun")), "--nproc_per_node", "2", "--master_port", str(port)]
    cmd = launcher + [str(HERE / "launch_train.py"), str(model), str(data), str(out), str(steps)] + (
        ["resume"] if resume else [])
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    assert "world_size=2" in proc.stdout
    return proc.stdout


def _fractions(stdout: str) -> list[float]:
    return [float(x) for x in re.findall(r"local_fraction=([0-9.]+)", stdout)]


def _weights(model_dir: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(model_dir))        # a full, loadable checkpoint
    out = {f"model.{k}": v.detach().clone() for k, v in model.state_dict().items()}
    out.update({f"head.{k}": v for k, v in load_file(str(model_dir / "sprm_head.safetensors")).items()})
    return out


def _max_diff(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k].float() - b[k].float()).abs().max()) for k in a)


@pytest.mark.integration
def test_fsdp_shards_and_saves_what_ddp_saves_and_resumes(adder_policy, adder_data, tmp_path):
    ddp = _launch(adder_policy, adder_data, tmp_path / "ddp", 29541, fsdp=False)
    assert _fractions(ddp) == [1.0, 1.0]
    fsdp = _launch(adder_policy, adder_data, tmp_path / "fsdp", 29542, fsdp=True)
    fractions = _fractions(fsdp)
    assert len(fractions) == 2 and all(0.4 < f < 0.6 for f in fractions), fractions   # really sharded
    w_ddp, w_fsdp = _weights(tmp_path / "ddp" / "model"), _weights(tmp_path / "fsdp" / "model")
    moved = _max_diff(w_ddp, _weights_initial(adder_policy, w_ddp))
    assert moved > 1e-4                                           # training changed the weights
    diff = _max_diff(w_ddp, w_fsdp)
    print(f"moved={moved:.3g} fsdp_vs_ddp={diff:.3g}")
    assert diff < 1e-4, f"the FSDP run saved other weights than the DDP run (max |diff| {diff:.3g})"
    assert (tmp_path / "fsdp" / "checkpoints" / "step-000002" / "optimizer.pt").is_file()

    # Resume from the FSDP checkpoint of step 1: the second step must repeat the uninterrupted run.
    resumed = tmp_path / "resumed"
    shutil.copytree(tmp_path / "fsdp" / "checkpoints", resumed / "checkpoints")
    shutil.rmtree(resumed / "checkpoints" / "step-000002")
    _launch(adder_policy, adder_data, resumed, 29543, fsdp=True, resume=True)
    resumed_diff = _max_diff(w_fsdp, _weights(resumed / "model"))
    print(f"resumed_vs_uninterrupted={resumed_diff:.3g}")
    assert resumed_diff < 1e-5


def _weights_initial(policy: Path, like: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The starting weights, with the trained run's fresh head standing in for the missing one."""
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(policy))
    out = {f"model.{k}": v.detach().clone() for k, v in model.state_dict().items()}
    out.update({k: v for k, v in like.items() if k.startswith("head.")})
    return out


def test_fsdp_checkpoint_is_refused_by_a_ddp_resume(tmp_path):
    """An optimizer state keyed by name (FSDP) cannot be loaded by position (DDP): one clear line."""
    from components.training.parallel import check_unsharded_optimizer_state

    with pytest.raises(ValueError, match="written by an FSDP run"):
        check_unsharded_optimizer_state({"state": {"model.embed_tokens.weight": {}}}, tmp_path / "optimizer.pt")
    check_unsharded_optimizer_state({"state": {0: {}}}, tmp_path / "optimizer.pt")
