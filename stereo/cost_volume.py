"""Concatenation cost volume (GC-Net / LEAStereo style) for spiking or real-valued features."""

from __future__ import annotations

import torch


def concat_cost_volume(left: torch.Tensor, right: torch.Tensor, *, num_disparities: int) -> torch.Tensor:
    """Stack left features with right features shifted by each candidate disparity.

    The left image is the reference: ``volume[..., :C, d, y, x] = left[..., y, x]`` and
    ``volume[..., C:, d, y, x] = right[..., y, x - d]`` for ``x >= d``; both halves are zero for
    ``x < d`` (no right pixel to compare with). Binary spike inputs give a binary volume.

    Args:
        left: features of the left view, shape ``[*, C, H, W]`` (e.g. ``[T, N, C, H, W]``).
        right: features of the right view, same shape as ``left``.
        num_disparities: number of candidate disparities D (in feature-map pixels).

    Returns:
        Tensor of shape ``[*, 2C, D, H, W]`` with the dtype and device of ``left``.

    Example:
        >>> left = torch.arange(4.0).view(1, 1, 4)
        >>> right = torch.arange(4.0).view(1, 1, 4) + 10
        >>> volume = concat_cost_volume(left, right, num_disparities=2)  # [2C, D, H, W]
        >>> volume[1, 1, 0].tolist()  # right view shifted by d = 1
        [0.0, 10.0, 11.0, 12.0]
    """
    if left.shape != right.shape:
        raise ValueError(
            f"left and right features differ in shape: {tuple(left.shape)} vs {tuple(right.shape)}"
        )
    if left.dim() < 3:
        raise ValueError(f"features need at least [C, H, W] dimensions, got shape {tuple(left.shape)}")
    if num_disparities < 1:
        raise ValueError(f"num_disparities must be >= 1, got {num_disparities}")
    *lead, channels, height, width = left.shape
    volume = left.new_zeros(*lead, 2 * channels, num_disparities, height, width)
    for d in range(min(num_disparities, width)):
        volume[..., :channels, d, :, d:] = left[..., d:]
        volume[..., channels:, d, :, d:] = right[..., : width - d]
    return volume
