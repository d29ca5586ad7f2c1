"""Entry for the multi-process trainer tests in test_trainer.py / test_fsdp.py: tiny training steps.

Usage: launch_train.py MODEL_DIR DATA_PARQUET OUT_DIR [STEPS [resume]]
Prints, on each process, `rank=<r> local_fraction=<x>` (the share of parameter elements it holds
during training: 1.0 unsharded, about 1/world under FSDP), then on the main process
`world_size=<n> steps=<s> reward=<r>`.
"""

import sys
from pathlib import Path

from components.training.config import CheckpointConfig, OptimConfig, RolloutConfig, SPRConfig, TrainConfig
from components.training.trainer import run_train

if __name__ == "__main__":
    model_dir, data, out = map(Path, sys.argv[1:4])
    steps = int(sys.argv[4]) if len(sys.argv) > 4 else 2
    resume = len(sys.argv) > 5 and sys.argv[5] == "resume"
    cfg = TrainConfig(
        rollout=RolloutConfig(prompts_per_step=4, group_size=4, temperature=1.0, max_new_tokens=24),
        optim=OptimConfig(policy_lr=1e-3, head_lr=1e-2), spr=SPRConfig(bce_warmup_steps=1),
        checkpoint=CheckpointConfig(every_steps=1), steps=steps, seed=0)
    result = run_train(cfg, model_dir, data, out, None, resume=resume)
    from accelerate import PartialState

    state = PartialState()
    print(f"rank={state.process_index} local_fraction={result.history[-1]['train/param_local_fraction']:.4f}",
          flush=True)
    if state.is_main_process:
        print(f"world_size={state.num_processes} steps={result.steps} reward={result.summary['reward_last']:.3f}")
