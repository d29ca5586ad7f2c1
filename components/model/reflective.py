"""The reflective model: one causal LM that generates and, through the SPRM head, scores.

`ReflectiveModel.generate` samples N candidates per problem with a KV-cached loop that keeps,
for every sampled token, the second-to-last layer's hidden state at the position that produced
it (= the position just before a step token, docs/method.md section 1) and the token's log-prob.
Step scores then come from those captured tensors: no second forward pass (section 4,
improvement). `score_second_pass` recomputes the same from one plain forward pass, for backends
that give no hidden states (vLLM) and to check the first path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import torch

from components.model.candidate import Candidate, SamplingConfig, stack_step_features
from components.atomic import save_dir
from components.model.checkpoint import ModelDirError, ReflectiveSpec, check_model_dir, head_file
from components.model.sampling import SampledBatch, sample_tokens
from components.model.sprm_head import HEAD_FILE, Features, SPRMHead
from components.model.steps import (Aggregation, StepTokens, aggregate_scores, inside_think_after,
                                    pool_step_states, step_logprob_features, step_positions)


DTYPE_NAMES = ("auto", "float32", "bfloat16", "float16")


def resolve_dtype(dtype: torch.dtype | str | None) -> torch.dtype | str:
    """A torch dtype, or "auto" (None too): the dtype argument of `from_pretrained`."""
    if dtype is None or isinstance(dtype, torch.dtype):
        return dtype or "auto"
    if dtype not in DTYPE_NAMES:
        raise ValueError(f"dtype {dtype!r}: expected one of {', '.join(DTYPE_NAMES)}")
    return dtype if dtype == "auto" else getattr(torch, dtype)


class PromptError(ValueError):
    """An empty or over-long prompt; the message names it."""


class ReflectiveModel:
    """Policy (any HF causal LM) + SPRM head on its second-to-last layer."""

    def __init__(self, model, tokenizer, head: SPRMHead, spec: ReflectiveSpec,
                 head_trained: bool = False, aggregation: Aggregation = "geometric"):
        self.model = model
        self.tokenizer = tokenizer
        self.head = head
        self.spec = spec
        self.head_trained = head_trained
        self.aggregation: Aggregation = aggregation
        self.step_tokens = StepTokens.from_tokenizer(tokenizer, spec.step_match)
        self.max_positions = int(getattr(model.config, "max_position_embeddings", 1 << 30))

    # ------------------------------------------------------------------ loading and saving
    @classmethod
    def load(cls, model_dir: Path | str, device: str = "cpu", dtype: torch.dtype | str | None = None,
             features: Features | None = None) -> ReflectiveModel:
        """Load an HF causal-LM directory and its head (fresh head when the file is absent).

        `dtype` None or "auto": the dtype the checkpoint was saved in (transformers' "auto", so a
        bf16 checkpoint loads in bf16); else a torch dtype or its name ("float32", "bfloat16").
        The chat template comes from the checkpoint's tokenizer. A tokenizer with more tokens than
        the model embeds is refused.
        """
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        model_dir = Path(model_dir)
        check_model_dir(model_dir)
        spec = ReflectiveSpec.read(model_dir)
        if features is not None and features != spec.sprm_features:
            spec = replace(spec, sprm_features=features)
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
            model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=resolve_dtype(dtype))
        except (OSError, ValueError, KeyError) as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
            raise ModelDirError(f"{model_dir}: cannot load as a causal LM: {first}") from None
        rows = model.get_input_embeddings().weight.shape[0]
        if len(tokenizer) > rows:
            raise ModelDirError(f"{model_dir}: tokenizer {type(tokenizer).__name__} has {len(tokenizer)} tokens but "
                                f"the model ({type(model).__name__}) embeds only {rows}; use the checkpoint's "
                                "own tokenizer")
        model.to(device).eval()
        hidden = model.config.get_text_config().hidden_size
        path = head_file(model_dir)
        if path is not None:
            head = SPRMHead.load(path, hidden)
            spec = replace(spec, sprm_features=head.features)
        else:
            head = SPRMHead(hidden, spec.sprm_features)
        head.to(device=device, dtype=torch.float32).eval()
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        return cls(model, tokenizer, head, spec, head_trained=path is not None)

    def save(self, out_dir: Path | str) -> Path:
        """Write the HF directory, the head and the spec atomically."""
        def write(tmp: Path) -> None:
            self.model.save_pretrained(str(tmp), safe_serialization=True)
            self.tokenizer.save_pretrained(str(tmp))
            self.head.save(tmp / HEAD_FILE)
            self.spec.write(tmp)
        return save_dir(Path(out_dir), write)

    def default_sampling(self) -> SamplingConfig:
        """Sampling settings from the directory's generation_config.json (else the defaults)."""
        gc = getattr(self.model, "generation_config", None)
        base = SamplingConfig()
        if gc is None:
            return base
        return SamplingConfig(
            temperature=float(gc.temperature if gc.do_sample and gc.temperature is not None else
                              (base.temperature if gc.do_sample else 0.0)),
            top_p=float(gc.top_p if gc.top_p is not None else base.top_p),
            repetition_penalty=float(gc.repetition_penalty or 1.0),
            max_new_tokens=int(gc.max_new_tokens or base.max_new_tokens))

    @property
    def thinks(self) -> bool:
        """Whether the vocabulary has `<think>`: else the whole completion is reasoning and the
        answer is its last box (`final_answer(..., think=False)`)."""
        return self.step_tokens.think_open is not None

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    # ------------------------------------------------------------------ prompts
    def encode_prompt(self, problem: str) -> list[int]:
        """Chat-template one problem into prompt ids; refuse empty or over-long prompts."""
        if not problem or not problem.strip():
            raise PromptError("empty prompt: give a problem text")
        messages = [{"role": "user", "content": self.spec.user_turn(problem)}]
        if getattr(self.tokenizer, "chat_template", None):
            text = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            ids = self.tokenizer.encode(text, add_special_tokens=False)
        else:
            ids = self.tokenizer.encode(self.spec.user_turn(problem))
        if len(ids) >= self.max_positions:
            raise PromptError(f"prompt of {len(ids)} tokens exceeds the model's context of "
                              f"{self.max_positions}; shorten the problem")
        return ids

    def prompt_fits(self, problems: Sequence[str], max_new_tokens: int) -> list[bool]:
        """Whether each problem's prompt leaves `max_new_tokens` of context (batched encoding)."""
        if getattr(self.tokenizer, "chat_template", None):
            texts = [self.tokenizer.apply_chat_template([{"role": "user", "content": self.spec.user_turn(p)}],
                                                        tokenize=False,
                                                        add_generation_prompt=True) for p in problems]
        else:
            texts = [self.spec.user_turn(p) for p in problems]
        lengths = [len(ids) for ids in self.tokenizer(texts, add_special_tokens=False)["input_ids"]]
        return [bool(p.strip()) and n + max_new_tokens <= self.max_positions for p, n in zip(problems, lengths)]

    # ------------------------------------------------------------------ generation
    @torch.no_grad()
    def generate(self, problems: Sequence[str | list[int]], n: int, sampling: SamplingConfig = SamplingConfig(),
                 seed: int = 0, batch_size: int = 256, score: bool = True,
                 progress=None, capture: bool = True) -> list[list[Candidate]]:
        """Sample `n` candidates per problem; fill step scores from captured hidden states.

        Candidates of one problem stay together; batches hold up to `batch_size` sequences.
        `progress` (optional) is called with the number of sequences finished after each batch.
        `capture=False` samples without keeping hidden states (no scoring possible; the
        candidates' `step_hidden` is then empty): the baseline of the scoring benchmark.
        A problem is its text, or its prompt ids already made by `encode_prompt` (a caller that
        needs the ids too encodes once).
        """
        prompts = [p if isinstance(p, list) else self.encode_prompt(p) for p in problems]
        jobs = [(i, prompts[i]) for i in range(len(prompts)) for _ in range(n)]
        out: list[list[Candidate]] = [[] for _ in problems]
        gen = torch.Generator(device=self.device).manual_seed(seed)
        for start in range(0, len(jobs), batch_size):
            chunk = jobs[start:start + batch_size]
            max_new = min(sampling.max_new_tokens, self.max_positions - max(len(p) for _, p in chunk))
            batch = sample_tokens(self.model, [p for _, p in chunk], self.stop_ids(), sampling,
                                  max_new, gen, self.tokenizer.pad_token_id, self.spec.hidden_layer,
                                  capture=capture, stats=capture and self.reads_entropy)
            for row, (pi, prompt) in enumerate(chunk):
                out[pi].append(self._candidate(pi, prompt, batch, row))
            if progress is not None:
                progress(len(chunk))
        if score and capture:
            self.score_candidates([c for cands in out for c in cands])
        return out

    def stop_ids(self) -> list[int]:
        """The token ids that end a completion (the tokenizer's and the generation config's EOS)."""
        ids = {self.tokenizer.eos_token_id}
        eos = getattr(getattr(self.model, "generation_config", None), "eos_token_id", None)
        ids.update(eos if isinstance(eos, list) else [eos])
        return sorted(i for i in ids if i is not None)

    def _candidate(self, pi: int, prompt: list[int], batch: SampledBatch, row: int) -> Candidate:
        length = int(batch.lengths[row])
        return self.candidate_from(pi, prompt, batch.tokens[row, :length].tolist(), batch.logprobs[row, :length],
                                   batch.hidden[row, :length] if batch.hidden is not None else None,
                                   bool(batch.finished[row]),
                                   batch.stats[row, :length] if batch.stats is not None else None)

    @property
    def reads_entropy(self) -> bool:
        """Whether the head reads the token entropy (sampling then records it, `sample_tokens(stats=)`)."""
        return self.head.n_extra > 2

    def candidate_from(self, pi: int, prompt: list[int], ids: list[int], logprobs: torch.Tensor,
                       hidden: torch.Tensor | None, finished: bool,
                       token_stats: torch.Tensor | None = None) -> Candidate:
        """A completion `ids` of `prompt` with its per-token log-probs [T], captured states [T, h]
        (None: not captured) and token statistics [T, 2] (entropy, not-most-likely; None: not
        recorded) as a `Candidate` with its step features (not yet scored)."""
        length = len(ids)
        inside = inside_think_after(prompt, self.step_tokens)
        positions = step_positions(ids, self.step_tokens, start_inside=inside)
        first = 0 if inside else _after_think_open(ids, self.step_tokens.think_open)
        hidden = self._step_states(hidden, positions, first) if hidden is not None else torch.zeros(0)  # [n_steps, h]
        text = self.tokenizer.decode(ids, skip_special_tokens=False)
        for stop in self._stop_special_texts():
            text = text.removesuffix(stop)
        return Candidate(
            prompt_index=pi, text=text, token_ids=ids, step_positions=positions,
            step_hidden=hidden.cpu(), step_logprob=step_logprob_features(logprobs, positions, first, token_stats),
            mean_logprob=float(logprobs.mean()) if length else 0.0,
            finished=finished, think=self.thinks, step_start=first)

    def _step_states(self, states: torch.Tensor, positions: list[int], first: int) -> torch.Tensor:
        """What the head reads of captured states [T, h]: the state before each step token, or with
        a `pooled+logprob` head the mean over the step's tokens. [n_steps, h] fp32."""
        if self.head.pools:
            return pool_step_states(states, positions, first)
        return states[positions].float()

    def _stop_special_texts(self) -> list[str]:
        return [self.tokenizer.decode([i]) for i in self.stop_ids()]

    # ------------------------------------------------------------------ scoring
    @torch.no_grad()
    def score_steps(self, step_hidden: torch.Tensor, step_logprob: torch.Tensor) -> torch.Tensor:
        """Step scores in (0, 1) for captured features [n, h] and [n, k] (k = 2 or 5)."""
        if step_hidden.shape[0] == 0:
            return torch.zeros(0)
        dev = next(self.head.parameters()).device
        logits = self.head(step_hidden.to(dev, torch.float32), step_logprob.to(dev, torch.float32))
        return torch.sigmoid(logits).float().cpu()

    def score_candidates(self, candidates: Sequence[Candidate]) -> None:
        """Fill `step_scores` and `score` of each candidate with one batched head call."""
        if not candidates:
            return
        self.head.eval()
        scores = self.score_steps(*stack_step_features(candidates))
        offset = 0
        for c in candidates:
            c.step_scores = scores[offset: offset + c.n_steps].tolist()
            c.score = aggregate_scores(c.step_scores, self.aggregation)
            offset += c.n_steps

    @torch.no_grad()
    def score_second_pass(self, problems: Sequence[str], completions: Sequence[Sequence[int]],
                          batch_size: int = 64) -> list[Candidate]:
        """Score completions (token ids) with one plain forward pass per batch.

        Candidate i belongs to problem i. Gives the same features as capture during generation.
        """
        from components.model.sampling import forward_features

        out: list[Candidate] = []
        for start in range(0, len(problems), batch_size):
            prompts = [self.encode_prompt(p) for p in problems[start:start + batch_size]]
            comps = [list(c) for c in completions[start:start + batch_size]]
            hidden, logprobs, *stats = forward_features(self.model, prompts, comps, self.tokenizer.pad_token_id,
                                                        self.spec.hidden_layer, stats=self.reads_entropy)
            for j, (prompt, ids) in enumerate(zip(prompts, comps)):
                inside = inside_think_after(prompt, self.step_tokens)
                positions = step_positions(ids, self.step_tokens, start_inside=inside)
                first = 0 if inside else _after_think_open(ids, self.step_tokens.think_open)
                lp = logprobs[j, :len(ids)]
                out.append(Candidate(
                    prompt_index=start + j, text=self.tokenizer.decode(ids), token_ids=ids,
                    step_positions=positions, step_hidden=self._step_states(hidden[j, :len(ids)], positions, first).cpu(),
                    step_logprob=step_logprob_features(lp, positions, first,
                                                       stats[0][j, :len(ids)] if stats else None),
                    mean_logprob=float(lp.mean()) if ids else 0.0, finished=True, think=self.thinks,
                    step_start=first))
        self.score_candidates(out)
        return out


def _after_think_open(ids: Sequence[int], think_open: int | None) -> int:
    """Index after the first `<think>` in `ids` (0 when absent)."""
    if think_open is not None and think_open in ids:
        return list(ids).index(think_open) + 1
    return 0
