"""The stereo search supernet: feature and matching trellises in the LEAStereo template.

Same template as the derived :class:`stereo.network.SpikingStereoNet` (same stems, cost volume
and disparity head), with the searched parts replaced by supernets:

1. input encoding over T steps; the feature stem (3x3 conv, 3x3 stride-3 conv, 3x3 conv, each
   BN + neuron) to 1/3 resolution, ``c_stem = 3 * filter_multiplier`` channels;
2. a 2D :class:`search.trellis.SearchTrellis` mixed by ``arch_alpha_feature`` / ``arch_beta_feature``;
3. a level head: every level of the last layer is brought back to level 0 as a *current* (identity
   at level 0, 1x1 conv + BN at coarser levels, as the derived net's head), nearest-upsampled,
   summed into one neuron (mixing at the membrane); a path that ends at any level is therefore
   valid, as in the derived net;
4. the concatenation cost volume, the 3D matching stem (two 3x3x3 conv + BN + neuron), a 3D
   trellis mixed by ``arch_alpha_matching`` / ``arch_beta_matching``, the same level head, a
   real-valued 3x3x3 conv to one channel averaged over T, trilinear upsampling and soft-argmin.

:meth:`StereoSupernet.genotype` decodes the cells (top-2 edges per node) and the Viterbi paths into a
genotype with cells and paths ``"feature"`` and ``"matching"`` that ``SpikingStereoNet`` builds.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from search.cost import PJ_PER_MJ, conv_macs, energy_pj
from search.derived import SpikingConvBN
from search.genotype import (
    NUM_EDGES,
    NUM_MOVES,
    Genotype,
    decode_cell,
    path_to_beta,
    transition_weights,
    viterbi,
)
from search.neurons import NeuronConfig, make_neuron, reset_states
from search.ops import DEFAULT_VOCABULARY, ConvBN, vocabulary
from search.supernet import Supernet
from search.trellis import SearchTrellis, level_occupancy, level_sizes, resample_spikes
from stereo.cost_volume import concat_cost_volume
from stereo.disparity import soft_argmin
from stereo.network import STEM_STRIDE, StereoNetConfig, StereoOutput, encode_events

FEATURE, MATCHING = "feature", "matching"
# Points whose firing rate the expected energy needs: the spike input of each layer after the encoder.
RATE_POINTS = ("feature_stem1", "feature_stem2", "feature_cells", "volume", "matching_stem1",
               "matching_cells", "matching_head")


@dataclass(frozen=True)
class ArchWeights:
    """Mixing weights of both supernets: ``alpha_*`` ``(9, num_ops)``, ``beta_*`` ``(L, K, 3)``."""

    alpha_feature: torch.Tensor
    beta_feature: torch.Tensor
    alpha_matching: torch.Tensor
    beta_matching: torch.Tensor


class LevelHead(nn.Module):
    """Last-layer states of a trellis -> spikes at level 0 with ``c_out`` channels.

    Level ``k``'s state becomes a current (identity when ``k = 0`` and the channels already match,
    else a 1x1 conv + BN), is nearest-resampled to level 0, and the currents of all levels are
    summed into one neuron.

    Shape:
        ``forward(states, size)``: K tensors ``[T, N, C_k, *S_k]`` (None = unreachable) ->
        ``[T, N, c_out, *size]``.
    """

    def __init__(self, trellis: SearchTrellis, c_out: int, *, neuron: NeuronConfig) -> None:
        super().__init__()
        self.projections = nn.ModuleList(
            nn.Identity() if k == 0 and trellis.state_channels(k) == c_out
            else ConvBN(trellis.state_channels(k), c_out, kernel_size=1, dim=trellis.dim)
            for k in range(trellis.num_levels)
        )
        self.neuron = make_neuron(neuron)
        self.c_out = c_out

    def forward(self, states: list[torch.Tensor | None], size: tuple[int, ...]) -> torch.Tensor:
        total = 0
        for projection, state in zip(self.projections, states, strict=True):
            if state is not None:
                total = total + resample_spikes(projection(state), size)
        return self.neuron(total)

    def expected_macs(self, occupancy: torch.Tensor, sizes: list[tuple[int, ...]]) -> torch.Tensor:
        """Expected MACs per sample and timestep: ``sum_k P(path ends at k) * MACs(projection k)``."""
        total = occupancy.new_zeros(())
        for k, projection in enumerate(self.projections):
            if isinstance(projection, ConvBN):
                macs = conv_macs(kernel_size=1, c_in=projection.c_in, c_out=self.c_out, out_spatial=sizes[k])
                total = total + occupancy[k] * macs
        return total


class StereoSupernet(Supernet):
    """Search supernet for stereo: feature and matching trellises between the derived net's stems and head.

    Architecture parameters: ``arch_alpha_feature`` ``(9, num_ops)``, ``arch_beta_feature``
    ``(feature_layers, num_levels, 3)``, ``arch_alpha_matching`` ``(9, num_ops)``,
    ``arch_beta_matching`` ``(matching_layers, num_levels, 3)``; one alpha is shared by every
    cell of its net (as LEAStereo).

    Args:
        network: the network settings shared with the derived net (input channels, max disparity,
            T, input mode, filter multipliers, mixing, neuron).
        feature_layers: depth of the feature trellis.
        matching_layers: depth of the matching trellis.
        num_levels: levels K of both trellises.
        rate_momentum: running-mean momentum of the measured firing rates (for the expected energy).

    Shape:
        ``forward(left, right)``: ``[N, C, H, W]`` each -> :class:`stereo.network.StereoOutput`
        (disparity ``[N, 1, H, W]`` px, log-probability ``[N, D, H, W]``).
    """

    def __init__(
        self,
        network: StereoNetConfig,
        *,
        feature_layers: int = 2,
        matching_layers: int = 4,
        num_levels: int = 4,
        rate_momentum: float = 0.1,
    ) -> None:
        super().__init__()
        self.config = network
        self.feature_layers, self.matching_layers, self.num_levels = feature_layers, matching_layers, num_levels
        neuron = network.neuron
        self.c_input = 1 if network.input_mode == "bins_as_time" else network.in_channels
        fm_f, fm_m = network.feature_filter_multiplier, network.matching_filter_multiplier
        self.c_feature, self.c_matching = 3 * fm_f, 3 * fm_m
        self.feature_stem = nn.ModuleList([
            SpikingConvBN(self.c_input, self.c_feature // 2, kernel_size=3, dim=2, neuron=neuron),
            SpikingConvBN(self.c_feature // 2, self.c_feature, kernel_size=3, stride=STEM_STRIDE, dim=2,
                          neuron=neuron),
            SpikingConvBN(self.c_feature, self.c_feature, kernel_size=3, dim=2, neuron=neuron),
        ])
        self.feature_trellis = SearchTrellis(num_layers=feature_layers, num_levels=num_levels,
                                             c_stem=self.c_feature, filter_multiplier=fm_f, dim=2,
                                             neuron=neuron, mix=network.mix)
        self.feature_head = LevelHead(self.feature_trellis, self.c_feature, neuron=neuron)
        self.matching_stem = nn.ModuleList([
            SpikingConvBN(2 * self.c_feature, self.c_matching, kernel_size=3, dim=3, neuron=neuron),
            SpikingConvBN(self.c_matching, self.c_matching, kernel_size=3, dim=3, neuron=neuron),
        ])
        self.matching_trellis = SearchTrellis(num_layers=matching_layers, num_levels=num_levels,
                                              c_stem=self.c_matching, filter_multiplier=fm_m, dim=3,
                                              neuron=neuron, mix=network.mix)
        self.matching_head = LevelHead(self.matching_trellis, self.c_matching, neuron=neuron)
        self.to_cost = nn.Conv3d(self.c_matching, 1, 3, padding=1)
        num_ops = len(vocabulary(DEFAULT_VOCABULARY))
        self.arch_alpha_feature = nn.Parameter(1e-3 * torch.randn(NUM_EDGES, num_ops))
        self.arch_beta_feature = nn.Parameter(1e-3 * torch.randn(feature_layers, num_levels, NUM_MOVES))
        self.arch_alpha_matching = nn.Parameter(1e-3 * torch.randn(NUM_EDGES, num_ops))
        self.arch_beta_matching = nn.Parameter(1e-3 * torch.randn(matching_layers, num_levels, NUM_MOVES))
        self.rate_momentum = rate_momentum
        self.register_buffer("firing_rates", torch.full((len(RATE_POINTS),), 0.1))

    def arch_weights(self) -> ArchWeights:
        """softmax(alpha) per edge and the valid-move softmax of beta, differentiable."""
        return ArchWeights(
            alpha_feature=torch.softmax(self.arch_alpha_feature, dim=-1),
            beta_feature=transition_weights(self.arch_beta_feature),
            alpha_matching=torch.softmax(self.arch_alpha_matching, dim=-1),
            beta_matching=transition_weights(self.arch_beta_matching),
        )

    def _record(self, values: dict[str, torch.Tensor]) -> None:
        if not self.training:
            return
        with torch.no_grad():
            for name, value in values.items():
                index = RATE_POINTS.index(name)
                self.firing_rates[index].lerp_(value.detach().float().mean(), self.rate_momentum)

    def forward(self, left: torch.Tensor, right: torch.Tensor, *, weights: ArchWeights | None = None
                ) -> StereoOutput:
        """Disparity of a stereo pair; ``weights`` replaces the softmaxes of the arch parameters."""
        cfg = self.config
        if left.shape != right.shape:
            raise ValueError(f"left {tuple(left.shape)} and right {tuple(right.shape)} inputs differ in shape")
        if left.dim() != 4 or left.shape[1] != cfg.in_channels:
            raise ValueError(f"inputs must be [N, {cfg.in_channels}, H, W] event tensors, got {tuple(left.shape)}")
        reset_states(self)  # state never leaks between calls
        weights = weights or self.arch_weights()
        n, _, height, width = left.shape
        pad_h, pad_w = (-height) % STEM_STRIDE, (-width) % STEM_STRIDE
        pair = torch.cat([left, right], dim=0)
        if pad_h or pad_w:
            pair = F.pad(pair, (0, pad_w, 0, pad_h))
        x = encode_events(pair, timesteps=cfg.timesteps, mode=cfg.input_mode)
        stem1 = self.feature_stem[0](x)
        stem2 = self.feature_stem[1](stem1)
        stem = self.feature_stem[2](stem2)
        states = self.feature_trellis(stem, weights.alpha_feature, weights.beta_feature)
        features = self.feature_head(states, tuple(stem.shape[3:]))
        volume = concat_cost_volume(features[:, :n], features[:, n:],
                                    num_disparities=cfg.max_disparity // STEM_STRIDE)
        m_stem1 = self.matching_stem[0](volume)
        m_stem = self.matching_stem[1](m_stem1)
        m_states = self.matching_trellis(m_stem, weights.alpha_matching, weights.beta_matching)
        spikes = self.matching_head(m_states, tuple(m_stem.shape[3:]))
        self._record({"feature_stem1": stem1, "feature_stem2": stem2, "feature_cells": stem, "volume": volume,
                      "matching_stem1": m_stem1, "matching_cells": m_stem, "matching_head": spikes})
        t = spikes.shape[0]
        cost = self.to_cost(spikes.flatten(0, 1))  # [T*N, 1, D', h, w]
        cost = cost.view(t, n, *cost.shape[2:]).mean(0)  # [N, D', h, w]
        cost = F.interpolate(cost.unsqueeze(1), size=(cfg.max_disparity, height + pad_h, width + pad_w),
                             mode="trilinear", align_corners=False).squeeze(1)
        disparity, log_probability = soft_argmin(cost[..., :height, :width])
        return StereoOutput(disparity=disparity, log_probability=log_probability)

    def genotype(self) -> Genotype:
        """Decoded cells (top-2 edges per node) and Viterbi paths of both nets."""
        return Genotype(
            cells={FEATURE: decode_cell(self.arch_alpha_feature), MATCHING: decode_cell(self.arch_alpha_matching)},
            paths={FEATURE: viterbi(self.arch_beta_feature), MATCHING: viterbi(self.arch_beta_matching)},
        )

    def decoded_weights(self, genotype: Genotype) -> ArchWeights:
        """Weights that select exactly a genotype: one-hot alpha rows on its six edges (others 0), beta on its path.

        With these, :meth:`expected_energy_mj` is the energy estimate of the derived network.
        """
        def alpha(name: str) -> torch.Tensor:
            w = torch.zeros_like(self.arch_alpha_feature)
            for edge, op in genotype.cell(name):
                w[edge, op] = 1.0
            return w

        def beta(name: str) -> torch.Tensor:
            logits = path_to_beta(genotype.path(name), num_levels=self.num_levels, scale=80.0).double()
            return transition_weights(logits).to(self.arch_beta_feature)

        return ArchWeights(alpha_feature=alpha(FEATURE), beta_feature=beta(FEATURE),
                           alpha_matching=alpha(MATCHING), beta_matching=beta(MATCHING))

    def energy_sizes(self, image_size: tuple[int, int]) -> tuple[tuple[int, int], tuple[int, int], tuple[int, ...]]:
        """``(padded full size, feature level-0 size, matching level-0 size (D', h, w))`` for an input size."""
        height, width = image_size
        padded = (height + (-height) % STEM_STRIDE, width + (-width) % STEM_STRIDE)
        level0 = (padded[0] // STEM_STRIDE, padded[1] // STEM_STRIDE)
        return padded, level0, (self.config.max_disparity // STEM_STRIDE, *level0)

    def minimum_energy_mj(self, image_size: tuple[int, int]) -> float:
        """Energy per frame (mJ) no architecture can go below: the real-valued encoder layer on both views.

        Every later layer reads spikes, so its cost scales with a firing rate that can approach 0.
        """
        padded, _, _ = self.energy_sizes(image_size)
        macs = conv_macs(kernel_size=3, c_in=self.c_input, c_out=self.c_feature // 2, out_spatial=padded)
        return 2 * self.config.timesteps * float(energy_pj(macs, input_rate=None)) / PJ_PER_MJ

    def expected_energy_mj(self, image_size: tuple[int, int], *, weights: ArchWeights | None = None
                           ) -> torch.Tensor:
        """Expected energy per frame (mJ, both views) of the derived network, differentiable in alpha and beta.

        Encoder layer: MACs at 4.6 pJ; every other layer: ``ACs = MACs * measured input firing rate``
        at 0.9 pJ (running means in ``firing_rates``, cells of a trellis all charged at the rate of
        its stem output). Cells: :meth:`search.trellis.SearchTrellis.expected_energy_pj`; level
        heads: MACs of each level's projection weighted by the probability that the path ends there.
        Upsampling and soft-argmin are not counted.

        Args:
            image_size: ``(H, W)`` of the input event tensors.
            weights: mixing weights (default: the current softmaxes; see :meth:`decoded_weights`).
        """
        weights = weights or self.arch_weights()
        rate = dict(zip(RATE_POINTS, self.firing_rates.float().tolist(), strict=True))
        steps = self.config.timesteps
        padded, level0, volume = self.energy_sizes(image_size)
        c_f, c_m = self.c_feature, self.c_matching

        def ac_pj(macs: float | torch.Tensor, input_rate: float) -> float | torch.Tensor:
            return energy_pj(steps * macs, input_rate=input_rate)

        feature = energy_pj(steps * conv_macs(kernel_size=3, c_in=self.c_input, c_out=c_f // 2, out_spatial=padded),
                            input_rate=None)
        feature += ac_pj(conv_macs(kernel_size=3, c_in=c_f // 2, c_out=c_f, out_spatial=level0), rate["feature_stem1"])
        feature += ac_pj(conv_macs(kernel_size=3, c_in=c_f, c_out=c_f, out_spatial=level0), rate["feature_stem2"])
        feature = feature + self.feature_trellis.expected_energy_pj(
            weights.alpha_feature, weights.beta_feature, spatial=level0, timesteps=steps,
            input_rate=rate["feature_cells"])
        occupancy = level_occupancy(weights.beta_feature)[-1]
        feature = feature + ac_pj(self.feature_head.expected_macs(occupancy, level_sizes(level0, self.num_levels)),
                                  rate["feature_cells"])
        matching = ac_pj(conv_macs(kernel_size=3, c_in=2 * c_f, c_out=c_m, out_spatial=volume), rate["volume"])
        matching += ac_pj(conv_macs(kernel_size=3, c_in=c_m, c_out=c_m, out_spatial=volume), rate["matching_stem1"])
        matching = matching + self.matching_trellis.expected_energy_pj(
            weights.alpha_matching, weights.beta_matching, spatial=volume, timesteps=steps,
            input_rate=rate["matching_cells"])
        occupancy = level_occupancy(weights.beta_matching)[-1]
        matching = matching + ac_pj(
            self.matching_head.expected_macs(occupancy, level_sizes(volume, self.num_levels)), rate["matching_cells"])
        matching = matching + ac_pj(conv_macs(kernel_size=3, c_in=c_m, c_out=1, out_spatial=volume),
                                    rate["matching_head"])
        return (2 * feature + matching) / PJ_PER_MJ
