"""Step positions (docs/method.md section 2) on hand-made token sequences, in both tokenizers."""

from __future__ import annotations

import math

import pytest
import torch

from components.model.steps import (StepTokenError, StepTokens, aggregate_scores, step_logprob_features,
                                    pool_step_states, segment_mean, step_positions, step_spans,
                                    token_stats_from)

ST = StepTokens(frozenset({9}), think_open=1, think_close=2)


@pytest.mark.parametrize("ids, start_inside, expected", [
    ([1, 5, 9, 5, 9, 2], False, [2, 4]),            # two plain steps
    ([1, 9, 5, 9, 2], False, [3]),                  # a step token right after <think> is ignored
    ([1, 5, 9, 9, 9, 5, 9, 2], False, [2, 6]),      # of a run only the first counts
    ([5, 9, 1, 5, 9, 2, 5, 9], False, [4]),         # outside the span nothing counts
    ([5, 9, 5, 9, 2], True, [1, 3]),                # span opened by the prompt
    ([9, 5, 9, 2], True, [2]),                      # ...and its first token is the span start
    ([1, 9, 9, 5, 9], False, [4]),                  # a run at the span start is dropped whole
    ([], False, []),
])
def test_step_positions_hand_made(ids, start_inside, expected):
    assert step_positions(ids, ST, start_inside) == expected


def test_task_tokenizer_steps(tiny_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tiny_dir))
    st = StepTokens.from_tokenizer(tok)
    assert len(st.step_ids) == 1 and st.think_open is not None and st.think_close is not None
    text = "<think>.\n\n7+5=12.\n\n12*3=36.\n\n.\n\n36-4=32.\n\n</think> \\boxed{32}.\n\n"
    ids = tok.encode(text, add_special_tokens=False)
    pos = step_positions(ids, st)
    assert [tok.decode(ids[: p + 1]).count(".\n\n") for p in pos] == [2, 3, 5]


def test_qwen2_vocabulary_steps(shared_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(shared_dir / "data/tokenizer/qwen2"))
    exact = StepTokens.from_tokenizer(tok, "exact")
    assert exact.step_ids == {382}
    contains = StepTokens.from_tokenizer(tok, "contains")
    assert 382 in contains.step_ids and len(contains.step_ids) == 46
    # Qwen2's base vocabulary has no <think>: R1-Distill adds it, as we do here.
    tok.add_special_tokens({"additional_special_tokens": ["<think>", "</think>"]})
    st = StepTokens.from_tokenizer(tok, "exact")
    text = "<think>First, add.\n\nThen multiply: 12*3=36.\n\n\nDone.\n\n</think> The answer is \\boxed{36}."
    ids = tok.encode(text, add_special_tokens=False)
    kept = [tok.decode([ids[p]]) for p in step_positions(ids, st)]
    assert kept == [".\n\n", ".\n\n"]  # ".\n\n\n" is another token: only "contains" mode sees it
    st_contains = StepTokens.from_tokenizer(tok, "contains")
    assert len(step_positions(ids, st_contains)) == 3
    # Bit-identical to matching id 382 alone: the exact rule reads no token texts at all.
    assert exact.texts is None and step_positions(ids, st) == [i for i in step_positions(
        ids, StepTokens(frozenset({382}), st.think_open, st.think_close))]


SPLIT = StepTokens(frozenset({4}), None, None, texts={1: ".", 2: "\n\n", 3: "\n", 4: ".\n\n", 6: "a."})


@pytest.mark.parametrize("ids, expected", [
    ([5, 1, 2, 5, 1, 2], [1, 4]),          # "." + "\n\n": the step token is the "."
    ([5, 1, 3, 3, 5], [1]),                # "." + "\n" + "\n"
    ([5, 6, 2, 5], [1]),                   # "a." + "\n\n": the "." sits inside a longer token
    ([5, 1, 2, 1, 2, 5, 4], [1, 6]),       # a run of split markers: only the first
    ([1, 2, 5, 1, 2], [3]),                # a marker at the span start is ignored
    ([5, 1, 5, 2, 5, 1, 3, 5], []),        # never completed
])
def test_split_markers(ids, expected):
    assert step_positions(ids, SPLIT) == expected


def _decode_counts(tok, ids, pos):
    """How many markers the text holds up to and including each kept step token's marker."""
    return [tok.decode(ids[: p + 3]).count(".\n\n") for p in pos]


def test_smollm2_vocabulary_steps(smollm2_dir):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(smollm2_dir))
    assert tok.encode(".\n\n", add_special_tokens=False) == [30, 1116]
    st = StepTokens.from_tokenizer(tok)  # exact: no single token, so the decoded-text rule
    assert st.think_open is None and st.texts is not None
    text = "First, 3 + 4 = 7.\n\nThen 7 * 2 = 14.\n\n.\n\nSo we get 14.\n\n\nThe answer is \\boxed{14}."
    ids = tok.encode(text, add_special_tokens=False)
    pos = step_positions(ids, st)
    assert len(pos) == 3
    assert all(tok.decode([ids[p]]).startswith(".") or tok.decode([ids[p]]).endswith(".") for p in pos)
    before = [tok.decode(ids[:p]) for p in pos]  # the text up to the score position
    assert [b.rstrip().endswith(("7", "14")) for b in before] == [True, True, True]
    assert step_positions(ids, StepTokens.from_tokenizer(tok, "contains")) == pos


def test_tokenizer_without_step_token_is_refused(shared_dir):
    from transformers import AutoTokenizer

    class NoStep:
        name_or_path = "no-step"

        def encode(self, text, add_special_tokens=False):
            return [1, 2, 3]

        def decode(self, ids):
            return "<unk>" * len(ids)

    with pytest.raises(StepTokenError, match="cannot spell"):
        StepTokens.from_tokenizer(NoStep())
    assert AutoTokenizer  # the real tokenizers are covered above


def test_geometric_mean_and_edges():
    assert aggregate_scores([0.5, 0.125]) == pytest.approx(0.25)
    assert aggregate_scores([]) == 0.0
    assert aggregate_scores([0.0]) == pytest.approx(1e-10)  # clamp, not log(0)
    assert aggregate_scores([0.0, 1.0]) == pytest.approx(1e-5)
    assert aggregate_scores(torch.tensor([0.9])) == pytest.approx(0.9)
    s = [0.2, 0.9, 0.5]
    assert aggregate_scores(s, "min") == 0.2
    assert aggregate_scores(s, "last") == 0.5
    assert aggregate_scores(s, "product") == pytest.approx(0.09)
    assert aggregate_scores(s, "mean") == pytest.approx(math.fsum(s) / 3)
    with pytest.raises(ValueError):
        aggregate_scores(s, "median")  # type: ignore[arg-type]


def test_step_logprob_features():
    lp = torch.tensor([-0.1, -1.0, -0.2, -3.0, -0.5])
    feats = step_logprob_features(lp, [2, 4], first_start=1)
    assert feats[0].tolist() == pytest.approx([-1.0, -0.6])
    assert feats[1].tolist() == pytest.approx([-3.0, -1.75])


def test_step_features_with_token_stats():
    """The entropy columns: per step, mean and max token entropy and the not-most-likely share."""
    lp = torch.tensor([-0.1, -1.0, -0.2, -3.0, -0.5])
    stats = torch.tensor([[9.0, 1.0], [0.5, 0.0], [1.5, 1.0], [2.0, 1.0], [0.2, 0.0]])
    feats = step_logprob_features(lp, [2, 4], first_start=1, token_stats=stats)
    assert feats.shape == (2, 5)
    assert feats[0].tolist() == pytest.approx([-1.0, -0.6, 1.0, 1.5, 0.5])   # token 0 is before the first step
    assert feats[1].tolist() == pytest.approx([-3.0, -1.75, 1.1, 2.0, 0.5])
    assert step_logprob_features(lp, [], token_stats=stats).shape == (0, 5)


def test_token_stats_from_logits():
    logp = torch.log_softmax(torch.tensor([[2.0, 0.0, 0.0], [0.0, 0.0, 0.0]]), -1)
    chosen = logp.gather(1, torch.tensor([[1], [0]])).squeeze(1)   # the sampled tokens' log-probs
    stats = token_stats_from(logp, chosen)
    p = logp[0].exp()
    assert stats[0, 0].item() == pytest.approx(float(-(p * p.log()).sum()))
    assert stats[1, 0].item() == pytest.approx(math.log(3))
    assert stats[:, 1].tolist() == [1.0, 0.0]           # row 0: not the most likely; row 1: a tie counts as most likely


def test_pooled_step_states_average_each_steps_tokens():
    states = torch.arange(10.0).reshape(5, 2)          # token t's state is [2t, 2t+1]
    pooled = pool_step_states(states, [2, 4], first_start=1)
    assert pooled.tolist() == [[3.0, 4.0], [7.0, 8.0]]   # tokens 1-2 and 3-4
    assert pool_step_states(states, []).shape == (0, 2)


def test_segment_mean_is_differentiable_and_shared_by_capture():
    """One pooling for capture and the training forward: gradients reach every pooled row, and the
    mean of the span tokens equals what `pool_step_states` captures."""
    states = torch.randn(6, 3, requires_grad=True)
    tok, seg = step_spans([1, 4], first_start=0)
    pooled = segment_mean(states[tok], seg, 2)
    assert torch.equal(pooled.detach(), pool_step_states(states.detach(), [1, 4]))
    pooled.sum().backward()
    assert states.grad[:5].abs().sum(-1).gt(0).all() and states.grad[5].abs().sum() == 0   # token 5 is after the last step
