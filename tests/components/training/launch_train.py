"""Entry for `accelerate launch --num_processes 2 --cpu` in test_trainer.py: two tiny training steps.

Usage: launch_train.py MODEL_DIR DATA_PARQUET OUT_DIR
"""

import sys
from pathlib import Path

from components.training.config import CheckpointConfig, OptimConfig, RolloutConfig, SPRConfig, TrainConfig
from components.training.trainer import run_train

if __name__ == "__main__":
    model_dir, data, out = map(Path, sys.argv[1:4])
    cfg = TrainConfig(
        rollout=RolloutConfig(prompts_per_step=4, group_size=4, temperature=1.0, max_new_tokens=24),
        optim=OptimConfig(policy_lr=1e-3, head_lr=1e-2), spr=SPRConfig(bce_warmup_steps=1),
        checkpoint=CheckpointConfig(every_steps=1), steps=2, seed=0)
    result = run_train(cfg, model_dir, data, out, None, resume=False)
    from accelerate import PartialState

    state = PartialState()
    if state.is_main_process:
        print(f"world_size={state.num_processes} steps={result.steps} reward={result.summary['reward_last']:.3f}")
