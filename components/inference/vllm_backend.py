"""Optional vLLM generation backend (the `gpu` extra; docs/method.md section 4, second-pass scoring).

vLLM samples fast but returns no hidden states, so the step features the SPRM head reads are
recomputed by one batched second forward pass of the backbone over prompt + completion
(`ReflectiveModel.score_second_pass`, the reference's separate scoring server folded in). The
result is the same `Candidate` list the captured-state path gives, so every selector and
ablation works unchanged. vLLM is imported lazily; without it, `VLLMSampler` cannot be built and
says how to install it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from components.model.candidate import Candidate, SamplingConfig


class BackendUnavailable(RuntimeError):
    """The vLLM backend was asked for where vLLM is not installed."""


def _vllm() -> Any:
    try:
        import vllm
    except ImportError:
        raise BackendUnavailable("the vllm backend needs the `gpu` extra on a GPU machine: "
                                 "pip install -c constraints-gpu.txt -e '.[gpu]'; use --backend hf here") from None
    return vllm


def require_gpu_vllm(what: str, instead: str) -> Any:
    """vLLM and a CUDA device, or one line: `what` needs them, how to install, or `instead`."""
    try:
        import vllm
    except ImportError:
        raise BackendUnavailable(f"{what} needs vLLM, which is not installed here; on a GPU machine install it "
                                 f"with: pip install -c constraints-gpu.txt -e '.[gpu]' (or {instead})") from None
    import torch

    if not torch.cuda.is_available():
        raise BackendUnavailable(f"{what} needs a CUDA GPU and none is visible here; {instead}")
    return vllm


def sampling_params(sampling: SamplingConfig, n: int, seed: int, stop_ids: Sequence[int]) -> Any:
    """Our `SamplingConfig` as vLLM `SamplingParams` (n samples per prompt, token ids kept)."""
    vllm = _vllm()
    return vllm.SamplingParams(
        n=n, temperature=sampling.temperature, top_p=sampling.top_p,
        repetition_penalty=sampling.repetition_penalty, max_tokens=sampling.max_new_tokens,
        seed=seed, stop_token_ids=list(stop_ids), skip_special_tokens=False)


class VLLMSampler:
    """`CandidateSampler` that generates with vLLM and scores with the reflective model's head.

    `rm` is a loaded `ReflectiveModel` (its backbone runs the second pass; put it on the GPU
    vLLM shares, e.g. `ReflectiveModel.load(dir, device="cuda")`); `llm` a `vllm.LLM` on the same
    weights.
    """

    def __init__(self, rm: Any, llm: Any, score_batch_size: int = 32):
        self.rm = rm
        self.llm = llm
        self.score_batch_size = score_batch_size

    @classmethod
    def from_reflective(cls, rm: Any, model_dir: Path | str | None = None,
                        gpu_memory_utilization: float = 0.5, **llm_kwargs: Any) -> VLLMSampler:
        """Start vLLM on `model_dir` (default: the directory `rm` was loaded from)."""
        vllm = _vllm()
        path = str(model_dir or rm.model.config.name_or_path)
        llm = vllm.LLM(model=path, gpu_memory_utilization=gpu_memory_utilization, **llm_kwargs)
        return cls(rm, llm)

    def generate(self, problems: Sequence[str], n: int, sampling: SamplingConfig, seed: int = 0,
                 batch_size: int = 256, progress=None) -> list[list[Candidate]]:
        """`n` candidates per problem: vLLM samples, then one batched second pass scores them.

        `batch_size` is unused (vLLM schedules its own batches); kept for the protocol, like
        `progress`, which is told every sequence at once when the scoring pass is done.
        """
        prompts = [{"prompt_token_ids": self.rm.encode_prompt(p)} for p in problems]
        params = sampling_params(sampling, n, seed, self.rm.stop_ids())
        outputs = self.llm.generate(prompts, params, use_tqdm=False)
        flat_problems, flat_ids, finished = [], [], []
        for pi, out in enumerate(outputs):
            for o in out.outputs:
                flat_problems.append(problems[pi])
                flat_ids.append(list(o.token_ids))
                finished.append(o.finish_reason == "stop")
        scored = self.rm.score_second_pass(flat_problems, flat_ids, batch_size=self.score_batch_size)
        grouped: list[list[Candidate]] = [[] for _ in problems]
        for k, (cand, done) in enumerate(zip(scored, finished)):
            cand.prompt_index = k // n
            cand.finished = done
            grouped[k // n].append(cand)
        if progress is not None:
            progress(len(problems) * n)
        return grouped
