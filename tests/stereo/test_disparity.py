import math

import torch

from stereo.disparity import (
    smooth_l1_disparity_loss,
    soft_argmin,
    subpixel_cross_entropy_loss,
    valid_disparity_mask,
)


def test_soft_argmin_hand_example():
    # costs 0, ln 3 -> softmin weights 3/4, 1/4 -> disparity 0.25
    cost = torch.tensor([0.0, math.log(3.0)]).view(1, 2, 1, 1)
    disparity, log_p = soft_argmin(cost)
    assert torch.allclose(disparity, torch.tensor(0.25).view(1, 1, 1, 1))
    assert torch.allclose(log_p.exp().sum(1), torch.ones(1, 1, 1))


def test_soft_argmin_peaked_cost_returns_the_argmin():
    cost = torch.full((2, 10, 3, 4), 50.0)
    cost[:, 7] = 0.0
    disparity, _ = soft_argmin(cost)
    assert torch.allclose(disparity, torch.full((2, 1, 3, 4), 7.0), atol=1e-4)


def test_valid_mask():
    gt = torch.tensor([float("nan"), 0.0, 3.0, 48.0, 47.9]).view(1, 1, 1, 5)
    assert valid_disparity_mask(gt, max_disparity=48).flatten().tolist() == [False, False, True, False, True]


def test_smooth_l1_matches_manual_and_ignores_invalid():
    pred = torch.tensor([1.0, 5.0, 2.0, 9.0]).view(1, 1, 2, 2)
    gt = torch.tensor([1.5, 2.0, float("nan"), 100.0]).view(1, 1, 2, 2)
    loss, metrics = smooth_l1_disparity_loss(pred, gt, max_disparity=48)
    expected = (0.5 * 0.5**2 + (3.0 - 0.5)) / 2  # huber: 0.5 x^2 below 1, |x| - 0.5 above
    assert math.isclose(loss.item(), expected, rel_tol=1e-6)
    assert metrics["valid_pixels"] == 2


def test_losses_without_valid_pixels_are_zero_with_gradient():
    pred = torch.ones(1, 1, 2, 2, requires_grad=True)
    gt = torch.full((1, 1, 2, 2), float("nan"))
    loss, _ = smooth_l1_disparity_loss(pred, gt, max_disparity=48)
    loss.backward()
    assert loss.item() == 0.0 and pred.grad is not None
    log_p = torch.log_softmax(torch.randn(1, 4, 2, 2), 1)
    ce, metrics = subpixel_cross_entropy_loss(log_p, gt, max_disparity=4)
    assert ce.item() == 0.0 and metrics["valid_pixels"] == 0


def test_subpixel_cross_entropy_is_minimised_by_the_target_distribution():
    gt = torch.tensor([2.3]).view(1, 1, 1, 1)
    d = torch.arange(6.0)
    target = torch.softmax(-(d - 2.3).abs() / 1.0, 0)
    at_target, _ = subpixel_cross_entropy_loss(target.log().view(1, 6, 1, 1), gt, max_disparity=6)
    entropy = -(target * target.log()).sum()
    assert math.isclose(at_target.item(), entropy.item(), rel_tol=1e-5)
    for other in (torch.softmax(torch.randn(6), 0), torch.full((6,), 1 / 6)):
        loss, _ = subpixel_cross_entropy_loss(other.log().view(1, 6, 1, 1), gt, max_disparity=6)
        assert loss.item() > at_target.item()


def test_cross_entropy_gradient_flows_to_cost():
    cost = torch.randn(2, 8, 3, 3, requires_grad=True)
    gt = torch.rand(2, 1, 3, 3) * 7
    _, log_p = soft_argmin(cost)
    loss, _ = subpixel_cross_entropy_loss(log_p, gt, max_disparity=8)
    loss.backward()
    assert torch.isfinite(cost.grad).all() and cost.grad.abs().sum() > 0
