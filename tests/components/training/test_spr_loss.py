"""SPR loss (eq. 6) against hand-computed values; the dynamic weight; the backbone gradient scale."""

import math

import pytest
import torch

from components.training.spr_loss import dynamic_weight, loss_kind_at, scale_backbone_grad, spr_loss

# Worked example. Steps (logit, label):      kept?
#   0: ( 2.0, 1)  head says correct, y = 1   -> kept (positive)
#   1: (-1.0, 1)  head says wrong,   y = 1   -> dropped
#   2: ( 0.5, 0)  head says correct, y = 0   -> dropped
#   3: (-3.0, 0)  head says wrong,   y = 0   -> kept (negative)
#   4: ( 1.0, 0)  head says correct, y = 0   -> dropped
# P = 1, N = 1 kept -> positive weight 1.5 * N / (P + N) = 0.75, negative weight P / (P + N) = 0.5.
# BCE: bce(2, 1) = ln(1 + e^-2) = 0.126928; bce(-3, 0) = ln(1 + e^-3) = 0.048587.
# SPR = (0.75 * 0.126928 + 0.5 * 0.048587) / (1.25 + 1e-5) = 0.119490 / 1.25001 = 0.095591.
LOGITS = [2.0, -1.0, 0.5, -3.0, 1.0]
LABELS = [1.0, 1.0, 0.0, 0.0, 0.0]


def _bce(logit: float, y: float) -> float:
    return math.log1p(math.exp(-logit)) if y == 1 else math.log1p(math.exp(logit))


def test_dynamic_weight_keeps_exactly_the_agreeing_steps():
    w = dynamic_weight(torch.tensor(LOGITS), torch.tensor(LABELS))
    assert w.tolist() == [1.0, 0.0, 0.0, 1.0, 0.0]
    # logit exactly 0 has no pseudo-label: dropped for both classes
    assert dynamic_weight(torch.zeros(2), torch.tensor([1.0, 0.0])).tolist() == [0.0, 0.0]


def test_spr_loss_by_hand():
    logits = torch.tensor(LOGITS, dtype=torch.float64, requires_grad=True)
    out = spr_loss(logits, torch.tensor(LABELS, dtype=torch.float64))
    expected = (0.75 * _bce(2.0, 1) + 0.5 * _bce(-3.0, 0)) / (1.25 + 1e-5)
    assert expected == pytest.approx(0.095591, abs=1e-6)
    assert out.loss.item() == pytest.approx(expected, rel=1e-9)
    assert out.kept == pytest.approx(2 / 5)
    assert out.kept_pos == pytest.approx(1 / 2)
    assert out.kept_neg == pytest.approx(1 / 3)
    assert (out.n_pos, out.n_neg) == (2, 3)
    out.loss.backward()
    # dropped steps get no gradient; kept ones get w * (sigmoid(logit) - y) / (sum w + 1e-5)
    g = logits.grad.tolist()
    assert g[1] == g[2] == g[4] == 0.0
    sig = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    assert g[0] == pytest.approx(0.75 * (sig(2.0) - 1) / 1.25001, rel=1e-9)
    assert g[3] == pytest.approx(0.5 * sig(-3.0) / 1.25001, rel=1e-9)


def test_pos_weight_changes_only_positive_weight():
    # pos_weight 1 -> weights 0.5 / 0.5: (0.5 * 0.126928 + 0.5 * 0.048587) / 1.00001
    out = spr_loss(torch.tensor(LOGITS, dtype=torch.float64), torch.tensor(LABELS, dtype=torch.float64), pos_weight=1.0)
    assert out.loss.item() == pytest.approx((0.5 * _bce(2.0, 1) + 0.5 * _bce(-3.0, 0)) / 1.00001, rel=1e-9)


def test_plain_bce_keeps_everything():
    # mean of the five BCEs: (0.126928 + 1.313262 + 0.974077 + 0.048587 + 1.313262) / 5 = 0.755223
    out = spr_loss(torch.tensor(LOGITS), torch.tensor(LABELS), loss="bce")
    assert out.loss.item() == pytest.approx(0.755223, abs=1e-5)
    assert (out.kept, out.kept_pos, out.kept_neg) == (1.0, 1.0, 1.0)


def test_one_class_kept_gives_zero_loss_and_reports_it():
    # The filter's fixed point: a head that calls everything wrong keeps only negatives (P = 0),
    # so the negative weight P / (P + N) is 0 and nothing is learned. The diagnostics show it.
    logits = torch.tensor([-1.0, -2.0, -0.5, -0.1], requires_grad=True)
    out = spr_loss(logits, torch.tensor([1.0, 1.0, 0.0, 0.0]))
    assert out.loss.item() == 0.0
    assert (out.kept, out.kept_pos, out.kept_neg) == (0.5, 0.0, 1.0)
    out.loss.backward()
    assert torch.equal(logits.grad, torch.zeros(4))


def test_empty_and_single_class_diagnostics():
    logits = torch.zeros(0, requires_grad=True)
    out = spr_loss(logits, torch.zeros(0))
    out.loss.backward()
    assert out.loss.item() == 0.0 and math.isnan(out.kept)
    only_neg = spr_loss(torch.tensor([-1.0, 2.0]), torch.tensor([0.0, 0.0]))
    assert math.isnan(only_neg.kept_pos) and only_neg.kept_neg == 0.5
    with pytest.raises(ValueError, match="loss must be"):  # noqa: PT012
        spr_loss(torch.zeros(2), torch.zeros(2), loss="mse")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"\[S\]"):
        spr_loss(torch.zeros(2, 1), torch.zeros(2, 1))


def test_balanced_bce_by_hand():
    # All five steps kept; P = 2, N = 3 -> positive weight 1.5 * 3/5 = 0.9, negative 2/5 = 0.4;
    # sum(w) = 0.9 * 2 + 0.4 * 3 = 3.0.
    # (0.9 * (0.126928 + 1.313262) + 0.4 * (0.974077 + 0.048587 + 1.313262)) / 3.00001
    #   = (1.296171 + 0.934370) / 3.00001 = 0.743511
    out = spr_loss(torch.tensor(LOGITS, dtype=torch.float64), torch.tensor(LABELS, dtype=torch.float64),
                   loss="balanced_bce")
    assert out.loss.item() == pytest.approx(0.743511, abs=2e-6)
    assert (out.kept, out.kept_pos, out.kept_neg) == (1.0, 1.0, 1.0)


def test_loss_kind_warmup():
    assert [loss_kind_at(s, "spr", 2) for s in range(4)] == ["balanced_bce", "balanced_bce", "spr", "spr"]
    assert [loss_kind_at(s, "spr", 1, "bce") for s in range(2)] == ["bce", "spr"]
    assert loss_kind_at(0, "bce", 5) == "bce"    # the BCE ablation has no warm-up phase


def test_backbone_gradient_is_scaled_by_1e_4():
    # backbone (Linear) -> h -> head (Linear) -> SPR loss. The backbone's gradient through
    # scale_backbone_grad is exactly 1e-4 of the unscaled one; the head's gradient is unchanged.
    torch.manual_seed(0)
    x = torch.randn(6, 5, dtype=torch.float64)
    labels = torch.tensor([1.0, 1.0, 1.0, 0.0, 0.0, 0.0], dtype=torch.float64)
    backbone = torch.nn.Linear(5, 4).double()
    head = torch.nn.Linear(4, 1).double()

    def grads(scale: float | None):
        backbone.zero_grad()
        head.zero_grad()
        h = backbone(x)
        if scale is not None:
            h = scale_backbone_grad(h, scale)
        spr_loss(head(h).squeeze(-1), labels, loss="bce").loss.backward()
        return backbone.weight.grad.clone(), head.weight.grad.clone(), h.detach()

    g_plain, head_plain, h_plain = grads(None)
    g_scaled, head_scaled, h_scaled = grads(1e-4)
    assert g_plain.abs().sum() > 0
    assert torch.allclose(g_scaled, 1e-4 * g_plain, rtol=1e-9, atol=0)
    assert torch.allclose(head_scaled, head_plain, rtol=1e-12)
    assert torch.allclose(h_scaled, h_plain, rtol=1e-12)   # identity in the forward pass


def test_shards_with_batch_totals_sum_to_the_full_loss():
    # Data-parallel: two shards, each normalised with the batch-wide counts (P = 1, N = 1 kept,
    # 5 steps) -> their losses add up to the single-process loss, in both modes.
    from components.training.spr_loss import StepTotals, kept_counts

    logits = torch.tensor(LOGITS, dtype=torch.float64)
    labels = torch.tensor(LABELS, dtype=torch.float64)
    assert kept_counts(logits, labels) == (1.0, 1.0)
    totals = StepTotals(kept_pos=1.0, kept_neg=1.0, steps=5)
    for kind in ("spr", "bce"):
        full = spr_loss(logits, labels, loss=kind).loss.item()
        parts = [spr_loss(logits[a:b], labels[a:b], loss=kind, totals=totals).loss.item() for a, b in ((0, 2), (2, 5))]
        assert sum(parts) == pytest.approx(full, rel=1e-9)


def test_group_pairwise_loss_by_hand_and_only_within_a_group():
    from components.training.spr_loss import group_pairwise_loss

    # rows 0, 1 form group 0 (row 0 correct, row 1 wrong); rows 2, 3 group 1 (both wrong: no pair).
    # Row 0 has steps with logits (0, 0) -> s0 = log 0.5; row 1 one step, logit 2 -> s1 = log sigmoid(2).
    logits = torch.tensor([0.0, 0.0, 2.0, 5.0, -5.0], dtype=torch.float64, requires_grad=True)
    rows = torch.tensor([0, 0, 1, 2, 3])
    labels = torch.tensor([1.0, 1.0, 0.0, 0.0, 0.0], dtype=torch.float64)
    value, pairs = group_pairwise_loss(logits, rows, labels, group_size=2)
    s0, s1 = math.log(0.5), math.log(1 / (1 + math.exp(-2.0)))
    assert pairs == 1.0
    assert value.item() == pytest.approx(math.log1p(math.exp(s1 - s0)), rel=1e-9)
    value.backward()
    assert logits.grad[0] < 0 and logits.grad[2] > 0        # descent raises the correct row, lowers the wrong
    assert logits.grad[3] == 0 and logits.grad[4] == 0      # a group without a correct row takes no part
    # group size 4 pairs row 0 with rows 1, 2 and 3 as well
    _, pairs4 = group_pairwise_loss(logits.detach(), rows, labels, group_size=4)
    assert pairs4 == 3.0
    # the batch-wide pair count divides the sum (data-parallel shards: two with one pair each)
    seen = []
    half, _ = group_pairwise_loss(logits.detach(), rows, labels, group_size=2,
                                  reduce_sum=lambda n: seen.append(n) or 2 * n)
    assert seen == [1.0] and half.item() == pytest.approx(value.item() / 2)


def test_group_pairwise_loss_of_no_steps_is_a_connected_zero():
    from components.training.spr_loss import group_pairwise_loss

    logits = torch.zeros(0, requires_grad=True)
    seen = []
    value, pairs = group_pairwise_loss(logits, torch.zeros(0, dtype=torch.long), torch.zeros(0), 8,
                                       reduce_sum=seen.append)
    value.backward()
    assert value.item() == 0.0 and pairs == 0.0
    assert seen == [0.0]                                     # a shard without steps still joins the count
