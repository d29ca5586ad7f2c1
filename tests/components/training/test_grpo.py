"""GRPO pieces against hand-computed values (docs/method.md section 3)."""

import math

import pytest
import torch

from components.training.grpo import (
    clipped_policy_loss,
    entropy_from_logits,
    group_advantages,
    logprobs_and_entropy,
    low_var_kl,
    masked_mean,
    token_logprobs,
)


def test_group_advantages_by_hand():
    # Group 1 = [1, 0, 0, 0]: mean 0.25; unbiased std = sqrt((0.75^2 + 3 * 0.25^2) / 3) = sqrt(0.25) = 0.5
    #   -> advantages (1 - 0.25) / 0.5 = 1.5 and (0 - 0.25) / 0.5 = -0.5.
    # Group 2 = [0.1, 0.1, 0.1, 0.1]: identical rewards -> all advantages 0.
    rewards = torch.tensor([1.0, 0.0, 0.0, 0.0, 0.1, 0.1, 0.1, 0.1])
    adv = group_advantages(rewards, group_size=4, eps=0.0)
    assert torch.allclose(adv[:4], torch.tensor([1.5, -0.5, -0.5, -0.5]))
    assert torch.equal(adv[4:], torch.zeros(4))


def test_group_advantages_eps_and_bad_shapes():
    # [1, 0]: mean 0.5, unbiased std = sqrt(2 * 0.25 / 1) = 0.7071; eps 0.1 -> 0.5 / 0.8071 = 0.6195
    adv = group_advantages(torch.tensor([1.0, 0.0]), group_size=2, eps=0.1)
    assert adv[0].item() == pytest.approx(0.5 / (math.sqrt(0.5) + 0.1), rel=1e-6)
    with pytest.raises(ValueError, match="groups of 3"):
        group_advantages(torch.zeros(4), group_size=3)
    with pytest.raises(ValueError, match=">= 2"):
        group_advantages(torch.zeros(4), group_size=1)


def test_clipped_policy_loss_by_hand():
    # Row 0 (A = +1): token 0 ratio 1.5 -> max(-1.5, -clip(1.5)=-1.2) = -1.2 (clipped); token 1 ratio 1 -> -1.
    # Row 1 (A = -1): token 0 ratio 0.5 -> max(0.5, 0.8) = 0.8 (clipped); token 1 is masked out.
    # Token mean over the 3 masked tokens: (-1.2 - 1.0 + 0.8) / 3 = -0.46667; clipped share 2/3.
    old = torch.zeros(2, 2)
    new = torch.log(torch.tensor([[1.5, 1.0], [0.5, 3.0]]))
    adv = torch.tensor([1.0, -1.0])
    mask = torch.tensor([[1, 1], [1, 0]])
    out = clipped_policy_loss(new, old, adv, mask, clip=0.2)
    assert out.loss.item() == pytest.approx(-1.4 / 3, rel=1e-6)
    assert out.clip_fraction.item() == pytest.approx(2 / 3)


def test_clipped_policy_loss_on_policy_gradient_is_minus_advantage():
    # On-policy (old = new.detach()): ratio 1, d loss / d logprob = -A / n_masked_tokens.
    logprob = torch.tensor([[-1.0, -2.0, -0.5], [-0.3, -0.7, -0.9]], requires_grad=True)
    adv = torch.tensor([2.0, -1.0])
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])
    clipped_policy_loss(logprob, logprob.detach(), adv, mask).loss.backward()
    expected = torch.tensor([[-2.0, -2.0, 0.0], [1.0, 1.0, 1.0]]) / 5
    assert torch.allclose(logprob.grad, expected)


def test_low_var_kl_by_hand():
    # policy p = 0.5, reference q = 0.25: d = ln(q/p) = -ln 2; k3 = e^d - d - 1 = 0.5 + 0.693147 - 1 = 0.193147
    # equal log-probs -> 0; d = 20 -> e^20 - 21 is clamped to 10.
    logprob = torch.log(torch.tensor([[0.5, 0.3, 1e-9]]))
    ref = torch.log(torch.tensor([[0.25, 0.3, 1e-9 * math.exp(20)]]))
    kl = low_var_kl(logprob, ref)
    assert kl[0, 0].item() == pytest.approx(0.5 + math.log(2) - 1, rel=1e-5)
    assert kl[0, 1].item() == pytest.approx(0.0, abs=1e-7)
    assert kl[0, 2].item() == 10.0
    assert (low_var_kl(torch.randn(4, 5), torch.randn(4, 5)) >= 0).all()


def test_entropy_from_logits_by_hand():
    # Uniform over 4 -> ln 4 = 1.386294. Probs [0.25, 0.75] (logits [0, ln 3]):
    #   -(0.25 ln 0.25 + 0.75 ln 0.75) = 0.346574 + 0.215762 = 0.562335.
    logits = torch.tensor([[[0.0, 0.0, 0.0, 0.0], [0.0, math.log(3.0), -1e9, -1e9]]])
    h = entropy_from_logits(logits)
    assert h.shape == (1, 2)
    assert h[0, 0].item() == pytest.approx(math.log(4), rel=1e-6)
    assert h[0, 1].item() == pytest.approx(0.562335, rel=1e-5)
    big = torch.tensor([[[1000.0, 0.0]]])   # stable for large logits: entropy ~ 0, not NaN
    assert entropy_from_logits(big)[0, 0].item() == pytest.approx(0.0, abs=1e-6)


def test_token_logprobs_and_masked_mean():
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 7)
    tokens = torch.randint(0, 7, (2, 3))
    expected = torch.log_softmax(logits, -1).gather(-1, tokens[..., None])[..., 0]
    assert torch.allclose(token_logprobs(logits, tokens), expected, atol=1e-6)
    # (1 + 3) / 2 = 2; an empty mask gives 0, not NaN
    assert masked_mean(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([1, 0, 1])).item() == 2.0
    assert masked_mean(torch.tensor([1.0]), torch.tensor([0])).item() == 0.0


def _plain(logits, tokens, temperature):
    z = logits.double() / temperature
    return token_logprobs(z, tokens), entropy_from_logits(z)


@pytest.mark.parametrize("chunk", [1, 5, 12, 10_000])
def test_logprobs_and_entropy_chunked_matches_plain_values_and_gradients(chunk):
    # chunk_elements 5 and 12 with V = 5 cut the 2 x 7 positions into runs of 1 and 2 positions
    # (the last run of a row is short); 10_000 takes the plain path. Same loss, same gradient.
    torch.manual_seed(0)
    logits = (torch.randn(2, 7, 5, dtype=torch.float64) * 3).requires_grad_(True)
    tokens = torch.randint(0, 5, (2, 7))
    w_lp, w_h = torch.randn(2, 7, dtype=torch.float64), torch.randn(2, 7, dtype=torch.float64)
    lp, h = logprobs_and_entropy(logits, tokens, 0.7, chunk_elements=chunk)
    ((lp * w_lp).sum() + (h * w_h).sum()).backward()
    got = logits.grad.clone()
    logits.grad = None
    lp0, h0 = _plain(logits, tokens, 0.7)
    ((lp0 * w_lp).sum() + (h0 * w_h).sum()).backward()
    assert lp.dtype == h.dtype == torch.float32
    assert torch.allclose(lp.double(), lp0, atol=1e-5) and torch.allclose(h.double(), h0, atol=1e-5)
    assert torch.allclose(got, logits.grad, atol=1e-6)


def test_logprobs_and_entropy_chunked_gradient_of_one_output_and_low_precision():
    # Only the log-prob used (the entropy's gradient is None in backward); bf16 logits keep a bf16 gradient.
    torch.manual_seed(1)
    logits = torch.randn(3, 4, 6).to(torch.bfloat16).requires_grad_(True)
    tokens = torch.randint(0, 6, (3, 4))
    lp, _ = logprobs_and_entropy(logits, tokens, 1.0, chunk_elements=6)
    lp.sum().backward()
    assert logits.grad.dtype == torch.bfloat16
    ref = logits.detach().float().requires_grad_(True)
    token_logprobs(ref, tokens).sum().backward()
    assert torch.allclose(logits.grad.float(), ref.grad, atol=1e-2)
    # a view (the trainer passes logits[:, :-1]) works too
    base = torch.randn(2, 5, 6, requires_grad=True)
    lp, h = logprobs_and_entropy(base[:, :-1], torch.randint(0, 6, (2, 4)), 1.0, chunk_elements=6)
    (lp.sum() + h.sum()).backward()
    assert base.grad.shape == (2, 5, 6) and torch.all(base.grad[:, -1] == 0)


@pytest.mark.parametrize("chunk", [6, 10_000])
def test_logprobs_without_entropy_are_the_same_log_probs(chunk):
    # The reference policy's path (entropy=False): same log-probs on both paths, no entropy.
    torch.manual_seed(2)
    logits, tokens = torch.randn(2, 4, 6), torch.randint(0, 6, (2, 4))
    lp, h = logprobs_and_entropy(logits, tokens, 0.8, chunk_elements=chunk, entropy=False)
    assert h is None
    assert torch.allclose(lp, logprobs_and_entropy(logits, tokens, 0.8, chunk_elements=chunk)[0])
    assert torch.allclose(lp, token_logprobs(logits / 0.8, tokens), atol=1e-6)
