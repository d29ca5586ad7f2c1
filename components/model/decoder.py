"""A lean decoding forward for Qwen2-family causal LMs, with a preallocated KV cache.

`sample_tokens` calls the model once per new token. For the small models this project trains on
CPU, `transformers`' forward spends most of that call on work around the arithmetic: building
the causal mask, growing the KV cache by concatenation, recording every layer's output, calling
modules. This module runs the same layers on the model's own weights with a cache allocated
once, a mask updated in place, the rotary cos/sin looked up from a table the model's rotary
module fills once, q, k and v (and the MLP's gate and up) each as one matrix product, RMSNorm as
the one `F.rms_norm` call, and the rotary embedding applied to q and k heads together. It
returns only what sampling needs: the last position's logits and the chosen layer's hidden
state. On CPU in fp32 the results equal the library forward's to float rounding
(tests/components/model/test_decoder.py); in bf16 on a GPU their next-token distributions differ
from it by a sixth of the KL divergence that bf16 itself puts between the library forward and
fp32 (benchmarks/decoder_agreement.py, benchmarks/RESULTS.md).
Architectures other than the Qwen2/Llama layout take the library forward.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

SUPPORTED = ("qwen2", "llama")


def supports(model) -> bool:
    """Whether `LeanDecoder` can run `model`: a Qwen2/Llama layout with full attention and plain RoPE."""
    cfg = getattr(model, "config", None)
    if cfg is None or getattr(cfg, "model_type", None) not in SUPPORTED:
        return False
    inner = getattr(model, "model", None)
    if inner is None or not all(hasattr(inner, a) for a in ("embed_tokens", "layers", "norm", "rotary_emb")):
        return False
    if any(t != "full_attention" for t in (getattr(cfg, "layer_types", None) or [])):
        return False
    rope = getattr(cfg, "rope_parameters", None) or {}
    if rope.get("rope_type", "default") != "default":
        return False
    if getattr(cfg, "hidden_act", None) != "silu" or getattr(cfg, "rms_norm_eps", None) is None:
        return False
    attn, mlp = inner.layers[0].self_attn, inner.layers[0].mlp
    return (all(hasattr(attn, a) for a in ("q_proj", "k_proj", "v_proj", "o_proj", "head_dim", "scaling"))
            and all(hasattr(mlp, a) for a in ("gate_proj", "up_proj", "down_proj")))


def _fused(linears) -> tuple[torch.Tensor, torch.Tensor | None]:
    """One weight (and bias) for several nn.Linear of the same input: one matrix product instead of several."""
    weight = torch.cat([m.weight for m in linears])
    if all(m.bias is None for m in linears):
        return weight, None
    return weight, torch.cat([m.bias if m.bias is not None else m.weight.new_zeros(m.out_features)
                              for m in linears])


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class LeanDecoder:
    """Prefill and one-token steps over a cache of `capacity` positions for a batch of `batch` rows.

    Column j of the cache holds sequence position j of every row (prompts left-padded to a common
    width, then one column per new token); `key_mask` [B, capacity] marks the columns a row may
    attend to (not padding).
    """

    def __init__(self, model, batch: int, capacity: int):
        inner = model.model
        self.embed, self.layers, self.norm, self.rotary = inner.embed_tokens, inner.layers, inner.norm, inner.rotary_emb
        self.lm_head = model.lm_head
        attn = self.layers[0].self_attn
        self.head_dim = attn.head_dim
        self.n_heads = model.config.num_attention_heads
        self.n_kv = model.config.num_key_value_heads
        p = next(model.parameters())
        shape = (batch, self.n_kv, capacity, self.head_dim)
        self.keys = [torch.zeros(shape, dtype=p.dtype, device=p.device) for _ in self.layers]
        self.values = [torch.zeros(shape, dtype=p.dtype, device=p.device) for _ in self.layers]
        self.key_mask = torch.zeros((batch, capacity), dtype=torch.bool, device=p.device)
        self.length = 0
        # q, k and v (and gate and up) as one product each: on a small model each matrix product
        # costs mostly its fixed overhead, so three become one. Norms, projections and embeddings
        # are called as functions on the modules' own weights (same arithmetic, no module-call cost).
        self.qkv = [_fused((b.self_attn.q_proj, b.self_attn.k_proj, b.self_attn.v_proj)) for b in self.layers]
        self.gate_up = [_fused((b.mlp.gate_proj, b.mlp.up_proj))[0] for b in self.layers]
        self.n_qk = self.n_heads + self.n_kv                   # heads that take the rotary embedding
        self.eps = model.config.rms_norm_eps
        # cos and sin of every position the cache can hold, from the model's own rotary module
        # (row j equals what it returns for position j), looked up per step instead of recomputed.
        table = torch.arange(capacity, device=p.device)[None]
        cos, sin = self.rotary(torch.zeros((), dtype=p.dtype, device=p.device), table)
        self.cos, self.sin = cos[0], sin[0]                    # [capacity, d]

    @torch.no_grad()
    def prefill(self, ids: torch.Tensor, positions: torch.Tensor, valid: torch.Tensor,
                layer: int = -2, capture: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
        """`forward` over the prompts, computing each distinct prompt once (G samples share one).

        The distinct rows are run as a smaller batch and the cache, logits and hidden states are
        then copied out to every row that repeats them.
        """
        rows = torch.cat([ids, valid.long()], dim=1)
        _, inverse = torch.unique(rows, dim=0, return_inverse=True)
        first: dict[int, int] = {}
        for row, u in enumerate(inverse.tolist()):
            first.setdefault(u, row)
        if len(first) == ids.shape[0]:
            return self.forward(ids, positions, valid, layer, capture)
        pick = torch.tensor([first[u] for u in range(len(first))], device=ids.device)
        logits, hidden = self.forward(ids[pick], positions[pick], valid[pick], layer, capture)
        self.keys = [k.index_select(0, inverse) for k in self.keys]
        self.values = [v.index_select(0, inverse) for v in self.values]
        self.key_mask = self.key_mask.index_select(0, inverse)
        return logits[inverse], hidden[inverse] if hidden is not None else None

    @torch.no_grad()
    def forward(self, ids: torch.Tensor, positions: torch.Tensor, valid: torch.Tensor,
                layer: int = -2, capture: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Append `ids` [B, q] (rope positions [B, q], `valid` [B, q] = not padding) to the cache.

        Returns the last position's logits [B, V] (fp32) and the hidden state [B, h] that the
        library's `hidden_states[layer]` gives there (None when `capture` is False). B may be
        smaller than the cache's batch (`prefill`): the first B rows are used.
        """
        B, q = ids.shape
        start, end = self.length, self.length + q
        self.key_mask[:B, start:end] = valid
        keys = self.key_mask[:B, None, None, :end]                               # [B, 1, 1, end]
        if q > 1:  # causal inside the new block; every query also sees itself (padding rows stay finite)
            cols = torch.arange(end, device=ids.device)
            rows = torch.arange(start, end, device=ids.device)[:, None]
            mask = (keys & (cols <= rows)) | (cols == rows)                     # [B, 1, q, end]
        else:
            mask = keys
        x = F.embedding(ids, self.embed.weight)                                 # [B, q, h]
        cos, sin = self.cos[positions][:, :, None], self.sin[positions][:, :, None]   # [B, q, 1, d]
        n_layers = len(self.layers)
        want = layer % (n_layers + 1)   # hidden_states = (embeddings, layer 1 out, ..., final norm)
        hidden = x[:, -1] if capture and want == 0 else None
        for i, block in enumerate(self.layers):
            h = F.rms_norm(x, x.shape[-1:], block.input_layernorm.weight, self.eps)
            qkv = F.linear(h, *self.qkv[i]).view(B, q, self.n_qk + self.n_kv, self.head_dim)
            qk = qkv[:, :, :self.n_qk]
            qk = qk * cos + _rotate_half(qk) * sin                                # q and k heads together
            qs = qk[:, :, :self.n_heads].transpose(1, 2)                          # [B, heads, q, d]
            self.keys[i][:B, :, start:end] = qk[:, :, self.n_heads:].transpose(1, 2)
            self.values[i][:B, :, start:end] = qkv[:, :, self.n_qk:].transpose(1, 2)
            o = F.scaled_dot_product_attention(qs, self.keys[i][:B, :, :end], self.values[i][:B, :, :end],
                                               attn_mask=mask, scale=block.self_attn.scaling,
                                               enable_gqa=self.n_kv != self.n_heads)
            x = x + F.linear(o.transpose(1, 2).reshape(B, q, -1), block.self_attn.o_proj.weight,
                             block.self_attn.o_proj.bias)
            h = F.rms_norm(x, x.shape[-1:], block.post_attention_layernorm.weight, self.eps)
            gate, up = F.linear(h, self.gate_up[i]).chunk(2, dim=-1)
            x = x + F.linear(F.silu(gate) * up, block.mlp.down_proj.weight, block.mlp.down_proj.bias)
            if capture and want == i + 1 and i + 1 < n_layers:
                hidden = x[:, -1]
        last = F.rms_norm(x[:, -1], x.shape[-1:], self.norm.weight, self.eps)     # [B, h]
        if capture and want == n_layers:
            hidden = last
        self.length = end
        return F.linear(last, self.lm_head.weight, self.lm_head.bias).float(), hidden
