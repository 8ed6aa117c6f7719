"""The searched spiking stereo network (LEAStereo template with spiking cells).

Pipeline for a left/right pair of event tensors ``[N, C, H, W]``:

1. input encoding over ``T`` timesteps (:func:`encode_events`);
2. shared spiking feature net: stem to 1/3 resolution, derived 2D cells on the searched path,
   back to the 1/3 level (:class:`FeatureNet`), giving spikes ``[T, N, F, h, w]``;
3. concatenation cost volume of the two views, ``[T, N, 2F, D/3, h, w]`` (optionally with the
   coincidences of the two views' spikes as F more channels, :func:`stereo.cost_volume.coincidence_cost_volume`);
4. spiking 3D matching net on its searched path, back to the 1/3 level, a real-valued
   3x3x3 convolution to one channel and the average over time (:class:`MatchingNet`);
5. upsampling to ``[N, D, H, W]`` (trilinear as LEAStereo, or :func:`aligned_upsample`), softmin and
   soft-argmin (:func:`stereo.disparity.soft_argmin`);
6. optionally, a real-valued full-resolution refinement head
   (:class:`stereo.refinement.DisparityRefinement`), which makes the network hybrid.

Any input size works: the input is padded to a multiple of 3 and the output cropped back.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from spikingjelly.activation_based import functional
from torch import nn

from search.derived import SpikingConvBN, build_path_net
from search.genotype import Genotype
from search.neurons import NeuronConfig
from search.trellis import resample_spikes
from stereo.cost_volume import COST_VOLUMES
from stereo.disparity import soft_argmin
from stereo.refinement import DisparityRefinement, RefinementConfig

INPUT_MODES = ("repeat", "bins_as_time")
COST_UPSAMPLING = ("trilinear", "aligned")
STEM_STRIDE = 3


@dataclass(frozen=True)
class StereoNetConfig:
    """Everything besides the genotype that fixes the network's shape.

    Attributes:
        in_channels: channels of each event tensor (bins of the representation).
        max_disparity: candidate disparities ``0..max_disparity-1`` px at full resolution
            (a multiple of 3; 48 covers MVSEC's 36 px).
        timesteps: simulation steps T. With ``input_mode="bins_as_time"`` it must equal ``in_channels``.
        input_mode: ``"repeat"`` feeds the whole tensor at every step (the paper); ``"bins_as_time"``
            feeds bin ``t`` at step ``t`` as one channel.
        feature_filter_multiplier: channels per node at level 0 of the feature net.
        matching_filter_multiplier: channels per node at level 0 of the matching net.
        mix: where a node mixes its inputs: ``"membrane"`` (currents into one neuron) or ``"spike"``.
        neuron: default neuron settings (per-node settings in the genotype override them).
        cost_upsampling: how the 1/3-resolution matching cost reaches full resolution.
            ``"trilinear"`` (LEAStereo; the default): ``F.interpolate`` with
            ``align_corners=False``, which puts coarse sample ``k`` at full index ``3k + 1`` (in
            disparity and in x, y) although the stride-3 stem and the cost volume place it at ``3k``;
            ``"aligned"`` (the shipped model): linear interpolation with coarse ``k`` at full ``3k`` (see
            :func:`aligned_upsample`).
        cost_volume: ``"concat"`` (LEAStereo; the default): left and shifted right
            features stacked; ``"coincidence"`` (the shipped model): the same plus their product (for spikes, the
            coincidences of the two views), which gives the matching net a direct match signal.
        refinement: the full-resolution refinement head
            (:class:`stereo.refinement.DisparityRefinement`, real-valued, which makes the network
            hybrid); None (default) for none.
    """

    in_channels: int = 5
    max_disparity: int = 48
    timesteps: int = 4
    input_mode: str = "repeat"
    feature_filter_multiplier: int = 8
    matching_filter_multiplier: int = 8
    mix: str = "membrane"
    neuron: NeuronConfig = field(default_factory=NeuronConfig)
    cost_upsampling: str = "trilinear"
    cost_volume: str = "concat"
    refinement: RefinementConfig | None = None

    def __post_init__(self) -> None:
        if self.cost_upsampling not in COST_UPSAMPLING:
            raise ValueError(f"unknown cost_upsampling {self.cost_upsampling!r}; known: {', '.join(COST_UPSAMPLING)}")
        if self.cost_volume not in COST_VOLUMES:
            raise ValueError(f"unknown cost_volume {self.cost_volume!r}; known: {', '.join(COST_VOLUMES)}")
        if self.input_mode not in INPUT_MODES:
            raise ValueError(f"unknown input_mode {self.input_mode!r}; known: {', '.join(INPUT_MODES)}")
        if self.max_disparity < STEM_STRIDE or self.max_disparity % STEM_STRIDE:
            raise ValueError(f"max_disparity must be a positive multiple of {STEM_STRIDE}, got {self.max_disparity}")
        if self.input_mode == "bins_as_time" and self.timesteps != self.in_channels:
            raise ValueError(
                f"input_mode 'bins_as_time' needs timesteps == in_channels ({self.in_channels}), got {self.timesteps}"
            )
        if min(self.in_channels, self.timesteps, self.feature_filter_multiplier,
               self.matching_filter_multiplier) < 1:
            raise ValueError("in_channels, timesteps and filter multipliers must be >= 1")

    def to_dict(self) -> dict:
        data = asdict(self)
        if self.cost_upsampling == "trilinear":
            del data["cost_upsampling"]  # checkpoints made before the option keep their form
        if self.cost_volume == "concat":
            del data["cost_volume"]  # likewise
        if self.refinement is None:
            del data["refinement"]  # likewise
        else:
            data["refinement"] = self.refinement.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict) -> StereoNetConfig:
        data = dict(data)
        if isinstance(data.get("neuron"), dict):
            data["neuron"] = NeuronConfig(**data["neuron"])
        if isinstance(data.get("refinement"), dict):
            data["refinement"] = RefinementConfig.from_dict(data["refinement"])
        unknown = set(data) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown stereo network config keys: {', '.join(sorted(unknown))}")
        return cls(**data)


@dataclass
class StereoOutput:
    """What the network returns in every mode.

    Attributes:
        disparity: ``[N, 1, H, W]`` px, left view as reference.
        log_probability: ``[N, D, H, W]`` log p(d) over candidates ``0..D-1`` (of the spiking matching,
            before any refinement).
        coarse_disparity: with a refinement head, the soft-argmin disparity ``[N, 1, H, W]`` px it
            refined; otherwise None (``disparity`` is the soft-argmin).
    """

    disparity: torch.Tensor
    log_probability: torch.Tensor
    coarse_disparity: torch.Tensor | None = None


def encode_events(x: torch.Tensor, *, timesteps: int, mode: str) -> torch.Tensor:
    """Turn an event tensor ``[N, C, H, W]`` into the multi-step network input.

    ``"repeat"``: ``[T, N, C, H, W]`` with the same tensor at every step; ``"bins_as_time"``:
    ``[C, N, 1, H, W]`` with bin ``t`` at step ``t``.
    """
    if x.dim() != 4:
        raise ValueError(f"event tensor must be [N, C, H, W], got {tuple(x.shape)}")
    if mode == "repeat":
        return x.unsqueeze(0).expand(timesteps, *x.shape)
    if mode == "bins_as_time":
        return x.transpose(0, 1).unsqueeze(2)
    raise ValueError(f"unknown input mode {mode!r}; known: {', '.join(INPUT_MODES)}")


def aligned_upsample(cost: torch.Tensor, size: tuple[int, int, int]) -> torch.Tensor:
    """Linear upsampling by 3 of ``[N, D', h, w]`` to ``[N, *size]`` with coarse index ``k`` at full index ``3k``.

    Along each axis, full index ``i`` reads coarse position ``min(i / 3, n - 1)`` (``n`` coarse
    samples) by linear interpolation; indices past the last sample repeat it. Each ``size`` entry
    must be at most ``3 n``.
    """
    coarse = tuple(cost.shape[1:])
    if any(s > 3 * n for s, n in zip(size, coarse, strict=True)):
        raise ValueError(f"cannot upsample {coarse} by 3 to {size}")
    exact = tuple(3 * (n - 1) + 1 for n in coarse)  # align_corners=True at this size: coarse k at 3k
    out = F.interpolate(cost.unsqueeze(1), size=exact, mode="trilinear", align_corners=True).squeeze(1)
    pad = [max(s - e, 0) for s, e in zip(size, exact, strict=True)]
    if any(pad):
        out = F.pad(out.unsqueeze(1), (0, pad[2], 0, pad[1], 0, pad[0]), mode="replicate").squeeze(1)
    return out[:, :size[0], :size[1], :size[2]]


class _BackToLevelZero(nn.Module):
    """Bring the last cell's spikes to level 0: 1x1 conv + BN + neuron at their level, then nearest upsampling.

    When the path already ends at level 0 with ``c_out`` channels this is the identity.
    """

    def __init__(self, c_in: int, c_out: int, *, level: int, dim: int, neuron: NeuronConfig) -> None:
        super().__init__()
        self.project = (nn.Identity() if level == 0 and c_in == c_out
                        else SpikingConvBN(c_in, c_out, kernel_size=1, dim=dim, neuron=neuron))

    def forward(self, x: torch.Tensor, size: tuple[int, ...]) -> torch.Tensor:
        return resample_spikes(self.project(x), size)


class FeatureNet(nn.Module):
    """Shared spiking feature extractor: ``[T, N, C_in, H, W] -> [T, N, F, ceil(H/3), ceil(W/3)]`` spikes.

    Stem (LEAStereo): 3x3 conv (the encoder, real-valued input), 3x3 stride-3 conv, 3x3 conv, each
    with BN and a neuron; then the derived cells of ``genotype.cells["feature"]`` on its path;
    ``F = 3 * feature_filter_multiplier``.
    """

    def __init__(self, genotype: Genotype, config: StereoNetConfig) -> None:
        super().__init__()
        c_in = 1 if config.input_mode == "bins_as_time" else config.in_channels
        c_stem = 3 * config.feature_filter_multiplier
        neuron = config.neuron
        self.stem = nn.Sequential(
            SpikingConvBN(c_in, c_stem // 2, kernel_size=3, dim=2, neuron=neuron),
            SpikingConvBN(c_stem // 2, c_stem, kernel_size=3, stride=STEM_STRIDE, dim=2, neuron=neuron),
            SpikingConvBN(c_stem, c_stem, kernel_size=3, dim=2, neuron=neuron),
        )
        self.cells = build_path_net(genotype, "feature", c_stem=c_stem,
                                    filter_multiplier=config.feature_filter_multiplier, dim=2,
                                    neuron=neuron, mix=config.mix)
        self.head = _BackToLevelZero(self.cells.out_channels, c_stem, level=self.cells.path[-1], dim=2,
                                     neuron=neuron)
        self.out_channels = c_stem

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        stem = self.stem(x)
        return self.head(self.cells(stem), tuple(stem.shape[3:]))


class MatchingNet(nn.Module):
    """Spiking 3D matching net: cost volume ``[T, N, 2F, D', h, w]`` -> matching cost ``[N, D', h, w]``.

    Two 3x3x3 stem layers, the derived cells of ``genotype.cells["matching"]`` on its path, back to
    level 0, then a real-valued 3x3x3 convolution to one channel averaged over the T steps.
    """

    def __init__(self, genotype: Genotype, config: StereoNetConfig, *, c_volume: int) -> None:
        super().__init__()
        c_stem = 3 * config.matching_filter_multiplier
        neuron = config.neuron
        self.stem = nn.Sequential(
            SpikingConvBN(c_volume, c_stem, kernel_size=3, dim=3, neuron=neuron),
            SpikingConvBN(c_stem, c_stem, kernel_size=3, dim=3, neuron=neuron),
        )
        self.cells = build_path_net(genotype, "matching", c_stem=c_stem,
                                    filter_multiplier=config.matching_filter_multiplier, dim=3,
                                    neuron=neuron, mix=config.mix)
        self.head = _BackToLevelZero(self.cells.out_channels, c_stem, level=self.cells.path[-1], dim=3,
                                     neuron=neuron)
        self.to_cost = nn.Conv3d(c_stem, 1, 3, padding=1)

    def forward(self, volume: torch.Tensor) -> torch.Tensor:
        stem = self.stem(volume)
        spikes = self.head(self.cells(stem), tuple(stem.shape[3:]))
        t, n = spikes.shape[:2]
        cost = self.to_cost(spikes.flatten(0, 1))  # [T*N, 1, D', h, w]
        return cost.view(t, n, *cost.shape[2:]).mean(0)  # [N, D', h, w]


class SpikingStereoNet(nn.Module):
    """Left/right event tensors ``[N, C, H, W]`` -> :class:`StereoOutput` at full resolution.

    Args:
        genotype: a genotype with cells and paths named ``"feature"`` and ``"matching"``.
        config: the network settings.

    Example:
        >>> from search.named_genotypes import get_genotype
        >>> cfg = StereoNetConfig(in_channels=2, max_disparity=12, timesteps=2,
        ...                       feature_filter_multiplier=2, matching_filter_multiplier=2)
        >>> net = SpikingStereoNet(get_genotype("spikedhs_mvsec"), cfg)
        >>> out = net(torch.rand(1, 2, 20, 30), torch.rand(1, 2, 20, 30))
        >>> tuple(out.disparity.shape), tuple(out.log_probability.shape)
        ((1, 1, 20, 30), (1, 12, 20, 30))
    """

    def __init__(self, genotype: Genotype, config: StereoNetConfig) -> None:
        super().__init__()
        for name in ("feature", "matching"):
            if name not in genotype.cells or name not in genotype.paths:
                raise ValueError(f"a stereo genotype needs a cell and a path named {name!r}; "
                                 f"this one has cells {sorted(genotype.cells)}")
        self.genotype = genotype
        self.config = config
        self.feature = FeatureNet(genotype, config)
        per_feature = COST_VOLUMES[config.cost_volume].channels_per_feature
        self.matching = MatchingNet(genotype, config, c_volume=per_feature * self.feature.out_channels)
        self.refine = (None if config.refinement is None else
                       DisparityRefinement(config.in_channels, config.refinement, max_disparity=config.max_disparity))

    def forward(self, left: torch.Tensor, right: torch.Tensor) -> StereoOutput:
        if left.shape != right.shape:
            raise ValueError(f"left {tuple(left.shape)} and right {tuple(right.shape)} inputs differ in shape")
        if left.dim() != 4 or left.shape[1] != self.config.in_channels:
            raise ValueError(
                f"inputs must be [N, {self.config.in_channels}, H, W] event tensors, got {tuple(left.shape)}"
            )
        functional.reset_net(self)  # state never leaks between calls
        n, _, height, width = left.shape
        pad_h, pad_w = (-height) % STEM_STRIDE, (-width) % STEM_STRIDE
        pair = torch.cat([left, right], dim=0)
        if pad_h or pad_w:
            pair = F.pad(pair, (0, pad_w, 0, pad_h))
        cfg = self.config
        features = self.feature(encode_events(pair, timesteps=cfg.timesteps, mode=cfg.input_mode))
        volume = COST_VOLUMES[cfg.cost_volume].build(features[:, :n], features[:, n:],
                                                     num_disparities=cfg.max_disparity // STEM_STRIDE)
        cost = self.matching(volume)  # [N, D/3, h, w]
        full = (cfg.max_disparity, height + pad_h, width + pad_w)
        if cfg.cost_upsampling == "aligned":
            cost = aligned_upsample(cost, full)
        else:
            cost = F.interpolate(cost.unsqueeze(1), size=full, mode="trilinear", align_corners=False).squeeze(1)
        disparity, log_probability = soft_argmin(cost[..., :height, :width])
        if self.refine is None:
            return StereoOutput(disparity=disparity, log_probability=log_probability)
        return StereoOutput(disparity=self.refine(left, right, disparity, log_probability),
                            log_probability=log_probability, coarse_disparity=disparity)

