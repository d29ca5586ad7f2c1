"""Real tiny policies for the trainer tests (no mocks): built once per session, in seconds.

`adder_policy`: a 2-layer, h=64 Qwen2 fine-tuned for a few seconds on "Compute a+b." (a, b in 1..4)
with 30% of the traces carrying a wrong sum (+-1). At T=1 it answers ~60% correctly with the right
format, so groups have mixed rewards (a GRPO signal), and wrong answers are low-probability tokens
(so an SPRM head reading hidden+logprob can learn to spot them within a few steps).
"""

from __future__ import annotations

import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch

ADDER_PROBLEMS = [(a, b) for a in range(1, 5) for b in range(1, 5)]


def build_adder_policy(out: Path, steps: int = 250, noise: float = 0.3, seed: int = 0) -> Path:
    from components.data.synthetic import TaskConfig, generate
    from components.training.bootstrap import BootstrapConfig, TinyModelConfig, build_tiny

    cfg = BootstrapConfig(seed=seed, sprm_features="hidden+logprob", model=TinyModelConfig(
        hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1))
    model, tok = build_tiny(out, cfg, TaskConfig(), list(generate(300, seed, TaskConfig())))
    rng = random.Random(seed)
    torch.manual_seed(seed)

    def example() -> tuple[list[int], list[int]]:
        a, b = rng.choice(ADDER_PROBLEMS)
        c = a + b + (rng.choice([-1, 1]) if rng.random() < noise else 0)
        prompt = tok.apply_chat_template([{"role": "user", "content": f"Compute {a}+{b}."}], tokenize=False,
                                         add_generation_prompt=True)
        completion = f"<think>{a}+{b}={c}.\n\n</think> \\boxed{{{c}}}"
        return (tok.encode(prompt, add_special_tokens=False),
                tok.encode(completion, add_special_tokens=False) + [tok.eos_token_id])

    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=0.0)
    model.train()
    for _ in range(steps):
        batch = [example() for _ in range(32)]
        width = max(len(p) + len(c) for p, c in batch)
        ids = torch.full((len(batch), width), tok.pad_token_id)
        mask, labels = torch.zeros_like(ids), torch.full_like(ids, -100)
        for i, (p, c) in enumerate(batch):
            ids[i, :len(p) + len(c)] = torch.tensor(p + c)
            mask[i, :len(p) + len(c)] = 1
            labels[i, len(p):len(p) + len(c)] = torch.tensor(c)
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
    model.eval()
    model.save_pretrained(str(out), safe_serialization=True)   # over build_tiny's random weights
    return out


def write_adder_parquet(path: Path) -> Path:
    rows = [{"id": f"add-{a}-{b}", "source": "test", "line": i, "problem": f"Compute {a}+{b}.",
             "answer": str(a + b), "solution": "", "meta": "{}"}
            for i, (a, b) in enumerate(ADDER_PROBLEMS)]
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


@pytest.fixture(scope="session")
def adder_policy(tmp_path_factory) -> Path:
    return build_adder_policy(tmp_path_factory.mktemp("adder") / "policy")


@pytest.fixture(scope="session")
def adder_data(tmp_path_factory) -> Path:
    return write_adder_parquet(tmp_path_factory.mktemp("adder_data") / "clean.parquet")


@pytest.fixture(scope="session")
def random_policy(tmp_path_factory) -> Path:
    """A randomly initialised tiny model: never produces the answer format (all rewards 0)."""
    from components.training.bootstrap import tiny_model_dir

    return tiny_model_dir(tmp_path_factory.mktemp("random") / "policy")
