"""`reflect bootstrap`: the embedded default policy, made here instead of downloaded.

Replaces "initialise from DeepSeek-R1-Distill-Qwen" for the CPU default:
train a byte-level BPE tokenizer on the synthetic task, build a tiny `Qwen2ForCausalLM`, and
fine-tune it (SFT, loss on the completion only) on step-by-step traces of which a share carries
one wrong step that propagates, so the policy is fallible: pass@1 well below pass@8. The output
is a normal HF model directory plus `reflective.json` (the head reads hidden+logprob features
at this scale, docs/method.md section 8) and `bootstrap_report.json` (held-out pass@1 and pass@8).
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from transformers import get_cosine_schedule_with_warmup

from components.atomic import save_dir
from components.console import bars_disabled, say
from components.data.synthetic import TaskConfig, generate
from components.model.candidate import SamplingConfig
from components.model.checkpoint import ReflectiveSpec
from components.model.sprm_head import Features
from components.model.tokenizer import BOS_TURN, EOS, build_task_tokenizer


@dataclass(frozen=True)
class TinyModelConfig:
    """Shape of the tiny Qwen2 policy (~1M parameters with the defaults)."""

    hidden_size: int = 128
    intermediate_size: int = 512
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    max_position_embeddings: int = 256
    vocab_size: int = 384


@dataclass(frozen=True)
class BootstrapConfig:
    """params.yaml section `bootstrap`."""

    seed: int = 0
    n_train: int = 50_000
    noise_rate: float = 0.3
    steps: int = 1200
    batch_size: int = 64
    lr: float = 3e-3
    warmup_steps: int = 50
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    eval_problems: int = 500
    eval_samples: int = 8
    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 64
    sprm_features: Features = "hidden+logprob"
    model: TinyModelConfig = field(default_factory=TinyModelConfig)


def _corpus(problems, extra=()) -> list[str]:
    # The chat scaffolding is in the corpus so that "user"/"assistant" become single tokens.
    scaffold = [f"{BOS_TURN}user\n", f"{BOS_TURN}assistant\n", f"{EOS}\n"] * 50
    return scaffold + [p.problem for p in problems] + [p.solution for p in problems] + list(extra)


def build_tiny(out_dir: Path, cfg: BootstrapConfig, task: TaskConfig, problems=None):
    """Tokenizer + randomly initialised tiny Qwen2, saved as an HF dir; returns (model, tok)."""
    from transformers import GenerationConfig, Qwen2Config, Qwen2ForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()

    torch.manual_seed(cfg.seed)
    if problems is None:
        problems = list(generate(2000, cfg.seed, task, noise_rate=cfg.noise_rate))
    tok = build_task_tokenizer(_corpus(problems), vocab_size=cfg.model.vocab_size)
    m = cfg.model
    qcfg = Qwen2Config(
        vocab_size=len(tok), hidden_size=m.hidden_size, intermediate_size=m.intermediate_size,
        num_hidden_layers=m.num_hidden_layers, num_attention_heads=m.num_attention_heads,
        num_key_value_heads=m.num_key_value_heads, max_position_embeddings=m.max_position_embeddings,
        tie_word_embeddings=True, bos_token_id=tok.convert_tokens_to_ids(BOS_TURN),
        eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    model = Qwen2ForCausalLM(qcfg)
    model.generation_config = GenerationConfig(
        do_sample=True, temperature=cfg.temperature, top_p=cfg.top_p, max_new_tokens=cfg.max_new_tokens,
        eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    _write_dir(out_dir, model, tok, cfg)
    return model, tok


def _write_dir(out_dir: Path, model, tok, cfg: BootstrapConfig, report: dict | None = None) -> None:
    def write(tmp: Path) -> None:
        model.save_pretrained(str(tmp), safe_serialization=True)
        tok.save_pretrained(str(tmp))
        ReflectiveSpec(sprm_features=cfg.sprm_features).write(tmp)
        if report is not None:
            (tmp / "bootstrap_report.json").write_text(json.dumps(report, indent=2) + "\n")
    save_dir(out_dir, write)


def tiny_model_dir(out_dir: Path | str, seed: int = 0, hidden_size: int = 64, layers: int = 2) -> Path:
    """A randomly initialised tiny model directory in well under a second (for tests)."""
    cfg = BootstrapConfig(seed=seed, model=TinyModelConfig(
        hidden_size=hidden_size, intermediate_size=hidden_size * 2, num_hidden_layers=layers,
        num_attention_heads=2, num_key_value_heads=1))
    problems = list(generate(300, seed, TaskConfig()))
    build_tiny(Path(out_dir), cfg, TaskConfig(), problems)
    return Path(out_dir)


def _encode(tok, problem: str, solution: str) -> tuple[list[int], int]:
    prompt = tok.apply_chat_template([{"role": "user", "content": problem}], tokenize=False,
                                     add_generation_prompt=True)
    p_ids = tok.encode(prompt, add_special_tokens=False)
    c_ids = tok.encode(solution, add_special_tokens=False) + [tok.eos_token_id]
    return p_ids + c_ids, len(p_ids)


def _batch(examples, pad_id: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    width = max(len(ids) for ids, _ in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    mask = torch.zeros_like(ids)
    labels = torch.full_like(ids, -100)
    for i, (seq, n_prompt) in enumerate(examples):
        ids[i, :len(seq)] = torch.tensor(seq)
        mask[i, :len(seq)] = 1
        labels[i, n_prompt:len(seq)] = torch.tensor(seq[n_prompt:])
    return ids, mask, labels


def run_bootstrap(out_dir: Path, cfg: BootstrapConfig = BootstrapConfig(), task: TaskConfig = TaskConfig(),
                  log=say) -> dict:
    """Build, fine-tune and evaluate the tiny policy; returns the report written beside it."""
    from tqdm.auto import tqdm

    t0 = time.time()
    rng = random.Random(cfg.seed)
    problems = list(generate(cfg.n_train, cfg.seed, task, noise_rate=cfg.noise_rate))
    log(f"bootstrap: {len(problems)} training traces ({cfg.noise_rate:.0%} with a wrong step)")
    model, tok = build_tiny(out_dir, cfg, task, problems[:5000])
    n_params = sum(p.numel() for p in model.parameters())
    log(f"bootstrap: tiny Qwen2 with {n_params:,} parameters, vocabulary {len(tok)}")
    encoded = [_encode(tok, p.problem, p.solution) for p in problems]
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)

    sched = get_cosine_schedule_with_warmup(opt, cfg.warmup_steps, cfg.steps)   # linear warm-up, cosine to 0
    model.train()
    order: list[int] = []
    bar = tqdm(range(cfg.steps), desc="bootstrap SFT", unit="step", mininterval=2.0, disable=bars_disabled())
    for step in bar:
        if len(order) < cfg.batch_size:
            order += rng.sample(range(len(encoded)), len(encoded))
        idx, order = order[:cfg.batch_size], order[cfg.batch_size:]
        ids, mask, labels = _batch([encoded[i] for i in idx], tok.pad_token_id)
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        if not torch.isfinite(loss):
            raise FloatingPointError(f"bootstrap: loss became {loss.item()} at step {step}; lower bootstrap.lr")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        sched.step()
        if step % 20 == 0:
            bar.set_postfix(loss=f"{loss.item():.3f}")
    model.eval()
    train_s = time.time() - t0
    log(f"bootstrap: SFT done in {train_s:.0f}s, final loss {loss.item():.3f}; evaluating on held-out")
    report = {"parameters": n_params, "train_seconds": round(train_s, 1), "final_loss": round(loss.item(), 4),
              **evaluate_policy(model, tok, cfg, task)}
    report["total_seconds"] = round(time.time() - t0, 1)
    report["config"] = asdict(cfg)
    _write_dir(out_dir, model, tok, cfg, report)
    log(f"bootstrap: held-out pass@1 {report['pass_at_1']:.3f}, pass@{cfg.eval_samples} "
        f"{report['pass_at_n']:.3f} ({cfg.eval_problems} problems, T={cfg.temperature}); wrote {out_dir}")
    return report


def evaluate_policy(model, tok, cfg: BootstrapConfig, task: TaskConfig) -> dict:
    """Held-out pass@1 (mean over samples) and pass@n (any correct) at the default sampling."""
    from components.model.reflective import ReflectiveModel
    from components.model.sprm_head import SPRMHead
    from components.rewards.grading import is_correct

    rm = ReflectiveModel(model, tok, SPRMHead(model.config.hidden_size, cfg.sprm_features),
                         ReflectiveSpec(sprm_features=cfg.sprm_features))
    held = list(generate(cfg.eval_problems, cfg.seed + 1, task, split="heldout"))
    sampling = SamplingConfig(cfg.temperature, cfg.top_p, 1.0, cfg.max_new_tokens)
    t0 = time.time()
    cands = rm.generate([p.problem for p in held], cfg.eval_samples, sampling, seed=cfg.seed, score=False)
    correct = [[is_correct(c.text, p.answer) for c in cs] for p, cs in zip(held, cands)]
    n = len(held)
    return {"eval_problems": n, "eval_samples": cfg.eval_samples,
            "pass_at_1": sum(sum(c) / len(c) for c in correct) / n,
            "pass_at_n": sum(any(c) for c in correct) / n,
            "eval_seconds": round(time.time() - t0, 1)}
