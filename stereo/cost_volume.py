"""Cost volumes for spiking or real-valued features: concatenation (GC-Net / LEAStereo) and coincidence."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.nn.functional as F


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
    return torch.cat(_shifted_halves(left, right, num_disparities), dim=-4)


def coincidence_cost_volume(left: torch.Tensor, right: torch.Tensor, *, num_disparities: int) -> torch.Tensor:
    """The concatenation volume plus the product of the two views at each candidate disparity.

    ``volume[..., :2C]`` is :func:`concat_cost_volume`; ``volume[..., 2C:, d, y, x] =
    left[..., y, x] * right[..., y, x - d]`` (zero for ``x < d``). For binary spikes the product is
    a coincidence (logical AND), so the volume stays binary and the matching net's first layer
    reads a direct match signal instead of having to learn one from the concatenated halves
    (compare GwcNet's group-wise correlation, here with groups of one channel).

    Args:
        left: features of the left view, shape ``[*, C, H, W]``.
        right: features of the right view, same shape.
        num_disparities: number of candidate disparities D (in feature-map pixels).

    Returns:
        Tensor of shape ``[*, 3C, D, H, W]``.

    Example:
        >>> left = torch.tensor([[[1.0, 1.0, 0.0]]])
        >>> right = torch.tensor([[[1.0, 0.0, 1.0]]])
        >>> coincidence_cost_volume(left, right, num_disparities=2)[2, :, 0].tolist()
        [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    """
    left_half, right_half = _shifted_halves(left, right, num_disparities)
    return torch.cat([left_half, right_half, left_half * right_half], dim=-4)


def _shifted_halves(left: torch.Tensor, right: torch.Tensor, num_disparities: int
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """``left`` and ``right`` shifted by each candidate, both ``[*, C, D, H, W]`` and zero where ``x < d``."""
    if left.shape != right.shape:
        raise ValueError(
            f"left and right features differ in shape: {tuple(left.shape)} vs {tuple(right.shape)}"
        )
    if left.dim() < 3:
        raise ValueError(f"features need at least [C, H, W] dimensions, got shape {tuple(left.shape)}")
    if num_disparities < 1:
        raise ValueError(f"num_disparities must be >= 1, got {num_disparities}")
    width = left.shape[-1]
    # Built out of place (pad, shifted views, stack): slice assignment into a zero volume made
    # autograd copy the whole volume's gradient once per assignment, O(D) full-volume copies.
    x = torch.arange(width, device=left.device)
    d = torch.arange(num_disparities, device=left.device)
    seen = (x.unsqueeze(0) >= d.unsqueeze(1)).view(num_disparities, 1, width)  # [D, 1, W]: x - d >= 0
    left_half = torch.where(seen, left.unsqueeze(-3), left.new_zeros(()))
    padded = F.pad(right, (num_disparities - 1, 0)) if num_disparities > 1 else right
    right_half = torch.stack(
        [padded[..., num_disparities - 1 - k: num_disparities - 1 - k + width] for k in range(num_disparities)],
        dim=-3,
    )
    return left_half, right_half


class CostVolume(NamedTuple):
    """A cost-volume builder and the volume channels it makes per feature channel."""

    build: Callable[..., torch.Tensor]
    channels_per_feature: int


COST_VOLUMES = {"concat": CostVolume(concat_cost_volume, 2), "coincidence": CostVolume(coincidence_cost_volume, 3)}
