"""The embedded default's tokenizer loads as a standard HF tokenizer with the needed tokens."""

from __future__ import annotations

from transformers import AutoTokenizer


def test_standard_tokenizer_with_step_and_think_tokens(tiny_dir):
    tok = AutoTokenizer.from_pretrained(str(tiny_dir))
    assert len(tok.encode(".\n\n", add_special_tokens=False)) == 1
    for special in ("<think>", "</think>", "<|im_end|>"):
        ids = tok.encode(special, add_special_tokens=False)
        assert len(ids) == 1 and special in tok.all_special_tokens
    digits = tok.encode("1234567890", add_special_tokens=False)
    assert len(digits) == 10, "one token per digit"
    text = tok.apply_chat_template([{"role": "user", "content": "Compute 1+2."}], tokenize=False,
                                   add_generation_prompt=True)
    assert text == "<|im_start|>user\nCompute 1+2.<|im_end|>\n<|im_start|>assistant\n"
    trace = "<think>1+2=3.\n\n</think> \\boxed{3}"
    assert tok.decode(tok.encode(trace, add_special_tokens=False)) == trace
