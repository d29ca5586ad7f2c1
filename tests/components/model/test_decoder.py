"""The lean decoder equals the library forward (Qwen2 and Llama layouts), and sampling with it equals sampling without."""

import pytest
import torch

from components.model.candidate import SamplingConfig
from components.model import decoder
from components.model.sampling import position_ids, left_pad, sample_tokens


def _random_lm(kind: str):
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    common = dict(vocab_size=97, hidden_size=32, intermediate_size=64, num_hidden_layers=3,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128)
    if kind == "qwen2":
        return Qwen2ForCausalLM(Qwen2Config(**common)).eval()
    return LlamaForCausalLM(LlamaConfig(**common)).eval()


@pytest.mark.parametrize("kind", ["qwen2", "llama"])
@pytest.mark.parametrize("layer", [-2, -1, 0, 1])
def test_lean_forward_equals_library_forward(kind, layer):
    model = _random_lm(kind)
    assert decoder.supports(model)
    prompts = [[5, 6, 7, 8, 9], [11, 12], [13, 14, 15], [11, 12]]   # left padding; a repeated prompt
    ids, mask = left_pad(prompts, 0, "cpu")
    pos = position_ids(mask)
    dec = decoder.LeanDecoder(model, len(prompts), ids.shape[1] + 6)
    logits, hidden = dec.prefill(ids, pos, mask.bool(), layer)
    with torch.no_grad():
        out = model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True, output_hidden_states=True)
    assert torch.allclose(logits, out.logits[:, -1].float(), atol=1e-5)
    assert torch.allclose(hidden, out.hidden_states[layer][:, -1], atol=1e-5)
    past, nxt = out.past_key_values, pos[:, -1] + 1
    for _ in range(6):   # one-token steps against the library's KV-cached forward
        tok = out.logits[:, -1].argmax(-1)
        mask = torch.cat([mask, torch.ones(len(prompts), 1, dtype=mask.dtype)], dim=1)
        with torch.no_grad():
            out = model(input_ids=tok[:, None], attention_mask=mask, position_ids=nxt[:, None], past_key_values=past,
                        use_cache=True, output_hidden_states=True)
        logits, hidden = dec.forward(tok[:, None], nxt[:, None], torch.ones(len(prompts), 1, dtype=torch.bool), layer)
        assert torch.allclose(logits, out.logits[:, -1].float(), atol=1e-5)
        assert torch.allclose(hidden, out.hidden_states[layer][:, -1], atol=1e-5)
        past, nxt = out.past_key_values, nxt + 1


def test_prefill_computes_each_distinct_prompt_once():
    # The shared rows come out equal to a prefill that computes every row (G samples of one prompt).
    model = _random_lm("qwen2")
    prompts = [[5, 6, 7]] * 3 + [[8, 9]] * 2
    ids, mask = left_pad(prompts, 0, "cpu")
    pos = position_ids(mask)
    shared = decoder.LeanDecoder(model, 5, ids.shape[1] + 1)
    each = decoder.LeanDecoder(model, 5, ids.shape[1] + 1)
    a = shared.prefill(ids, pos, mask.bool())
    b = each.forward(ids, pos, mask.bool())
    assert torch.allclose(a[0], b[0], atol=1e-6) and torch.allclose(a[1], b[1], atol=1e-6)
    assert all(torch.allclose(k1, k2, atol=1e-6) for k1, k2 in zip(shared.keys, each.keys))
    assert torch.equal(shared.key_mask, each.key_mask)


def test_sampling_with_and_without_the_lean_decoder_agrees():
    model = _random_lm("qwen2")
    prompts = [[5, 6, 7, 8], [11, 12], [5, 6, 7, 8]]
    cfg = SamplingConfig(temperature=1.0, max_new_tokens=12)
    runs = [sample_tokens(model, prompts, [96], cfg, 12, torch.Generator().manual_seed(3), 0, -2, True, lean)
            for lean in (True, False)]
    assert torch.equal(runs[0].tokens, runs[1].tokens)
    assert torch.allclose(runs[0].logprobs, runs[1].logprobs, atol=1e-5)
    assert torch.allclose(runs[0].hidden, runs[1].hidden, atol=1e-5)


def test_other_layouts_take_the_library_forward():
    from transformers import GPT2Config, GPT2LMHeadModel

    gpt2 = GPT2LMHeadModel(GPT2Config(vocab_size=50, n_embd=16, n_layer=2, n_head=2, nposition_ids=64)).eval()
    assert not decoder.supports(gpt2)
    qwen = _random_lm("qwen2")
    qwen.config.rope_parameters = {"rope_type": "yarn", "rope_theta": 10000.0, "factor": 2.0}
    assert not decoder.supports(qwen)
    batch = sample_tokens(gpt2, [[1, 2, 3]], [49], SamplingConfig(max_new_tokens=4), 4, torch.Generator().manual_seed(0), 0)
    assert batch.tokens.shape[0] == 1
