"""Classification networks: the derived spiking classifier and the search supernet.

Layout follows the authors' CIFAR model (Huawei-BIC/SpikeDHS retrain code, ported to
spikingjelly as ``model/spike_dhs.py``): the static image is fed at every one of T timesteps;
the first conv + BN + LIF (``3 * filter_multiplier`` channels) is the encoder; cells on the path;
global average pooling; a non-spiking linear + BN readout per timestep, averaged over time. The
optional auxiliary head sits after cell ``2 * L // 3`` (as the authors': after cell 5 of 8).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from spikingjelly.activation_based import layer
from torch import nn

from search.cost import PJ_PER_MJ, conv_macs, energy_pj
from search.derived import SpikingConvBN, build_path_net, neuron_config_for
from search.genotype import NUM_EDGES, NUM_MOVES, Genotype, decode_cell, node_key, transition_weights, viterbi
from search.neurons import NeuronConfig, make_neuron, reset_states
from search.ops import PRIMITIVES
from search.supernet import Supernet
from search.trellis import SearchTrellis

NET_NAME = "classify"


@dataclass
class ClassifyOutput:
    """Logits ``[N, num_classes]`` and auxiliary logits (None unless training with the head)."""

    logits: torch.Tensor
    aux_logits: torch.Tensor | None = None


def _as_sequence(images: torch.Tensor, timesteps: int) -> torch.Tensor:
    """``[N, C, H, W]`` repeated over T, or ``[T, N, C, H, W]`` as given."""
    if images.dim() == 4:
        return images.unsqueeze(0).expand(timesteps, *images.shape)
    if images.dim() == 5:
        return images
    raise ValueError(f"images must be [N, C, H, W] or [T, N, C, H, W], got {tuple(images.shape)}")


class Readout(nn.Module):
    """Global average pool + linear + BN per timestep, averaged over time: ``[T, N, C, *S] -> [N, K]``."""

    def __init__(self, c_in: int, num_classes: int) -> None:
        super().__init__()
        self.linear_bn = layer.SeqToANNContainer(nn.Linear(c_in, num_classes), nn.BatchNorm1d(num_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = x.flatten(3).mean(-1)  # [T, N, C]
        return self.linear_bn(pooled).mean(0)


class AuxiliaryHead(nn.Module):
    """Auxiliary classifier (DARTS/authors' layout, spiking): pool to 2x2, 1x1 conv 128, 2x2 conv 768."""

    def __init__(self, c_in: int, num_classes: int, *, neuron: NeuronConfig | None = None) -> None:
        super().__init__()
        self.pool = layer.SeqToANNContainer(nn.AdaptiveAvgPool2d(2))
        self.pool_neuron = make_neuron(neuron)
        self.conv1 = SpikingConvBN(c_in, 128, kernel_size=1, neuron=neuron)
        self.conv2 = SpikingConvBN(128, 768, kernel_size=2, neuron=neuron)
        self.readout = Readout(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool_neuron(self.pool(x))
        x = self.conv2(self.conv1(x))  # 2x2 kernel with padding 1 on 2x2 -> 3x3; pooled by the readout
        return self.readout(x)


class ClassifyNet(nn.Module):
    """Derived spiking classifier from a genotype's ``"classify"`` cell and path.

    Args:
        genotype: holds ``cells["classify"]`` and ``paths["classify"]`` (and optional node settings,
            ``"classify.stem"``, ``"classify.cell<i>.node<j>"``).
        num_classes: output classes.
        in_channels: image channels.
        filter_multiplier: channels per node at level 0 (authors' retrain: 48).
        timesteps: T (static images are repeated over T).
        auxiliary: build the auxiliary head (used in training mode only).
        neuron: default neuron settings.
        mix: ``"membrane"`` or ``"spike"`` node mixing.

    Shape:
        ``forward(images)``: ``[N, C, H, W]`` (or ``[T, N, C, H, W]``) -> :class:`ClassifyOutput`.
    """

    def __init__(
        self,
        genotype: Genotype,
        *,
        num_classes: int,
        in_channels: int = 3,
        filter_multiplier: int = 48,
        timesteps: int = 6,
        auxiliary: bool = False,
        neuron: NeuronConfig | None = None,
        mix: str = "membrane",
    ) -> None:
        super().__init__()
        neuron = neuron or NeuronConfig()
        self.timesteps = timesteps
        c_stem = 3 * filter_multiplier
        self.stem = SpikingConvBN(
            in_channels, c_stem, neuron=neuron_config_for(genotype, node_key(NET_NAME), neuron)
        )
        self.body = build_path_net(
            genotype, NET_NAME, c_stem=c_stem, filter_multiplier=filter_multiplier, neuron=neuron, mix=mix
        )
        self.readout = Readout(self.body.out_channels, num_classes)
        self.aux_index = 2 * len(self.body.path) // 3
        self.auxiliary = (
            AuxiliaryHead(self.body.channels[self.aux_index], num_classes, neuron=neuron)
            if auxiliary and self.aux_index < len(self.body.path) - 1
            else None
        )

    def forward(self, images: torch.Tensor) -> ClassifyOutput:
        reset_states(self)
        outputs = self.body.forward_all(self.stem(_as_sequence(images, self.timesteps)))
        aux = (
            self.auxiliary(outputs[self.aux_index]) if self.auxiliary is not None and self.training else None
        )
        return ClassifyOutput(logits=self.readout(outputs[-1]), aux_logits=aux)


class ClassifySupernet(Supernet):
    """Search supernet for classification: a stem, a :class:`SearchTrellis`, one readout per level.

    Architecture parameters: ``arch_alpha`` ``(9, num_ops)`` shared by every cell and
    ``arch_beta`` ``(num_layers, num_levels, 3)``. Logits are the sum of the readouts of the
    last layer's levels (each level's state already carries its beta weight).

    Args:
        num_classes, in_channels, timesteps, neuron, mix: as :class:`ClassifyNet`.
        num_layers: trellis depth L (authors: 8).
        num_levels: K (4; fewer for small images).
        filter_multiplier: channels per node at level 0 (authors' search: 8).

    Shape:
        ``forward(images)``: ``[N, C, H, W]`` -> :class:`ClassifyOutput` (``aux_logits`` None).
    """

    def __init__(
        self,
        *,
        num_classes: int,
        in_channels: int = 3,
        num_layers: int = 8,
        num_levels: int = 4,
        filter_multiplier: int = 8,
        timesteps: int = 6,
        neuron: NeuronConfig | None = None,
        mix: str = "membrane",
        rate_momentum: float = 0.1,
    ) -> None:
        super().__init__()
        self.timesteps, self.num_layers, self.num_levels = timesteps, num_layers, num_levels
        self.in_channels, self.c_stem = in_channels, 3 * filter_multiplier
        self.stem = SpikingConvBN(in_channels, self.c_stem, neuron=neuron)
        self.trellis = SearchTrellis(
            num_layers=num_layers,
            num_levels=num_levels,
            c_stem=self.c_stem,
            filter_multiplier=filter_multiplier,
            neuron=neuron,
            mix=mix,
        )
        self.readouts = nn.ModuleList(
            Readout(self.trellis.state_channels(k), num_classes) for k in range(num_levels)
        )
        self.arch_alpha = nn.Parameter(1e-3 * torch.randn(NUM_EDGES, len(PRIMITIVES)))
        self.arch_beta = nn.Parameter(1e-3 * torch.randn(num_layers, num_levels, NUM_MOVES))
        self.rate_momentum = rate_momentum
        # Running firing rate of spike inputs to cells (stem output), used by the expected cost.
        self.register_buffer("firing_rate", torch.tensor(0.1))

    def alpha_weights(self) -> torch.Tensor:
        return torch.softmax(self.arch_alpha, dim=-1)

    def beta_weights(self) -> torch.Tensor:
        return transition_weights(self.arch_beta)

    def forward(self, images: torch.Tensor) -> ClassifyOutput:
        reset_states(self)
        stem = self.stem(_as_sequence(images, self.timesteps))
        if self.training:
            with torch.no_grad():
                self.firing_rate.lerp_(stem.mean(), self.rate_momentum)
        states = self.trellis(stem, self.alpha_weights(), self.beta_weights())
        logits = sum(head(s) for head, s in zip(self.readouts, states, strict=True) if s is not None)
        return ClassifyOutput(logits=logits)

    def genotype(self) -> Genotype:
        """Decoded cell (top-2 edges per node) and Viterbi path."""
        return Genotype(
            cells={NET_NAME: decode_cell(self.arch_alpha)}, paths={NET_NAME: viterbi(self.arch_beta)}
        )

    def expected_energy_mj(
        self,
        image_size: tuple[int, int],
        *,
        alpha_weights: torch.Tensor | None = None,
        beta_weights: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Expected energy per sample (mJ) of the derived network: stem (real input, MACs) + cells.

        Differentiable in ``arch_alpha`` and ``arch_beta``; readouts are ignored (tiny).
        """
        alpha_weights = self.alpha_weights() if alpha_weights is None else alpha_weights
        beta_weights = self.beta_weights() if beta_weights is None else beta_weights
        stem_pj = energy_pj(
            self.timesteps
            * conv_macs(kernel_size=3, c_in=self.in_channels, c_out=self.c_stem, out_spatial=image_size),
            input_rate=None,
        )
        cells_pj = self.trellis.expected_energy_pj(
            alpha_weights,
            beta_weights,
            spatial=image_size,
            timesteps=self.timesteps,
            input_rate=float(self.firing_rate),
        )
        return (cells_pj + stem_pj) / PJ_PER_MJ


def count_parameters(module: nn.Module) -> int:
    """Number of parameters (architecture logits included if any)."""
    return sum(math.prod(p.shape) for p in module.parameters())
