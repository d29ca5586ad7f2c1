"""GRPO pieces against hand-computed values (METHOD.md section 3)."""

import math

import pytest
import torch

from components.training.grpo import (
    clipped_policy_loss,
    entropy_from_logits,
    group_advantages,
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
