"""How closely the lean decoder follows the library forward, set against bf16's own error (GPU check).

On a randomly initialised Qwen2 of the named shape, the same tokens are fed one at a time (teacher
forcing, after a left-padded prompt prefill) to three forwards: the lean decoder in `--dtype`
(components/model/decoder.py), the library's KV-cached forward in `--dtype`, and the library's
forward in fp32 on the same initial weights (the yardstick: how far `--dtype` alone moves the
logits). For each pair it reports the largest logit difference, the mean KL divergence of the
next-token distributions, top-1 agreement and the largest difference of the layer -2 hidden state
that the SPRM head reads. Then both forwards sample (`sample_tokens`, same seed) to time them and to
count how many tokens agree before the first difference. Prints JSON lines; the last is a summary.

    python benchmarks/decoder_agreement.py                                   # 1.5B shape, bf16, CUDA
    python benchmarks/decoder_agreement.py --shape tiny --device cpu --dtype fp32 --new-tokens 8   # smoke run
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from benchmarks.gpu_step import SHAPES, build_policy  # noqa: E402
from benchmarks.report import emit, machine  # noqa: E402

DTYPES = {"bf16": "bfloat16", "fp32": "float32"}


def _library_steps(model, ids, mask, pos, tokens, layer):
    """Logits [B, V] and layer states [B, h] (fp32) after the prefill and after each forced token."""
    import torch

    out = model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True, output_hidden_states=True)
    logits, states = [out.logits[:, -1].float()], [out.hidden_states[layer][:, -1].float()]
    past, nxt = out.past_key_values, pos[:, -1:] + 1
    for t in range(tokens.shape[1]):
        mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
        out = model(input_ids=tokens[:, t:t + 1], attention_mask=mask, position_ids=nxt, past_key_values=past,
                    use_cache=True, output_hidden_states=True)
        logits.append(out.logits[:, -1].float())
        states.append(out.hidden_states[layer][:, -1].float())
        past, nxt = out.past_key_values, nxt + 1
    return logits, states


def _lean_steps(model, ids, mask, pos, tokens, layer):
    import torch

    from components.model.decoder import LeanDecoder

    dec = LeanDecoder(model, ids.shape[0], ids.shape[1] + tokens.shape[1])
    lg, h = dec.prefill(ids, pos, mask.bool(), layer)
    logits, states = [lg.float()], [h.float()]
    nxt, ones = pos[:, -1:] + 1, torch.ones_like(mask[:, :1], dtype=torch.bool)
    for t in range(tokens.shape[1]):
        lg, h = dec.forward(tokens[:, t:t + 1], nxt, ones, layer)
        logits.append(lg.float())
        states.append(h.float())
        nxt = nxt + 1
    return logits, states


def _compare(a, b) -> dict:
    """Pairwise figures over all steps: logits [B, V] and states [B, h] lists, `b` the reference."""
    import torch

    la, lb = torch.stack(a[0]), torch.stack(b[0])                 # [T+1, B, V]
    ha, hb = torch.stack(a[1]), torch.stack(b[1])
    pb = torch.log_softmax(lb, -1)
    kl = (pb.exp() * (pb - torch.log_softmax(la, -1))).sum(-1)    # [T+1, B]
    return {"max_abs_logit_diff": float((la - lb).abs().max()), "mean_kl": float(kl.mean()),
            "max_kl": float(kl.max()), "top1_agreement": float((la.argmax(-1) == lb.argmax(-1)).float().mean()),
            "max_abs_hidden_diff": float((ha - hb).abs().max()),
            "hidden_scale": float(hb.abs().max())}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shape", choices=sorted(SHAPES), default="1.5b")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--dtype", choices=sorted(DTYPES), default="bf16")
    ap.add_argument("--batch", type=int, default=8, help="rows of the teacher-forced comparison")
    ap.add_argument("--prompt-tokens", type=int, default=128)
    ap.add_argument("--new-tokens", type=int, default=64, help="forced tokens after the prefill")
    ap.add_argument("--sample-batch", type=int, default=32, help="rows of the timed sampling")
    ap.add_argument("--sample-tokens", type=int, default=256, help="tokens of the timed sampling")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    import torch

    from components.model.candidate import SamplingConfig
    from components.model.sampling import position_ids, sample_tokens

    cuda = args.device.startswith("cuda")
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    dtype = getattr(torch, DTYPES[args.dtype])
    model = build_policy(args.shape, args.device, dtype, args.seed)
    vocab = model.config.vocab_size
    emit({"event": "setup", **machine(), "shape": args.shape, "device": args.device, "dtype": args.dtype,
          "gpu": torch.cuda.get_device_name() if cuda else None})
    rng = torch.Generator().manual_seed(args.seed)
    ids = torch.randint(1, vocab - 1, (args.batch, args.prompt_tokens), generator=rng)
    mask = torch.ones_like(ids)
    for row in range(1, args.batch, 2):       # every other row left-padded by a different amount
        mask[row, :row * args.prompt_tokens // (2 * args.batch)] = 0
    ids = (ids * mask).to(args.device)
    mask = mask.to(args.device)
    pos = position_ids(mask)
    forced = torch.randint(1, vocab - 1, (args.batch, args.new_tokens), generator=rng).to(args.device)
    with torch.no_grad():
        lean = _lean_steps(model, ids, mask, pos, forced, -2)
        library = _library_steps(model, ids, mask, pos, forced, -2)
        del model
        if cuda:
            torch.cuda.empty_cache()
        full = build_policy(args.shape, args.device, torch.float32, args.seed)
        fp32 = _library_steps(full, ids, mask, pos, forced, -2)
        del full
    pairs = {"lean_vs_library": _compare(lean, library), "library_vs_fp32": _compare(library, fp32),
             "lean_vs_fp32": _compare(lean, fp32)}
    for name, figures in pairs.items():
        emit({"event": "agreement", "pair": name, **figures})

    model = build_policy(args.shape, args.device, dtype, args.seed)
    prompts = torch.randint(1, vocab - 1, (args.sample_batch // 8, args.prompt_tokens), generator=rng).tolist()
    jobs = [p for p in prompts for _ in range(8)]
    cfg = SamplingConfig(temperature=1.0, top_p=1.0, max_new_tokens=args.sample_tokens)
    runs = {}
    for name, use_lean in (("lean", True), ("library", False), ("lean", True), ("library", False)):
        gen = torch.Generator(device=args.device).manual_seed(args.seed)
        sync()
        t0 = time.perf_counter()
        batch = sample_tokens(model, jobs, [vocab - 1], cfg, args.sample_tokens, gen, 0, -2, True, use_lean)
        sync()
        runs[name] = (batch, int(batch.lengths.sum()) / (time.perf_counter() - t0))  # the second run is warm
    a, b = runs["lean"][0].tokens, runs["library"][0].tokens
    width = min(a.shape[1], b.shape[1])
    differ = (a[:, :width] != b[:, :width])
    first = torch.where(differ.any(1), differ.float().argmax(1), torch.full((a.shape[0],), width))
    sampled = {"lean_tokens_per_s": runs["lean"][1], "library_tokens_per_s": runs["library"][1],
               "rows_identical": float((first == width).float().mean()),
               "mean_tokens_before_first_difference": float(first.float().mean()), "sampled_tokens": width}
    emit({"event": "sampling", **sampled})
    emit({"event": "summary", "shape": args.shape, "dtype": args.dtype, "device": args.device,
          "gpu": torch.cuda.get_device_name() if cuda else None,
          **{f"{k}_{f}": v for k, figures in pairs.items() for f, v in figures.items()}, **sampled})
    return 0


if __name__ == "__main__":
    sys.exit(main())
