"""The embedded default's tokenizer: byte-level BPE trained on the synthetic task's text.

Properties the rest of the project relies on:
- every digit is its own token (a trial here showed multi-digit tokens hurt arithmetic);
- `.\\n\\n`, the step token of docs/method.md section 2, is exactly one token;
- `<think>` / `</think>` are special tokens, and `<|im_end|>` ends a turn (EOS);
- a chat template in the Qwen2 style, so `apply_chat_template` works as for real checkpoints.
The result is a standard `PreTrainedTokenizerFast` directory (`AutoTokenizer.from_pretrained`).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers

STEP_TOKEN = ".\n\n"
THINK_OPEN, THINK_CLOSE = "<think>", "</think>"
EOS, BOS_TURN, PAD = "<|im_end|>", "<|im_start|>", "<|endoftext|>"
SPECIAL_TOKENS = [PAD, BOS_TURN, EOS, THINK_OPEN, THINK_CLOSE]

# Qwen2-style template, kept short: the tiny model pays for every prompt token.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def train_tokenizer(corpus: Iterable[str], vocab_size: int = 384):
    """Train the BPE tokenizer on `corpus` and wrap it as a `PreTrainedTokenizerFast`."""
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(corpus, trainer=trainer)
    # The step token is an added (non-special) token: always one id, and decoded as text.
    tok.add_tokens([AddedToken(STEP_TOKEN, normalized=False, special=False)])
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token=EOS,
        pad_token=PAD,
        additional_special_tokens=[BOS_TURN, THINK_OPEN, THINK_CLOSE],
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.padding_side = "left"
    return fast


def build_task_tokenizer(corpus: Iterable[str], out_dir: Path | None = None, vocab_size: int = 384):
    """Train on `corpus`, save to `out_dir` when given, and return the tokenizer."""
    fast = train_tokenizer(corpus, vocab_size)
    if out_dir is not None:
        fast.save_pretrained(str(out_dir))
    return fast


def is_task_tokenizer(tokenizer) -> bool:
    """True iff `tokenizer` is the embedded task's (it carries this module's chat template), so
    its model reads problems in the synthetic task's format (`synthetic.to_task_format`)."""
    return getattr(tokenizer, "chat_template", None) == CHAT_TEMPLATE
