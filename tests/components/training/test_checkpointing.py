"""A checkpoint directory belongs to one run: a new run never prunes into it or resumes it."""

from __future__ import annotations

import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from components.training.checkpointing import CheckpointError, latest_checkpoint, load_checkpoint
from components.training.config import CheckpointConfig, GRPOConfig, RolloutConfig, TrainConfig
from components.training.trainer import run_train


def tiny_cfg(steps: int) -> TrainConfig:
    return TrainConfig(rollout=RolloutConfig(prompts_per_step=2, group_size=2, max_new_tokens=4),
                       grpo=GRPOConfig(no_signal_patience=0),
                       checkpoint=CheckpointConfig(every_steps=1, keep_last=2), steps=steps, seed=0)


def quiet(_msg: str) -> None:
    pass


def test_a_new_run_refuses_an_earlier_runs_checkpoints(random_policy, adder_data, tmp_path):
    out = tmp_path / "run"
    run_train(tiny_cfg(3), random_policy, adder_data, out, None, resume=False, log=quiet)
    before = sorted(p.name for p in (out / "checkpoints").iterdir())
    with pytest.raises(CheckpointError, match=r"holds checkpoints of an earlier run .*pass --resume"):
        run_train(tiny_cfg(2), random_policy, adder_data, out, None, resume=False, log=quiet)
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == before      # nothing pruned


def test_resume_refuses_other_data_or_another_base_model(random_policy, adder_data, tmp_path):
    out = tmp_path / "run"
    run_train(tiny_cfg(2), random_policy, adder_data, out, None, resume=False, log=quiet)
    state = load_checkpoint(latest_checkpoint(out / "checkpoints")).state
    assert state.data_digest.startswith("md5:") and state.base_model_digest.startswith("md5:")

    new_data = tmp_path / "new.parquet"
    pq.write_table(pa.Table.from_pylist([{"problem": "Compute 7+7.", "answer": "14"}] * 4), new_data)
    with pytest.raises(CheckpointError, match=r"other training data \(--data\)"):
        run_train(tiny_cfg(3), random_policy, new_data, out, None, resume=True, log=quiet)

    other_base = tmp_path / "other-base"
    shutil.copytree(random_policy, other_base)
    (other_base / "generation_config.json").write_text('{"do_sample": true, "temperature": 0.7}')
    with pytest.raises(CheckpointError, match=r"other base model \(--model\)"):
        run_train(tiny_cfg(3), other_base, adder_data, out, None, resume=True, log=quiet)

    resumed = run_train(tiny_cfg(3), random_policy, adder_data, out, None, resume=True, log=quiet)
    assert resumed.steps == 3                                   # the run's own inputs resume it
