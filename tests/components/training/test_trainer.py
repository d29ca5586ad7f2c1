"""The trainer on real tiny models: it learns, it is tracked, it resumes exactly, it fails clearly."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

from components.training.checkpointing import CheckpointError, latest_checkpoint
from components.training.config import (CheckpointConfig, GRPOConfig, OptimConfig, RolloutConfig, SPRConfig,
                                        TrainConfig, TrackingConfig)
from components.training.rollouts import TrainingDataError
from components.training.trainer import (TIMING_KEYS, NoLearningSignalError, TrainingDivergedError, run_train)

ADDER_PROBLEMS = [(a, b) for a in range(1, 5) for b in range(1, 5)]   # as in conftest.py

REQUIRED_METRICS = [f"train/{k}" for k in (
    "reward_mean", "pass_rate", "policy_loss", "spr_loss", "kl", "entropy", "response_length", "score_gap",
    "sprm_auroc", "sprm_accuracy", "spr_kept", "spr_kept_pos", "spr_kept_neg", "lr_policy", "lr_head",
    "completions_per_s")] + ["train_time/generate", "train_time/score", "train_time/update"]


def small_cfg(steps: int, every: int = 0, **over) -> TrainConfig:
    parts = dict(
        rollout=RolloutConfig(prompts_per_step=8, group_size=8, temperature=1.0, max_new_tokens=24),
        optim=OptimConfig(policy_lr=1e-3, head_lr=1e-2),
        spr=SPRConfig(bce_warmup_steps=2),
        tracking=TrackingConfig(aha_threshold=0.05, aha_window=3),
        checkpoint=CheckpointConfig(every_steps=every, keep_last=0),
        steps=steps, seed=0)
    parts.update(over)
    return TrainConfig(**parts)


def quiet(_msg: str) -> None:
    pass


@pytest.mark.integration
def test_training_learns_and_is_tracked(adder_policy, adder_data, tmp_path):
    from mlflow.tracking import MlflowClient

    from components.model.candidate import SamplingConfig
    from components.model.reflective import ReflectiveModel
    from components.rewards.grading import is_correct
    from components.tracking.stats import auroc

    # A fixed probe batch from the initial policy, scored by the same fresh head the trainer starts with.
    torch.manual_seed(0)
    rm0 = ReflectiveModel.load(adder_policy)
    problems = [f"Compute {a}+{b}." for a, b in ADDER_PROBLEMS]
    cands = [c for cs in rm0.generate(problems, 16, SamplingConfig(max_new_tokens=24), seed=999) for c in cs]
    labels = [is_correct(c.text, str(sum(ADDER_PROBLEMS[c.prompt_index]))) for c in cands]
    assert 0.2 < sum(labels) / len(labels) < 0.9            # mixed outcomes: there is something to learn
    auroc_before = auroc([c.score for c in cands], labels)

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    # Policy lr 3e-4, not 1e-3: at 1e-3 the policy's log-probs (half the head's input) moved so fast
    # that the head lost the target on some seeds (probe AUROC 0.41-0.60 for one adder policy).
    cfg = small_cfg(steps=30, optim=OptimConfig(policy_lr=3e-4, head_lr=1e-2))
    result = run_train(cfg, adder_policy, adder_data, tmp_path / "run", uri, resume=False, log=quiet)

    rm1 = ReflectiveModel.load(result.model_dir)
    assert rm1.head_trained
    rescored = rm1.score_second_pass([problems[c.prompt_index] for c in cands], [c.token_ids for c in cands])
    auroc_after = auroc([c.score for c in rescored], labels)
    # Measured here over 6 adder-policy seeds x 2 training seeds (a stand-in for another CPU's float
    # order): probe AUROC 0.39-0.56 -> 0.63-0.93, gain +0.14 to +0.54. A frozen policy reaches ~0.95.
    assert auroc_after > 0.6 and auroc_after > auroc_before + 0.1, (auroc_before, auroc_after)
    hist = result.history
    first = sum(h["train/reward_mean"] for h in hist[:3]) / 3
    last = sum(h["train/reward_mean"] for h in hist[-3:]) / 3
    assert last > first, (first, last)

    client = MlflowClient(tracking_uri=uri)
    run = client.get_run(result.run_id)
    assert set(REQUIRED_METRICS) <= set(run.data.metrics)
    assert len(client.get_metric_history(result.run_id, "train/reward_mean")) == 30
    from components.training.run_log import HEADLINE      # the run page's first charts: copies of train/ curves
    for name, copy in HEADLINE.items():
        assert [m.value for m in client.get_metric_history(result.run_id, copy)] == [
            m.value for m in client.get_metric_history(result.run_id, name)], copy
    assert run.data.params["spr.loss"] == "spr" and run.data.params["rollout.group_size"] == "8"
    assert run.data.tags["data_version"].startswith("md5:")
    assert run.data.tags["aha_step"] == (str(result.aha_step) if result.aha_step is not None else "none")
    assert [a.path for a in client.list_artifacts(result.run_id, "plots")] == ["plots/score_gap.png"]
    # What MLflow's UI shows besides the curves: a readable name, the before/after figures as tags,
    # the training set as a dataset input.
    assert run.info.run_name.startswith(f"train-{adder_policy.name}-") and run.data.tags["inputs_key"] == "run"
    assert float(run.data.tags["summary.reward_last"]) == pytest.approx(result.summary["reward_last"], rel=1e-3)
    assert not any(k.startswith("summary/") for k in run.data.metrics)
    (inp,) = run.inputs.dataset_inputs
    assert [t.value for t in inp.tags if t.key == "mlflow.data.context"] == ["training"]
    assert (tmp_path / "run" / "train_metrics.json").is_file()
    assert run.info.status == "FINISHED"


def _comparable(history):
    return [{k: v for k, v in h.items() if k not in TIMING_KEYS} for h in history]


@pytest.mark.integration
def test_interrupted_and_resumed_equals_uninterrupted(adder_policy, adder_data, tmp_path):
    cfg = small_cfg(steps=4, every=2)
    full = run_train(cfg, adder_policy, adder_data, tmp_path / "full", None, resume=False, log=quiet)

    def interrupt(step, _metrics):
        if step == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_train(cfg, adder_policy, adder_data, tmp_path / "cut", None, resume=False, log=quiet, on_step=interrupt)
    assert latest_checkpoint(tmp_path / "cut" / "checkpoints").name == "step-000003"   # Ctrl-C saved step 3
    resumed = run_train(cfg, adder_policy, adder_data, tmp_path / "cut", None, resume=True, log=quiet)

    assert resumed.steps == full.steps == 4
    for a, b in zip(_comparable(full.history), _comparable(resumed.history), strict=True):
        for key in a:
            assert (math.isnan(a[key]) and math.isnan(b[key])) or abs(a[key] - b[key]) <= 1e-6, (key, a[key], b[key])
    from safetensors.torch import load_file

    for name in ("model.safetensors", "sprm_head.safetensors"):
        wa, wb = load_file(str(full.model_dir / name)), load_file(str(resumed.model_dir / name))
        assert max(float((wa[k] - wb[k]).abs().max()) for k in wa) <= 1e-6


@pytest.mark.integration
def test_sigterm_is_routed_like_ctrl_c(adder_policy, adder_data, tmp_path):
    """A Prefect cancel or an eviction (SIGTERM) saves the step in flight and ends the MLflow run."""
    import signal

    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    cfg = small_cfg(steps=6, every=0)
    before = signal.getsignal(signal.SIGTERM)

    def terminate(step, _metrics):
        if step == 2:
            os.kill(os.getpid(), signal.SIGTERM)

    with pytest.raises(KeyboardInterrupt, match=f"signal {int(signal.SIGTERM)}"):
        run_train(cfg, adder_policy, adder_data, tmp_path / "run", uri, resume=False, log=quiet, on_step=terminate)
    assert latest_checkpoint(tmp_path / "run" / "checkpoints").name == "step-000002"   # not lost
    runs = MlflowClient(uri).search_runs([MlflowClient(uri).get_experiment_by_name("reflective-math").experiment_id])
    assert [r.info.status for r in runs] == ["KILLED"]                                  # not left RUNNING
    assert signal.getsignal(signal.SIGTERM) is before                                   # handler restored


@pytest.mark.integration
def test_non_finite_loss_stops_with_step_and_keeps_checkpoint(adder_policy, adder_data, tmp_path):
    cfg = small_cfg(steps=4, every=1, optim=OptimConfig(policy_lr=1e30, head_lr=1e30, grad_clip=0.0))
    with pytest.raises(TrainingDivergedError, match=r"step 2: non-finite .*step-000001"):
        run_train(cfg, adder_policy, adder_data, tmp_path / "run", None, resume=False, log=quiet)
    ckpts = tmp_path / "run" / "checkpoints"
    assert latest_checkpoint(ckpts).name == "step-000001"
    assert not (tmp_path / "run" / "model").exists()


def test_all_zero_advantages_are_reported(random_policy, adder_data, tmp_path):
    cfg = small_cfg(steps=5, rollout=RolloutConfig(prompts_per_step=2, group_size=2, max_new_tokens=8),
                    grpo=GRPOConfig(no_signal_patience=2))
    with pytest.raises(NoLearningSignalError, match=r"clean.parquet: in all of the first 2 steps every group"):
        run_train(cfg, random_policy, adder_data, tmp_path / "run", None, resume=False, log=quiet)


def test_bad_training_data_is_refused(random_policy, tmp_path):
    cfg = small_cfg(steps=1)
    with pytest.raises(TrainingDataError, match="not found"):
        run_train(cfg, random_policy, tmp_path / "missing.parquet", tmp_path / "o", None, False, log=quiet)
    pq.write_table(pa.Table.from_pylist([{"problem": "Compute 1+1."}]), tmp_path / "noanswer.parquet")
    with pytest.raises(TrainingDataError, match="missing column 'answer'"):
        run_train(cfg, random_policy, tmp_path / "noanswer.parquet", tmp_path / "o", None, False, log=quiet)
    pq.write_table(pa.table({"problem": pa.array([], pa.string()), "answer": pa.array([], pa.string())}),
                   tmp_path / "empty.parquet")
    with pytest.raises(TrainingDataError, match="empty"):
        run_train(cfg, random_policy, tmp_path / "empty.parquet", tmp_path / "o", None, False, log=quiet)


def test_corrupt_or_foreign_checkpoint_is_refused(random_policy, adder_data, tmp_path):
    from components.training.bootstrap import tiny_model_dir

    cfg = small_cfg(steps=1, rollout=RolloutConfig(prompts_per_step=2, group_size=2, max_new_tokens=4),
                    grpo=GRPOConfig(no_signal_patience=0))
    out = tmp_path / "run"
    run_train(cfg, random_policy, adder_data, out, None, resume=False, log=quiet)
    more = small_cfg(steps=2, rollout=cfg.rollout, grpo=cfg.grpo)
    other = tiny_model_dir(tmp_path / "other", hidden_size=32)
    with pytest.raises(CheckpointError, match="checkpoint is for another model .*hidden_size"):
        run_train(more, other, adder_data, out, None, resume=True, log=quiet)
    with pytest.raises(CheckpointError, match=r"trained with grpo.kl_coef = 0.001"):
        run_train(small_cfg(steps=2, rollout=cfg.rollout, grpo=GRPOConfig(kl_coef=0.0, no_signal_patience=0)),
                  random_policy, adder_data, out, None, resume=True, log=quiet)
    state = latest_checkpoint(out / "checkpoints") / "trainer_state.json"
    state.write_text("{ not json")
    with pytest.raises(CheckpointError, match="trainer_state.json: corrupt trainer state"):
        run_train(more, random_policy, adder_data, out, None, resume=True, log=quiet)


@pytest.mark.integration
def test_two_process_accelerate_cpu_run(adder_policy, adder_data, tmp_path):
    accelerate = Path(sys.executable).with_name("accelerate")
    script = Path(__file__).with_name("launch_train.py")
    out = tmp_path / "ddp"
    proc = subprocess.run(
        # accelerate 1.15 starts only ONE process for `--cpu --num_processes 2` unless MPI is installed;
        # `--multi_gpu` uses torchrun, and the trainer's Accelerator(cpu=True) (no CUDA) gives gloo.
        [str(accelerate), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
         "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", "29517", str(script),
         str(adder_policy), str(adder_data), str(out)],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "world_size=2" in proc.stdout
    assert (out / "model" / "sprm_head.safetensors").is_file()
    assert latest_checkpoint(out / "checkpoints").name == "step-000002"


@pytest.mark.integration
def test_data_parallel_shards_give_the_full_batch_gradient(adder_policy):
    torchrun = Path(sys.executable).with_name("torchrun")
    proc = subprocess.run(
        [str(torchrun), "--nproc_per_node", "2", "--master_port", "29518",
         str(Path(__file__).with_name("ddp_grad_check.py")), str(adder_policy)],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    assert "max_abs_diff=" in proc.stdout


def test_disk_full_while_saving_keeps_the_previous_checkpoint(random_policy, adder_data, tmp_path, monkeypatch):
    from components.model.reflective import ReflectiveModel
    from components.training import checkpointing

    cfg = small_cfg(steps=1, rollout=RolloutConfig(prompts_per_step=2, group_size=2, max_new_tokens=4),
                    grpo=GRPOConfig(no_signal_patience=0))
    out = tmp_path / "run"
    run_train(cfg, random_policy, adder_data, out, None, resume=False, log=quiet)
    good = latest_checkpoint(out / "checkpoints")
    loaded = checkpointing.load_checkpoint(good)
    rm = ReflectiveModel.load(loaded.model_dir)
    opt = torch.optim.AdamW(rm.model.parameters())

    def full_disk(*_args, **_kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpointing.torch, "save", full_disk)   # fault injection, not a model mock
    state = checkpointing.TrainerState(step=2, history=loaded.state.history)
    with pytest.raises(OSError, match="No space left"):
        checkpointing.save_checkpoint(out / "checkpoints", rm, opt, state)
    monkeypatch.undo()
    assert latest_checkpoint(out / "checkpoints") == good
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == [good.name]   # no partial leftovers
    assert checkpointing.load_checkpoint(good).state.step == 1


@pytest.mark.integration
def test_more_head_updates_move_the_head_only_and_the_pairwise_term_is_logged(adder_policy, adder_data, tmp_path):
    """`spr.head_updates` 3: after the joint step the head alone moves twice more on the same rollout,
    so the policy ends where one update leaves it and the head elsewhere; `spr.pairwise_coef` logs its term."""
    from safetensors.torch import load_file

    base = small_cfg(steps=1)
    one = run_train(base, adder_policy, adder_data, tmp_path / "one", None, resume=False, log=quiet)
    more = run_train(small_cfg(steps=1, spr=SPRConfig(bce_warmup_steps=2, head_updates=3)), adder_policy,
                     adder_data, tmp_path / "more", None, resume=False, log=quiet)
    pol_a, pol_b = (load_file(str(r.model_dir / "model.safetensors")) for r in (one, more))
    assert all(torch.equal(pol_a[k], pol_b[k]) for k in pol_a)
    head_a, head_b = (load_file(str(r.model_dir / "sprm_head.safetensors")) for r in (one, more))
    assert any(not torch.equal(head_a[k], head_b[k]) for k in head_a)
    assert math.isnan(one.history[0]["train/spr_pairwise"])

    paired = run_train(small_cfg(steps=1, spr=SPRConfig(bce_warmup_steps=2, pairwise_coef=1.0)), adder_policy,
                       adder_data, tmp_path / "paired", None, resume=False, log=quiet)
    assert paired.history[0]["train/spr_pairwise"] > 0
    assert paired.history[0]["train/spr_loss"] == pytest.approx(one.history[0]["train/spr_loss"], rel=1e-6)


@pytest.mark.integration
@pytest.mark.parametrize("features,extra", [("hidden+logprob+entropy", 5), ("pooled+logprob", 2)])
def test_step_feature_switch_trains_a_fresh_head_of_that_kind(adder_policy, adder_data, tmp_path, features, extra):
    """`train.sprm_features` replaces the model's head with a fresh one of that kind (five step
    statistics with the entropy; the step's mean state when pooled), trains it, and saves its kind."""
    from components.model.reflective import ReflectiveModel

    res = run_train(small_cfg(steps=2, sprm_features=features), adder_policy, adder_data,
                    tmp_path / "feat", None, resume=False, log=quiet)
    rm = ReflectiveModel.load(res.model_dir)
    assert rm.head.features == features and rm.spec.sprm_features == features
    assert rm.head[0].in_features == rm.model.config.hidden_size + extra
    assert all(math.isfinite(h["train/spr_loss"]) for h in res.history)
