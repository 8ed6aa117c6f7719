"""Full-resolution disparity refinement: the real-valued head of a hybrid stereo network.

The spiking matching net decides disparity on a 1/3-resolution grid, so one coarse candidate is
3 px wide, depth edges are blurred over several full-resolution pixels, and the soft-argmin of a
wide or two-peaked distribution lands between its peaks. The refinement head (after StereoNet's,
Khamis et al. 2018, with a local cost as in HITNet, Tankovich et al. 2021) adds a residual:

    d_refined = relu(d + f(left, warp(right, d), d / D, [P(d) projected], [local cost]))

- ``warp(right, d)``: the right event tensor seen from the left view through ``d``;
- ``P(d)`` (optional): the matching's probability over the ``D`` candidates, projected by a 1x1
  convolution to a few channels, so the head sees where the distribution's peaks are;
- local cost (optional): for offsets ``k = -r..r`` px, ``sum_c |left - warp(right, d + k)|``
  averaged over a square window, a full-resolution matching cost around the coarse disparity.

``f`` is a 3x3 convolution and a stack of dilated residual 3x3 convolutions with leaky ReLUs; its
last convolution starts at zero, so a new head leaves the coarse disparity unchanged. Its layers
are ANN layers (real-valued inputs), which :func:`search.cost.energy_report` charges as MACs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

NEGATIVE_SLOPE = 0.2


@dataclass(frozen=True)
class RefinementConfig:
    """Shape of a :class:`DisparityRefinement` head.

    Attributes:
        channels: width of the head.
        dilations: one residual 3x3 layer per entry, with that dilation.
        probability_channels: channels the candidate probabilities are projected to (0: not an input).
        cost_radius: local cost at offsets ``-r..r`` px around the coarse disparity (0: not an input).
        cost_window: side of the square window (px, odd) the local cost is averaged over.
    """

    channels: int = 12
    dilations: tuple[int, ...] = (1, 2, 4, 8)
    probability_channels: int = 0
    cost_radius: int = 0
    cost_window: int = 5

    def __post_init__(self) -> None:
        if self.channels < 1 or not self.dilations or min(self.dilations) < 1:
            raise ValueError(f"refinement needs channels >= 1 and dilations >= 1, got {self.channels} and "
                             f"{list(self.dilations)}")
        if self.probability_channels < 0 or self.cost_radius < 0:
            raise ValueError("refinement probability_channels and cost_radius must be >= 0")
        if self.cost_window < 1 or self.cost_window % 2 == 0:
            raise ValueError(f"refinement cost_window must be odd and >= 1, got {self.cost_window}")

    def to_dict(self) -> dict:
        data = asdict(self)
        data["dilations"] = list(self.dilations)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> RefinementConfig:
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown refinement config keys: {', '.join(sorted(unknown))}")
        data = dict(data)
        if "dilations" in data:
            data["dilations"] = tuple(data["dilations"])
        return cls(**data)


def warp_right_to_left(right: torch.Tensor, disparity: torch.Tensor) -> torch.Tensor:
    """Sample the right view where the left view's pixels land: ``out[..., y, x] = right[..., y, x - d(y, x)]``.

    Linear in x, with zeros beyond the image: a sample between the first column and the border blends
    that column with 0 (``F.grid_sample`` with zero padding).

    Args:
        right: ``[N, C, H, W]`` right-view tensor.
        disparity: ``[N, 1, H, W]`` left-view disparity in px.

    Returns:
        ``[N, C, H, W]``.
    """
    if right.dim() != 4 or disparity.dim() != 4 or disparity.shape[1] != 1:
        raise ValueError(f"need right [N, C, H, W] and disparity [N, 1, H, W], got {tuple(right.shape)} and "
                         f"{tuple(disparity.shape)}")
    if right.shape[0] != disparity.shape[0] or right.shape[2:] != disparity.shape[2:]:
        raise ValueError(f"right {tuple(right.shape)} and disparity {tuple(disparity.shape)} differ in size")
    n, _, height, width = right.shape
    xs = torch.arange(width, dtype=right.dtype, device=right.device).view(1, 1, width) - disparity[:, 0]
    ys = torch.arange(height, dtype=right.dtype, device=right.device).view(1, height, 1).expand(n, height, width)
    # align_corners=False: pixel i's centre is at (2 i + 1) / size - 1, for any size including 1
    grid = torch.stack([(2.0 * xs + 1.0) / width - 1.0, (2.0 * ys + 1.0) / height - 1.0], dim=-1)
    return F.grid_sample(right, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def local_matching_cost(left: torch.Tensor, right: torch.Tensor, disparity: torch.Tensor, *, radius: int,
                        window: int) -> torch.Tensor:
    """Window-averaged absolute difference of left and warped right at ``d + k``, ``k = -radius..radius`` px.

    Args:
        left, right: ``[N, C, H, W]`` event tensors.
        disparity: ``[N, 1, H, W]`` px.
        radius: offsets ``-radius..radius`` (integers, px).
        window: side of the square averaging window (odd); at the border only pixels inside count.

    Returns:
        ``[N, 2 * radius + 1, H, W]``, channel ``j`` for offset ``j - radius``.
    """
    costs = []
    for offset in range(-radius, radius + 1):
        difference = (left - warp_right_to_left(right, disparity + offset)).abs().sum(dim=1, keepdim=True)
        costs.append(F.avg_pool2d(difference, window, stride=1, padding=window // 2, count_include_pad=False))
    return torch.cat(costs, dim=1)


class DisparityRefinement(nn.Module):
    """``(left, right [N, C, H, W], disparity [N, 1, H, W] px, log p [N, D, H, W]) -> refined [N, 1, H, W] px``.

    Args:
        in_channels: channels of each event tensor.
        config: the head's shape.
        max_disparity: ``D`` px: candidates ``0..D-1``; the disparity enters the head divided by it.
    """

    def __init__(self, in_channels: int, config: RefinementConfig, *, max_disparity: int) -> None:
        super().__init__()
        self.config = config
        self.max_disparity = float(max_disparity)
        inputs = 2 * in_channels + 1 + config.probability_channels
        inputs += 2 * config.cost_radius + 1 if config.cost_radius else 0
        self.project = (nn.Conv2d(max_disparity, config.probability_channels, 1)
                        if config.probability_channels else None)
        self.inp = nn.Conv2d(inputs, config.channels, 3, padding=1)
        self.blocks = nn.ModuleList(nn.Conv2d(config.channels, config.channels, 3, padding=d, dilation=d)
                                    for d in config.dilations)
        self.out = nn.Conv2d(config.channels, 1, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, left: torch.Tensor, right: torch.Tensor, disparity: torch.Tensor,
                log_probability: torch.Tensor | None = None) -> torch.Tensor:
        parts = [left, warp_right_to_left(right, disparity), disparity / self.max_disparity]
        if self.project is not None:
            if log_probability is None:
                raise ValueError("this refinement head reads the candidate probabilities: pass log_probability")
            parts.append(self.project(log_probability.exp()))
        if self.config.cost_radius:
            parts.append(local_matching_cost(left, right, disparity, radius=self.config.cost_radius,
                                             window=self.config.cost_window))
        x = F.leaky_relu(self.inp(torch.cat(parts, dim=1)), NEGATIVE_SLOPE)
        for block in self.blocks:
            x = x + F.leaky_relu(block(x), NEGATIVE_SLOPE)
        return F.relu(disparity + self.out(x))
