"""Training rollouts from a vLLM engine colocated with the trainer (`train.rollout.backend: vllm`).

One `vllm.LLM` per training process, on that process's GPU, holding `rollout.vllm_memory_fraction`
of its memory (weights in bf16 + KV cache); the rest is the trainer's. Under DDP/FSDP every
process runs its own engine on its own prompts (`distributed_executor_backend="external_launcher"`,
tensor parallel size 1), as TRL's colocate mode does.

What vLLM returns is only what the policy sampled: token ids, each sampled token's log-prob at
temperature 1 (vLLM's raw log-probs, before temperature and top-p) and why it stopped. Everything
the losses need comes from the update's own forward pass (`PolicyWithHead`): the GRPO ratio's
log-probs (the trainer is on-policy, so the "old" log-probs are that pass's own, detached) and the
layer -2 hidden states at the step positions for the SPR loss (eq. 6). The candidates built here
therefore carry no hidden states; their step log-prob features (min and mean token log-prob of
each step, used by a `hidden+logprob` head) come from vLLM's log-probs.

After every optimizer step `sync` loads the policy's new weights into the engine
(the in-process engine's model `load_weights`, HF parameter names, as TRL's colocate mode does;
`LLM.apply_model` where that attribute path is absent), one tensor at a time; for an
FSDP policy each tensor is all-gathered first, so every process passes through the same sequence.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import torch

from components.model.candidate import Candidate, SamplingConfig
from components.inference.vllm_backend import BackendUnavailable, require_gpu_vllm


def require_vllm() -> Any:
    """vLLM and a CUDA device for `train.rollout.backend: vllm`, or one line saying what to install."""
    return require_gpu_vllm("train.rollout.backend: vllm", "set train.rollout.backend: hf")


def engine_kwargs(model_dir: Path, memory_fraction: float, max_len: int, seed: int) -> dict[str, Any]:
    """The `vllm.LLM(...)` arguments of a colocated engine (pure: tests check them without vLLM).

    The external launcher keeps the engine in this process (one per training process, tensor
    parallel size 1), so the policy's tensors reach it without a copy through another process.
    Log-probs are vLLM's raw ones (temperature 1, before top-p): the head's step features.
    """
    return {
        "model": str(model_dir), "dtype": "bfloat16", "gpu_memory_utilization": memory_fraction,
        "max_model_len": max_len, "seed": seed, "enable_prefix_caching": True,   # a group shares its prompt
        "tensor_parallel_size": 1, "distributed_executor_backend": "external_launcher",
        "max_num_batched_tokens": 4096, "logprobs_mode": "raw_logprobs",
    }


def context_needed(rm, problems: Sequence[str], max_new_tokens: int) -> int:
    """The engine's context length: the longest training prompt plus `max_new_tokens`, within the model's."""
    if getattr(rm.tokenizer, "chat_template", None):
        texts = [rm.tokenizer.apply_chat_template([{"role": "user", "content": p}], tokenize=False,
                                                  add_generation_prompt=True) for p in problems]
    else:
        texts = list(problems)
    longest = max((len(ids) for ids in rm.tokenizer(texts, add_special_tokens=False)["input_ids"]), default=0)
    return min(rm.max_positions, longest + max_new_tokens)


def vllm_sampling_params(vllm: Any, sampling: SamplingConfig, n: int, seed: int, stops: Sequence[int],
                         **extra: Any) -> Any:
    """The trainer's sampling settings (temperature, top_p, stop tokens) with the sampled tokens' log-probs."""
    return vllm.SamplingParams(
        n=n, temperature=sampling.temperature, top_p=sampling.top_p,
        repetition_penalty=sampling.repetition_penalty, max_tokens=sampling.max_new_tokens, seed=seed,
        stop_token_ids=list(stops), skip_special_tokens=False, logprobs=0, **extra)


def candidate_from_tokens(rm, prompt_index: int, prompt: Sequence[int], ids: Sequence[int],
                          logprobs: Sequence[float], finished: bool) -> Candidate:
    """A `Candidate` without hidden states from sampled ids and their temperature-1 log-probs."""
    from components.model.reflective import _after_think_open
    from components.model.steps import inside_think_after, step_logprob_features, step_positions

    ids = list(ids)
    inside = inside_think_after(list(prompt), rm.step_tokens)
    positions = step_positions(ids, rm.step_tokens, start_inside=inside)
    first = 0 if inside else _after_think_open(ids, rm.step_tokens.think_open)
    lp = torch.tensor(list(logprobs), dtype=torch.float32)
    text = rm.tokenizer.decode(ids, skip_special_tokens=False)
    for stop in rm.stop_ids():
        text = text.removesuffix(rm.tokenizer.decode([stop]))
    hidden = rm.model.config.get_text_config().hidden_size
    return Candidate(prompt_index=prompt_index, text=text, token_ids=ids, step_positions=positions,
                     step_hidden=torch.zeros(0, hidden), step_logprob=step_logprob_features(lp, positions, first),
                     mean_logprob=float(lp.mean()) if ids else 0.0, finished=finished, think=rm.thinks,
                     step_start=first)


class VLLMRollouts:
    """A colocated vLLM engine that samples the trainer's rollouts and follows the policy's weights."""

    def __init__(self, rm, model_dir: Path, memory_fraction: float, max_len: int, seed: int, distributed: bool):
        vllm = require_vllm()
        # The external launcher reads the process layout from torchrun's variables.
        if distributed:
            for key in ("RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"):
                if key not in os.environ:
                    raise BackendUnavailable(f"train.rollout.backend: vllm with several processes needs {key} "
                                             "in the environment; start training with accelerate launch or torchrun")
        else:
            for key, value in (("RANK", "0"), ("LOCAL_RANK", "0"), ("WORLD_SIZE", "1"), ("MASTER_ADDR", "127.0.0.1")):
                os.environ.setdefault(key, value)
            if "MASTER_PORT" not in os.environ:
                import socket

                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", 0))
                    os.environ["MASTER_PORT"] = str(sock.getsockname()[1])
        self.vllm = vllm
        self.rm = rm
        self.llm = vllm.LLM(**engine_kwargs(model_dir, memory_fraction, max_len, seed))

    def generate(self, problems: Sequence[str | list[int]], n: int, sampling: SamplingConfig,
                 seed: int) -> list[list[Candidate]]:
        """`n` candidates per problem (text or `encode_prompt` ids, grouped as `ReflectiveModel.generate`
        groups them), no hidden states."""
        prompts = [p if isinstance(p, list) else self.rm.encode_prompt(p) for p in problems]
        params = vllm_sampling_params(self.vllm, sampling, n, seed, self.rm.stop_ids())
        outputs = self.llm.generate([{"prompt_token_ids": p} for p in prompts], params, use_tqdm=False)
        groups: list[list[Candidate]] = []
        for pi, out in enumerate(outputs):
            group = []
            for o in out.outputs:
                ids = list(o.token_ids)
                lps = [o.logprobs[k][tok].logprob for k, tok in enumerate(ids)] if o.logprobs else [0.0] * len(ids)
                group.append(candidate_from_tokens(self.rm, pi, prompts[pi], ids, lps, o.finish_reason == "stop"))
            groups.append(group)
        return groups

    def sync(self, weights: Iterable[tuple[str, torch.Tensor]]) -> int:
        """Load (HF name, tensor) pairs into the engine's model; returns how many were loaded."""
        count = 0

        def load(model) -> None:
            nonlocal count
            for name, tensor in weights:
                model.load_weights(weights=[(name, tensor)])
                count += 1
        worker = getattr(getattr(self.llm.llm_engine, "model_executor", None), "driver_worker", None)
        runner = getattr(worker, "model_runner", None) or getattr(getattr(worker, "worker", None), "model_runner", None)
        if runner is not None:     # the in-process engine's model (what TRL's colocate mode loads into)
            load(runner.model)
        else:
            self.llm.apply_model(load)
        self.llm.reset_prefix_cache()      # cached prompt blocks were computed with the old weights
        return count


def scores_from_update(rm, step_hidden: torch.Tensor, batch, candidates: Sequence[Candidate]) -> None:
    """Fill each candidate's step scores from the update pass's hidden states (head in eval mode).

    `step_hidden` [S, h] are the layer -2 states the update's forward took at `batch.step_rows /
    step_cols`, in the candidates' order: the scores the captured path would have given.
    """
    from components.model.steps import aggregate_scores

    was_training = rm.head.training
    rm.head.eval()
    with torch.no_grad():
        logits = rm.head(step_hidden.detach().float(), batch.step_logprob.to(step_hidden.device))
    rm.head.train(was_training)
    scores = torch.sigmoid(logits).float().cpu().tolist()
    offset = 0
    for c in candidates:
        c.step_scores = scores[offset: offset + c.n_steps]
        c.score = aggregate_scores(c.step_scores, rm.aggregation)
        offset += c.n_steps


class EngineRollout:
    """The trainer's `Rollout` from a colocated engine: no captured states (the update's forward gives
    them, `scores_from_update`); the engine loads the new weights after every optimizer step."""

    hidden_from_update = True

    def __init__(self, engine: VLLMRollouts, problems: Sequence[str], sampling: SamplingConfig):
        self.engine, self.problems, self.sampling = engine, problems, sampling

    def sample(self, indices: Sequence[int], group_size: int, seed: int):
        from components.training.step import Samples

        prompts = [self.engine.rm.encode_prompt(self.problems[i]) for i in indices]
        groups = self.engine.generate(prompts, group_size, self.sampling, seed=seed % (2**31))
        return Samples([c for g in groups for c in g], prompts)

    def after_update(self, model) -> None:
        from components.training import parallel as par

        self.engine.sync(par.iter_full_parameters(model))
