"""`reflect train`: joint on-policy GRPO + SPR training of the reflective model (the paper's GRPO + SPR objective).

Three layers (docs/architecture.md): `setup` loads the policy, head, data and any checkpoint and opens
the MLflow run; `step.train_step` makes one joint step (sample G completions per prompt, grade,
score, ONE AdamW step on `spr_loss + pg_loss - entropy_coef * entropy + kl_coef * kl`); `fit` runs
the steps with checkpoints, Ctrl-C/SIGTERM handling, the aha tag and the final model. Rollouts come
from the policy itself (hidden states captured) or, with `train.rollout.backend: vllm`, from a vLLM
engine colocated on the GPU whose weights follow the policy (`vllm_rollouts.py`). Built on torch +
accelerate: one process, or `accelerate launch` (DDP over CPU/gloo or GPUs, or FSDP2 sharding,
`parallel.py`); each process samples its share of the prompts, whole groups each. Every step
reports to MLflow (`train/*`, `train_time/*`); the aha step becomes a run tag.
Checkpoints are atomic and a resumed run repeats an uninterrupted one.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from components.atomic import write_text
from components.config import as_flat_dict
from components.console import say
from components.model.candidate import SamplingConfig
from components.model.sprm_head import SPRMHead
from components.rewards.grading import reward as grade_reward
from components.signals import route_sigterm
from components.training import checkpointing as ckpt
from components.training import parallel as par
from components.training.config import TrainConfig
from components.training.plots import plot_score_gap
from components.training.rollouts import fit_to_context, load_training_set
from components.training.run_log import MlflowRunLog, RunLog
from components.training.step import (TIMING_KEYS, PolicyRollout, Trainer, TrainingDivergedError, build_trainer,
                                      train_step)
from components.training.tracking import detect_aha, never_kept_warning

__all__ = ["TIMING_KEYS", "NoLearningSignalError", "TrainResult", "TrainingDivergedError", "fit", "run_train",
           "setup"]


class NoLearningSignalError(RuntimeError):
    """Every group of every step so far had identical rewards: all advantages are zero."""


@dataclass
class TrainResult:
    model_dir: Path                      # final policy + head (HF dir + sprm_head.safetensors)
    checkpoint: Path | None              # last checkpoint (for --resume)
    steps: int                           # optimisation steps completed
    history: list[dict[str, float]] = field(default_factory=list)
    aha_step: int | None = None
    run_id: str | None = None
    warnings: list[str] = field(default_factory=list)
    summary: dict[str, float | int | None] = field(default_factory=dict)


def run_train(cfg: TrainConfig, model_dir: Path, data_path: Path, out_dir: Path, tracking_uri: str | None,
              resume: bool, log: Callable[[str], None] = say,
              on_step: Callable[[int, dict[str, float]], None] | None = None) -> TrainResult:
    """Train `model_dir` on `data_path` for `cfg.steps` steps; write checkpoints and the final model under `out_dir`.

    `tracking_uri` None logs nothing to MLflow. `resume` continues from the newest checkpoint in
    `out_dir/checkpoints` (starting fresh when there is none). `on_step(step, metrics)` is called
    after each step (progress display; tests use it to interrupt a run).
    """
    tr = setup(cfg, Path(model_dir), Path(data_path), Path(out_dir), tracking_uri, resume, log)
    return fit(tr, Path(out_dir), Path(data_path), on_step)


def setup(cfg: TrainConfig, model_dir: Path, data_path: Path, out_dir: Path, tracking_uri: str | None,
          resume: bool, log: Callable[[str], None]) -> Trainer:
    """Load the policy, head, data and (with `resume`) the newest checkpoint; open the MLflow run."""
    from accelerate import Accelerator

    from components.model.reflective import ReflectiveModel

    if cfg.rollout.backend == "vllm":            # refuse before loading anything
        from components.training.vllm_rollouts import require_vllm
        require_vllm()
    # cpu=True without CUDA: under torchrun/`accelerate launch --multi_gpu` that gives MULTI_CPU (gloo).
    acc = Accelerator(cpu=not torch.cuda.is_available())
    rank, world, main = acc.process_index, acc.num_processes, acc.is_main_process
    say = log if main else (lambda _m: None)
    ckpt_root = out_dir / "checkpoints"
    per_step = cfg.rollout.prompts_per_step
    if per_step % world:
        raise ValueError(f"train.rollout.prompts_per_step ({per_step}) must be divisible by the number "
                         f"of processes ({world})")
    data = load_training_set(data_path)
    flat_cfg = as_flat_dict(cfg)
    arch = ckpt.architecture_of(model_dir) if (model_dir / "config.json").is_file() else None

    ckpt.check_fresh_start(ckpt_root, resume)
    identity = ckpt.run_identity(model_dir, data_path)
    loaded = None
    if resume and (latest := ckpt.latest_checkpoint(ckpt_root)) is not None:
        loaded = ckpt.load_checkpoint(latest, arch, flat_cfg)
        ckpt.check_same_inputs(loaded, identity)
        say(f"train: resuming from {latest} (step {loaded.state.step})")
    torch.manual_seed(cfg.seed)                  # the fresh head's initialisation
    rm = ReflectiveModel.load(loaded.model_dir if loaded else model_dir, device=str(acc.device))
    if cfg.sprm_features is not None and cfg.sprm_features != rm.head.features:
        # A resumed run's checkpoint already holds the new head; this is a fresh start only.
        say(f"train: a fresh {cfg.sprm_features} head replaces the model's {rm.head.features} head "
            "(train.sprm_features)")
        rm.head = SPRMHead(rm.head.hidden_size, cfg.sprm_features).to(acc.device)
        rm.spec = dataclasses.replace(rm.spec, sprm_features=cfg.sprm_features)
    ref_model = None
    if cfg.grpo.kl_coef > 0:                     # the reference is always the initial policy
        ref_model = ReflectiveModel.load(model_dir, device=str(acc.device)).model
        ref_model.requires_grad_(False).eval()
    data, too_long = fit_to_context(data, rm.prompt_fits(data.problems, cfg.rollout.max_new_tokens))
    if too_long:
        say(f"train: skipping {too_long} of {too_long + len(data)} problems whose prompt leaves no room for "
            f"{cfg.rollout.max_new_tokens} new tokens in the model's {rm.max_positions}-token context")
    state = (dataclasses.replace(loaded.state, config=flat_cfg) if loaded else
             ckpt.TrainerState(step=0, config=flat_cfg, architecture=arch or {}, **identity))
    sampling = SamplingConfig(temperature=cfg.rollout.temperature, top_p=cfg.rollout.top_p,
                              max_new_tokens=cfg.rollout.max_new_tokens)
    rollout = PolicyRollout(rm, data.problems, sampling, cfg.rollout.generate_batch_size)

    def reward(c, row: int) -> float:
        return grade_reward(c.text, data.answers[row], cfg.reward.format_reward, c.think)

    tr = build_trainer(cfg, acc, rm, ref_model, len(data), rollout, reward, state, loaded)
    if cfg.rollout.backend == "vllm":            # a colocated engine, started from the weights just loaded
        from components.training.vllm_rollouts import EngineRollout, VLLMRollouts, context_needed
        engine = VLLMRollouts(rm, loaded.model_dir if loaded else model_dir, cfg.rollout.vllm_memory_fraction,
                              context_needed(rm, data.problems, cfg.rollout.max_new_tokens), cfg.seed + rank,
                              distributed=world > 1)
        tr.rollout = EngineRollout(engine, data.problems, sampling)
        say(f"train: rollouts from vLLM ({cfg.rollout.vllm_memory_fraction:.0%} of the GPU's memory per process)")
    if main and tracking_uri:
        tr.run_log = _open_run(tr, tracking_uri, model_dir, data_path, out_dir, identity, loaded)
    say(f"train: {len(data)} problems, {cfg.steps} steps x {per_step} prompts x G={cfg.rollout.group_size} "
        f"on {world} process(es){' (FSDP)' if tr.fsdp else ''}, head reads {rm.head.features}")
    tr.say = say
    return tr


def _open_run(tr: Trainer, tracking_uri: str, model_dir: Path, data_path: Path, out_dir: Path,
              identity: dict[str, str], loaded) -> RunLog:
    """The train run: named `train-<model>-<time>`, with the config, sizes and the clean set as its input."""
    cfg, state = tr.cfg, tr.state
    run_log = MlflowRunLog(tracking_uri, cfg.tracking.experiment, resume_run_id=state.mlflow_run_id,
                           run_name=f"train-{model_dir.name}-{time.strftime('%Y%m%d-%H%M%S')}",
                           tags={"inputs_key": out_dir.name, "base_model_digest": identity["base_model_digest"]})
    state.mlflow_run_id = run_log.run_id
    run_log.log_params({**state.config, "model_dir": str(model_dir), "data_path": str(data_path),
                        "world_size": tr.acc.num_processes, "head_features": tr.rm.head.features,
                        "policy_parameters": sum(p.numel() for p in tr.rm.model.parameters()),
                        "head_parameters": sum(p.numel() for p in tr.rm.head.parameters())})
    run_log.set_tags({"data_version": identity["data_digest"], "data_rows": str(tr.rows),
                      **({"resumed_from": str(loaded.path)} if loaded else {})})
    if not run_log.resumed:
        run_log.log_dataset(data_path, data_path.parent.name or data_path.stem, "training", identity["data_digest"])
    return run_log


def save(tr: Trainer, ckpt_root: Path, sync: bool = True) -> Path | None:
    """Checkpoint the current step (main process writes; `sync` waits for the others)."""
    tr.state.scheduler = tr.scheduler.state_dict()
    if tr.fsdp and not sync:                 # gathering full states needs every process
        return tr.last_ckpt
    if sync:
        tr.acc.wait_for_everyone()
    snap = par.FullStateSnapshot.take(tr.rm, tr.joint, tr.optimizer) if tr.fsdp else None
    if tr.acc.is_main_process:
        ckpt.save_checkpoint(ckpt_root, snap or tr.rm, snap or tr.optimizer, tr.state, tr.cfg.checkpoint.keep_last)
    if sync:
        tr.acc.wait_for_everyone()
    tr.last_ckpt = ckpt_root / f"step-{tr.state.step:06d}"
    return tr.last_ckpt


def fit(tr: Trainer, out_dir: Path, data_path: Path,
        on_step: Callable[[int, dict[str, float]], None] | None = None) -> TrainResult:
    """Run `train_step` to `cfg.steps`: periodic checkpoints, Ctrl-C/SIGTERM saves, aha tag, final model."""
    cfg, state, run_log, say = tr.cfg, tr.state, tr.run_log, tr.say
    ckpt_root = out_dir / "checkpoints"
    saved_step = state.step
    aha_tagged = False
    restore_sigterm = route_sigterm()           # a Prefect cancel or an eviction: like Ctrl-C
    try:
        while state.step < cfg.steps:
            metrics = train_step(tr)
            s = state.step
            aha = detect_aha([h["train/score_gap"] for h in state.history], cfg.tracking.aha_threshold,
                             cfg.tracking.aha_window, first_step=1)
            if aha is not None and not aha_tagged:
                run_log.set_tags({"aha_step": str(aha)})
                aha_tagged = True
                say(f"train: aha step {aha} (score gap > {cfg.tracking.aha_threshold} for {cfg.tracking.aha_window} steps)")
            _check_signal(state.history, cfg, data_path, say)
            if on_step is not None:
                on_step(s, metrics)
            if cfg.checkpoint.every_steps and s % cfg.checkpoint.every_steps == 0 and s < cfg.steps:
                save(tr, ckpt_root)
                saved_step = s
    except KeyboardInterrupt:
        if state.step > saved_step:
            path = save(tr, ckpt_root, sync=tr.acc.num_processes == 1)     # other processes may be gone already
            say(f"train: interrupted after step {state.step}; saved {path} (resume with --resume)")
        else:
            say(f"train: interrupted; the last checkpoint {tr.last_ckpt} is current")
        run_log.close("KILLED")
        raise
    except BaseException:
        run_log.close("FAILED")
        raise
    finally:
        restore_sigterm()

    final_ckpt = save(tr, ckpt_root) if state.step > saved_step or tr.last_ckpt is None else tr.last_ckpt
    final_model = out_dir / "model"
    snap = par.FullStateSnapshot.take(tr.rm) if tr.fsdp else None
    main = tr.acc.is_main_process
    if main:
        (snap or tr.rm).save(final_model)
    tr.acc.wait_for_everyone()
    return _finish(state, cfg, out_dir, final_model, final_ckpt, run_log, say, main)


def _finish(state: ckpt.TrainerState, cfg: TrainConfig, out_dir: Path, final_model: Path, final_ckpt: Path | None,
            run_log: RunLog, say, main: bool) -> TrainResult:
    """Aha tag, never-kept warning, score-gap plot and summary; closes the MLflow run."""
    hist = state.history
    aha = detect_aha([h["train/score_gap"] for h in hist], cfg.tracking.aha_threshold, cfg.tracking.aha_window, first_step=1)
    warnings = []
    if cfg.spr.loss == "spr":
        spr_steps = [h for h in hist if h["train/spr_bce_phase"] == 0.0]
        msg = never_kept_warning([h["train/spr_kept_pos"] for h in spr_steps], [h["train/spr_kept_neg"] for h in spr_steps])
        if msg:
            warnings.append(msg)
            say(f"train: WARNING {msg}")
    summary = _summary(hist, aha)
    if main:
        import json

        warmup = cfg.spr.bce_warmup_steps if cfg.spr.loss == "spr" else 0
        plot_score_gap([int(h["step"]) for h in hist], [h["train/score_correct"] for h in hist],
                       [h["train/score_incorrect"] for h in hist], out_dir / "score_gap.png", aha,
                       warmup_steps=min(warmup, len(hist)), on_figure=lambda fig: run_log.log_figure(fig, "plots/score_gap.png"))
        write_text(out_dir / "train_metrics.json", json.dumps(summary, indent=2) + "\n")
        # Before/after figures as tags (the run's overview), not single-point metrics among the curves.
        run_log.set_tags({f"summary.{k}": f"{v:.4g}" if isinstance(v, float) else str(v) for k, v in summary.items()})
        run_log.set_tags({"aha_step": str(aha) if aha is not None else "none",
                          **({"warning": warnings[0][:5000]} if warnings else {})})
    run_log.close("FINISHED")
    say(f"train: done, {state.step} steps; reward {summary['reward_first']:.3f} -> {summary['reward_last']:.3f}, "
        f"AUROC {summary['auroc_first']:.3f} -> {summary['auroc_last']:.3f}, aha step {aha}")
    return TrainResult(final_model, final_ckpt, state.step, hist, aha, run_log.run_id, warnings, summary)


def _summary(hist: list[dict[str, float]], aha: int | None) -> dict[str, float | int | None]:
    """Means over the first and last 10% of steps (at least one step each): the run's before/after figures."""
    k = max(1, len(hist) // 10)

    def mean(key: str, part: list[dict[str, float]]) -> float:
        vals = [h[key] for h in part if not math.isnan(h[key])]
        return sum(vals) / len(vals) if vals else math.nan

    out: dict[str, float | int | None] = {"steps": len(hist), "aha_step": aha}
    for name, key in (("reward", "train/reward_mean"), ("pass_rate", "train/pass_rate"),
                      ("auroc", "train/sprm_auroc"), ("score_gap", "train/score_gap")):
        out[f"{name}_first"] = mean(key, hist[:k])
        out[f"{name}_last"] = mean(key, hist[-k:])
    return out


def _check_signal(hist: list[dict[str, float]], cfg: TrainConfig, data_path: Path, say) -> None:
    """Stop when every group of the run's first steps had identical rewards; warn on single steps."""
    if hist[-1]["train/no_signal_groups"] < 1.0:
        return
    patience = cfg.grpo.no_signal_patience
    if patience and len(hist) >= patience and all(h["train/no_signal_groups"] >= 1.0 for h in hist):
        mean_r = sum(h["train/reward_mean"] for h in hist) / len(hist)
        raise NoLearningSignalError(
            f"{data_path}: in all of the first {len(hist)} steps every group of {cfg.rollout.group_size} "
            f"completions got identical rewards (mean reward {mean_r:.2f}), so every advantage is zero and "
            "nothing can be learned: the set is too hard (or too easy) for this policy, or the model cannot "
            "produce the answer format; check the data and the model")
    say(f"train: step {int(hist[-1]['step'])}: every group had identical rewards (no policy signal this step)")
