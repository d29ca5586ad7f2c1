"""A lean decoding forward for Qwen2-family causal LMs, with a preallocated KV cache.

`sample_tokens` calls the model once per new token. For the small models this project trains on
CPU, `transformers`' forward spends most of that call on work around the arithmetic: building
the causal mask, growing the KV cache by concatenation, recording every layer's output. This
module runs the same layers (the model's own modules and weights: norms, projections, MLP,
rotary embedding) with a cache allocated once and a mask updated in place, and returns only what
sampling needs: the last position's logits and the chosen layer's hidden state (q, k and v, and
the MLP's gate and up projections, each as one matrix product). The results equal
the library forward's up to float rounding (tests/components/model/test_decoder.py checks it);
architectures other than the Qwen2/Llama layout take the library forward.
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
    if getattr(cfg, "hidden_act", None) != "silu":
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
        # costs mostly its fixed overhead, so three become one.
        self.qkv = [_fused((b.self_attn.q_proj, b.self_attn.k_proj, b.self_attn.v_proj)) for b in self.layers]
        self.gate_up = [_fused((b.mlp.gate_proj, b.mlp.up_proj))[0] for b in self.layers]
        self.splits = (self.n_heads * self.head_dim, self.n_kv * self.head_dim, self.n_kv * self.head_dim)

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
        x = self.embed(ids)                                                     # [B, q, h]
        cos, sin = self.rotary(x, positions)
        cos, sin = cos[:, None], sin[:, None]                                   # [B, 1, q, d]
        n_layers = len(self.layers)
        want = layer % (n_layers + 1)   # hidden_states = (embeddings, layer 1 out, ..., final norm)
        hidden = x[:, -1] if capture and want == 0 else None
        for i, block in enumerate(self.layers):
            attn = block.self_attn
            qs, ks, vs = F.linear(block.input_layernorm(x), *self.qkv[i]).split(self.splits, dim=-1)
            qs = qs.view(B, q, self.n_heads, self.head_dim).transpose(1, 2)
            ks = ks.view(B, q, self.n_kv, self.head_dim).transpose(1, 2)
            vs = vs.view(B, q, self.n_kv, self.head_dim).transpose(1, 2)
            qs = qs * cos + _rotate_half(qs) * sin
            ks = ks * cos + _rotate_half(ks) * sin
            self.keys[i][:B, :, start:end] = ks
            self.values[i][:B, :, start:end] = vs
            o = F.scaled_dot_product_attention(qs, self.keys[i][:B, :, :end], self.values[i][:B, :, :end],
                                               attn_mask=mask, scale=attn.scaling,
                                               enable_gqa=self.n_kv != self.n_heads)
            x = x + attn.o_proj(o.transpose(1, 2).reshape(B, q, -1))
            gate, up = F.linear(block.post_attention_layernorm(x), self.gate_up[i]).chunk(2, dim=-1)
            x = x + block.mlp.down_proj(F.silu(gate) * up)
            if capture and want == i + 1 and i + 1 < n_layers:
                hidden = x[:, -1]
        last = self.norm(x[:, -1])                                              # [B, h]
        if capture and want == n_layers:
            hidden = last
        self.length = end
        return self.lm_head(last).float(), hidden
