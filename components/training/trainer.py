"""`reflect train`: joint on-policy GRPO + SPR training of the reflective model (the paper's GRPO + SPR objective).

Each step: sample G completions for each of the step's prompts, grade them
(`components.rewards.grading.reward`), score them with the current head (for tracking), then ONE
AdamW step updates policy and head together (separate learning rates) on
`spr_loss + pg_loss - entropy_coef * entropy + kl_coef * kl`. Rollouts come from the policy itself
(`ReflectiveModel.generate`, hidden states captured) or, with `train.rollout.backend: vllm`, from a
vLLM engine colocated on the GPU whose weights follow the policy after every step
(`vllm_rollouts.py`; hidden states and log-probs then come from the update's forward pass). Built on
torch + accelerate: run as is on one process, or under `accelerate launch` (DDP over CPU/gloo or
GPUs, or FSDP2 sharding, `parallel.py`); each process samples its share of the prompts, whole
groups each. Every step reports to MLflow (`train/*`, `time/*`); the aha step becomes a run tag.
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
from components.rewards.grading import reward as grade_reward
from components.signals import deferred_interrupts, route_sigterm
from components.training import checkpointing as ckpt
from components.training import parallel as par
from components.training.config import TrainConfig, lr_factors
from components.training.grpo import group_advantages
from components.training.joint_loss import PolicyWithHead, joint_loss, reference_logprobs
from components.training.plots import plot_score_gap
from components.training.rollouts import build_batch, fit_to_context, load_training_set, step_prompts
from components.training.run_log import MlflowRunLog, RunLog, SilentRunLog
from components.training.spr_loss import loss_kind_at
from components.training.tracking import detect_aha, head_metrics, never_kept_warning

TIMING_KEYS = ("time/generate", "time/score", "time/update", "train/completions_per_s")


class TrainingDivergedError(RuntimeError):
    """A non-finite loss or gradient; the message names the step and the last good checkpoint."""


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
    from accelerate import Accelerator

    from components.model.reflective import ReflectiveModel

    if cfg.rollout.backend == "vllm":            # refuse before loading anything
        from components.training.vllm_rollouts import require_vllm
        require_vllm()
    # cpu=True without CUDA: under torchrun/`accelerate launch --multi_gpu` that gives MULTI_CPU (gloo).
    acc = Accelerator(cpu=not torch.cuda.is_available())
    rank, world, main = acc.process_index, acc.num_processes, acc.is_main_process
    say = log if main else (lambda _m: None)
    out_dir, model_dir, data_path = Path(out_dir), Path(model_dir), Path(data_path)
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
    ref_model = None
    if cfg.grpo.kl_coef > 0:                     # the reference is always the initial policy
        ref_model = ReflectiveModel.load(model_dir, device=str(acc.device)).model
        ref_model.requires_grad_(False).eval()
    data, too_long = fit_to_context(data, rm.prompt_fits(data.problems, cfg.rollout.max_new_tokens))
    if too_long:
        say(f"train: skipping {too_long} of {too_long + len(data)} problems whose prompt leaves no room for "
            f"{cfg.rollout.max_new_tokens} new tokens in the model's {rm.max_positions}-token context")
    fsdp = world > 1 and par.fsdp_requested(acc)
    if fsdp:                                     # shard before the optimizer sees the parameters
        settings = par.fsdp_settings(acc)
        par.broadcast_from_main(rm.model, rm.head, ref_model)   # every rank starts from rank 0's weights
        par.shard_policy(rm.model, settings)
        par.shard_head(rm.head)
        if ref_model is not None:
            par.shard_policy(ref_model, settings, checkpointing=False)
    joint = joint_module = PolicyWithHead(rm.model, rm.head, cfg.spr.backbone_grad_scale, rm.spec.hidden_layer)
    policy_params = list(rm.model.parameters())
    head_params = list(rm.head.parameters())
    optimizer = torch.optim.AdamW(
        [{"params": policy_params, "lr": cfg.optim.policy_lr}, {"params": head_params, "lr": cfg.optim.head_lr}],
        weight_decay=cfg.optim.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factors(cfg))
    state = ckpt.TrainerState(step=0, config=flat_cfg, architecture=arch or {}, **identity)
    if loaded:
        if fsdp:
            par.load_optimizer_state(joint, optimizer, loaded.optimizer, loaded.path)
        else:
            par.check_unsharded_optimizer_state(loaded.optimizer, loaded.path)
            optimizer.load_state_dict(loaded.optimizer)
        scheduler.load_state_dict(loaded.state.scheduler)
        ckpt.restore_rng(loaded.rng)
        state = dataclasses.replace(loaded.state, config=flat_cfg)
    if not fsdp:                                 # DDP (or nothing) through accelerate
        joint = acc.prepare(joint)
    reduce_sum = par.reducer(acc)

    run_log: RunLog = SilentRunLog()
    if main and tracking_uri:
        run_log = MlflowRunLog(tracking_uri, cfg.tracking.experiment, resume_run_id=state.mlflow_run_id,
                               run_name=f"train-{model_dir.name}-{time.strftime('%Y%m%d-%H%M%S')}",
                               tags={"inputs_key": out_dir.name, "base_model_digest": identity["base_model_digest"]})
        state.mlflow_run_id = run_log.run_id
        run_log.log_params({**flat_cfg, "model_dir": str(model_dir), "data_path": str(data_path),
                            "world_size": world, "head_features": rm.head.features,
                            "policy_parameters": sum(p.numel() for p in policy_params),
                            "head_parameters": sum(p.numel() for p in head_params)})
        run_log.set_tags({"data_version": identity["data_digest"], "data_rows": str(len(data)),
                          **({"resumed_from": str(loaded.path)} if loaded else {})})
        if not run_log.resumed:
            run_log.log_dataset(data_path, data_path.parent.name or data_path.stem, "training", identity["data_digest"])
    say(f"train: {len(data)} problems, {cfg.steps} steps x {per_step} prompts x G={cfg.rollout.group_size} "
        f"on {world} process(es){' (FSDP)' if fsdp else ''}, head reads {rm.head.features}")

    sampling = SamplingConfig(temperature=cfg.rollout.temperature, top_p=cfg.rollout.top_p,
                              max_new_tokens=cfg.rollout.max_new_tokens)
    engine = None
    if cfg.rollout.backend == "vllm":            # a colocated engine, started from the weights just loaded
        from components.training.vllm_rollouts import VLLMRollouts, context_needed
        engine = VLLMRollouts(rm, loaded.model_dir if loaded else model_dir, cfg.rollout.vllm_memory_fraction,
                              context_needed(rm, data.problems, cfg.rollout.max_new_tokens), cfg.seed + rank,
                              distributed=world > 1)
        say(f"train: rollouts from vLLM ({cfg.rollout.vllm_memory_fraction:.0%} of the GPU's memory per process)")
    last_ckpt = loaded.path if loaded else None
    saved_step = state.step
    aha_tagged = False

    def save(sync: bool = True) -> Path:
        """Checkpoint the current step (main process writes; `sync` waits for the others)."""
        nonlocal last_ckpt, saved_step
        state.scheduler = scheduler.state_dict()
        if fsdp and not sync:                # gathering full states needs every process
            return last_ckpt
        if sync:
            acc.wait_for_everyone()
        snap = par.FullStateSnapshot.take(rm, joint, optimizer) if fsdp else None
        if main:
            ckpt.save_checkpoint(ckpt_root, snap or rm, snap or optimizer, state, cfg.checkpoint.keep_last)
        if sync:
            acc.wait_for_everyone()
        last_ckpt, saved_step = ckpt_root / f"step-{state.step:06d}", state.step
        return last_ckpt

    restore_sigterm = route_sigterm()           # a Prefect cancel or an eviction: like Ctrl-C
    try:
        while state.step < cfg.steps:
            s = state.step + 1                   # 1-based number of the step being made
            _seed_step(cfg.seed, s, rank)
            t0 = time.perf_counter()
            mine = step_prompts(len(data), s - 1, per_step, cfg.seed)[rank * per_step // world:(rank + 1) * per_step // world]
            rm.model.eval()
            if engine is not None:               # vLLM samples; hidden states come from the update below
                groups = engine.generate([data.problems[i] for i in mine], cfg.rollout.group_size, sampling,
                                         seed=_gen_seed(cfg.seed, s, rank) % (2**31))
                t1 = time.perf_counter()
                cands = [c for g in groups for c in g]
                rewards = [grade_reward(c.text, data.answers[mine[c.prompt_index]], cfg.reward.format_reward, c.think)
                           for c in cands]
            else:
                with par.gathered(rm.model), par.gathered(rm.head):   # full parameters (no-op unsharded)
                    try:
                        groups = rm.generate([data.problems[i] for i in mine], cfg.rollout.group_size, sampling,
                                             seed=_gen_seed(cfg.seed, s, rank),
                                             batch_size=cfg.rollout.generate_batch_size, score=False)
                    except RuntimeError as exc:   # sampling refuses NaN/inf probabilities
                        if "inf" in str(exc) or "nan" in str(exc):
                            raise TrainingDivergedError(_diverged(s, "probabilities while sampling", last_ckpt)) from None
                        raise
                    t1 = time.perf_counter()
                    cands = [c for g in groups for c in g]
                    rewards = [grade_reward(c.text, data.answers[mine[c.prompt_index]], cfg.reward.format_reward, c.think)
                               for c in cands]
                    rm.score_candidates(cands)
                g_rewards, g_scores, g_lengths, correct, hm = _track(acc, rewards, cands, cfg.rollout.group_size)
            t2 = time.perf_counter()

            adv = group_advantages(torch.tensor(rewards), cfg.rollout.group_size, cfg.grpo.eps)
            prompt_ids = [rm.encode_prompt(data.problems[i]) for i in mine]
            batch = build_batch([prompt_ids[c.prompt_index] for c in cands], cands, rewards,
                                rm.tokenizer.pad_token_id).to(acc.device)
            ref_lp = reference_logprobs(ref_model, batch, cfg.rollout.temperature) if ref_model is not None else None
            joint.train()
            spr_kind = loss_kind_at(s - 1, cfg.spr.loss, cfg.spr.bce_warmup_steps, cfg.spr.warmup_loss)
            jl = joint_loss(joint, batch, adv.to(acc.device), cfg, spr_kind, ref_lp, reduce_sum, world)
            if engine is not None:               # head scores (eval mode) on the update pass's hidden states
                from components.training.vllm_rollouts import scores_from_update
                scores_from_update(rm, joint_module.last_step_hidden, batch, cands)
                g_rewards, g_scores, g_lengths, correct, hm = _track(acc, rewards, cands, cfg.rollout.group_size)
            if not math.isfinite(jl.policy_loss) or not math.isfinite(jl.spr_loss):
                raise TrainingDivergedError(_diverged(s, f"loss (policy {jl.policy_loss}, spr {jl.spr_loss})", last_ckpt))
            optimizer.zero_grad(set_to_none=True)
            acc.backward(jl.total)
            max_norm = cfg.optim.grad_clip if cfg.optim.grad_clip > 0 else float("inf")
            grad_norm = (par.clip_grad_norm(joint.parameters(), max_norm) if fsdp
                         else float(acc.clip_grad_norm_(joint.parameters(), max_norm)))
            if not math.isfinite(grad_norm):
                raise TrainingDivergedError(_diverged(s, f"gradient norm {grad_norm}", last_ckpt))
            lrs = scheduler.get_last_lr()
            with deferred_interrupts():             # parameters, optimizer and step move together
                optimizer.step()
                scheduler.step()
                if not (par.all_finite((*policy_params, *head_params), reduce_sum) if fsdp else
                        all(bool(torch.isfinite(p).all()) for p in (*policy_params, *head_params))):
                    raise TrainingDivergedError(_diverged(s, "parameters after the update", last_ckpt))
                if engine is not None:           # the engine samples the next step from the new weights
                    engine.sync(par.iter_full_parameters(rm.model))
                t3 = time.perf_counter()
                tied = reduce_sum(float(_tied_groups(rewards, cfg.rollout.group_size)))
                metrics = {
                    "train/reward_mean": sum(g_rewards) / len(g_rewards),
                    "train/pass_rate": sum(correct) / len(correct),
                    "train/policy_loss": jl.policy_loss, "train/spr_loss": jl.spr_loss,
                    "train/kl": jl.kl if ref_model is not None else math.nan,
                    "train/entropy": jl.entropy, "train/clip_fraction": jl.clip_fraction,
                    "train/response_length": sum(g_lengths) / len(g_lengths),
                    "train/score_gap": hm.score_gap, "train/sprm_auroc": hm.auroc,
                    "train/sprm_auroc_within": hm.auroc_within,
                    "train/sprm_accuracy": hm.accuracy,
                    "train/score_correct": hm.mean_correct, "train/score_incorrect": hm.mean_incorrect,
                    "train/spr_kept": jl.spr_kept, "train/spr_kept_pos": jl.spr_kept_pos,
                    "train/spr_kept_neg": jl.spr_kept_neg, "train/spr_bce_phase": float(spr_kind != "spr"),
                    "train/no_signal_groups": tied / per_step, "train/grad_norm": grad_norm,
                    "train/lr_policy": lrs[0], "train/lr_head": lrs[1],
                    "train/param_local_fraction": par.local_fraction((*policy_params, *head_params)),
                    "time/generate": t1 - t0, "time/score": t2 - t1, "time/update": t3 - t2,
                    "train/completions_per_s": len(g_rewards) / max(t3 - t0, 1e-9),
                }
                state.history.append({"step": float(s), **metrics})
                state.step = s
                run_log.log_metrics(metrics, step=s)
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
                save()
    except KeyboardInterrupt:
        if state.step > saved_step:
            path = save(sync=world == 1)     # other processes may be gone already
            say(f"train: interrupted after step {state.step}; saved {path} (resume with --resume)")
        else:
            say(f"train: interrupted; the last checkpoint {last_ckpt} is current")
        run_log.close("KILLED")
        raise
    except BaseException:
        run_log.close("FAILED")
        raise
    finally:
        restore_sigterm()

    final_ckpt = save() if state.step > saved_step or last_ckpt is None else last_ckpt
    final_model = out_dir / "model"
    snap = par.FullStateSnapshot.take(rm) if fsdp else None
    if main:
        (snap or rm).save(final_model)
    acc.wait_for_everyone()
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


def _tied_groups(rewards: list[float], g: int) -> int:
    return sum(len(set(rewards[i:i + g])) == 1 for i in range(0, len(rewards), g))


def _diverged(step: int, what: str, last: Path | None) -> str:
    keep = f"the last good checkpoint is {last}" if last else "no checkpoint was written yet"
    return f"step {step}: non-finite {what}; stopped, nothing saved ({keep}). Lower train.optim.policy_lr/head_lr"


def _seed_step(seed: int, step: int, rank: int) -> None:
    """Seed torch (head dropout) per step and process: a resumed run repeats the uninterrupted one."""
    torch.manual_seed(_gen_seed(seed, step, rank) + 7919)


def _gen_seed(seed: int, step: int, rank: int) -> int:
    return (seed * 1_000_003 + step * 1_009 + rank * 7_919_993) % (2**63 - 1)


def _track(acc, rewards: list[float], cands, group_size: int) -> tuple[list[float], list[float], list[float], list[bool], object]:
    """Batch-wide rewards, head scores and lengths (all processes) and the head's metrics on them."""
    g_rewards, g_scores, g_lengths = par.gather_columns(
        acc, [list(rewards), [c.score for c in cands], [float(c.n_tokens) for c in cands]])
    correct = [r > 0.5 for r in g_rewards]
    return g_rewards, g_scores, g_lengths, correct, head_metrics(g_scores, correct, group_size)
