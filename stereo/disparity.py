"""Disparity regression from a matching cost and the losses that train it.

Layouts: cost and probabilities ``[N, D, H, W]`` over candidate disparities ``0..D-1`` px;
disparity ``[N, 1, H, W]`` in positive pixels with the left view as reference; ground truth has
the same layout with NaN where it is unknown.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def soft_argmin(cost: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sub-pixel disparity as the expectation of ``d`` under ``softmin(cost)`` (GC-Net).

    ``p(d) = softmax(-cost)[d]`` and ``disparity = sum_d d * p(d)``.

    Args:
        cost: matching cost, shape ``[N, D, H, W]`` (lower = better match).

    Returns:
        ``(disparity, log_probability)`` with shapes ``[N, 1, H, W]`` (px) and ``[N, D, H, W]``.

    Example:
        >>> cost = torch.tensor([0.0, 100.0, 100.0]).view(1, 3, 1, 1)
        >>> round(soft_argmin(cost)[0].item(), 4)
        0.0
    """
    if cost.dim() != 4:
        raise ValueError(f"cost must have shape [N, D, H, W], got {tuple(cost.shape)}")
    log_probability = F.log_softmax(-cost, dim=1)
    candidates = torch.arange(cost.shape[1], device=cost.device, dtype=cost.dtype).view(1, -1, 1, 1)
    disparity = (log_probability.exp() * candidates).sum(dim=1, keepdim=True)
    return disparity, log_probability


def valid_disparity_mask(gt: torch.Tensor, *, max_disparity: float) -> torch.Tensor:
    """Pixels whose ground truth is finite and inside ``(0, max_disparity)``; same shape as ``gt``."""
    return torch.isfinite(gt) & (gt > 0) & (gt < max_disparity)


def smooth_l1_disparity_loss(
    disparity: torch.Tensor, gt: torch.Tensor, *, max_disparity: float
) -> tuple[torch.Tensor, dict[str, float]]:
    """Smooth-L1 (Huber, beta 1) between predicted and true disparity over valid pixels (LEAStereo).

    Args:
        disparity: prediction ``[N, 1, H, W]`` px.
        gt: ground truth ``[N, 1, H, W]`` px, NaN where unknown.
        max_disparity: pixels with ``gt >= max_disparity`` are ignored.

    Returns:
        ``(loss, metrics)``; the loss is 0 (with a gradient path) when no pixel is valid.
    """
    if disparity.shape != gt.shape:
        raise ValueError(f"prediction {tuple(disparity.shape)} and GT {tuple(gt.shape)} differ in shape")
    valid = valid_disparity_mask(gt, max_disparity=max_disparity)
    if not bool(valid.any()):
        return disparity.sum() * 0.0, {"valid_pixels": 0.0}
    loss = F.smooth_l1_loss(disparity[valid], gt[valid])
    return loss, {"valid_pixels": float(valid.sum())}


def subpixel_cross_entropy_loss(
    log_probability: torch.Tensor, gt: torch.Tensor, *, max_disparity: float, scale_px: float = 1.0
) -> tuple[torch.Tensor, dict[str, float]]:
    """Sub-pixel cross-entropy (Tulyakov et al. 2018, used by DDES) over valid pixels.

    The target distribution over candidates is a discretised Laplacian centred on the true
    sub-pixel disparity: ``q(d) proportional to exp(-|d - d_gt| / scale_px)``; the loss is
    ``-sum_d q(d) log p(d)`` averaged over valid pixels.

    Args:
        log_probability: ``[N, D, H, W]`` log p(d) (from :func:`soft_argmin`).
        gt: ``[N, 1, H, W]`` px, NaN where unknown.
        max_disparity: pixels with ``gt >= max_disparity`` are ignored.
        scale_px: width of the Laplacian target in px.

    Returns:
        ``(loss, metrics)``.
    """
    n, num_candidates, h, w = log_probability.shape
    if gt.shape != (n, 1, h, w):
        raise ValueError(f"GT must have shape {(n, 1, h, w)}, got {tuple(gt.shape)}")
    valid = valid_disparity_mask(gt, max_disparity=min(max_disparity, num_candidates))[:, 0]
    if not bool(valid.any()):
        return log_probability.sum() * 0.0, {"valid_pixels": 0.0}
    candidates = torch.arange(num_candidates, device=gt.device, dtype=log_probability.dtype)
    target_centre = gt[:, 0][valid].unsqueeze(1)  # [P, 1]
    target = torch.softmax(-(candidates.unsqueeze(0) - target_centre).abs() / scale_px, dim=1)  # [P, D]
    log_p = log_probability.permute(0, 2, 3, 1)[valid]  # [P, D]
    loss = -(target * log_p).sum(dim=1).mean()
    return loss, {"valid_pixels": float(valid.sum())}
