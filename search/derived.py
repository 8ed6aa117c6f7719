"""Builders from a genotype to a fixed (derived) spiking network.

:class:`PathNet` is the derived trellis: one :class:`search.cell.DerivedCell` per layer on the
genotype's path. Cell ``i`` reads ``s1`` = output of cell ``i - 1`` and ``s0`` = output of cell
``i - 2`` (the stem output stands in for cells -1 and -2, as in the authors' retrain model), both
resampled to level ``path[i]`` by nearest neighbour (spikes stay binary). Level sizes follow
``search.trellis.level_sizes`` of the stem output.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from search.cell import DerivedCell, node_neuron_configs
from search.genotype import NUM_NODES, Cell, Genotype, check_path, node_key
from search.neurons import NeuronConfig, make_neuron, reset_states
from search.ops import ConvBN
from search.trellis import level_sizes, resample_spikes


def neuron_config_for(genotype: Genotype, key: str, default: NeuronConfig) -> NeuronConfig:
    """The node settings stored under ``key`` merged onto ``default`` (``default`` if none)."""
    setting = genotype.node(key)
    if setting is None:
        return default
    return NeuronConfig(
        kind=setting.kind,
        decay=setting.decay,
        v_threshold=default.v_threshold,
        surrogate_b=setting.surrogate_b if setting.surrogate_b is not None else default.surrogate_b,
    )


class SpikingConvBN(nn.Module):
    """Conv + BN + neuron, multi-step (stems, heads): ``[T, N, c_in, *S] -> [T, N, c_out, *S']``."""

    def __init__(
        self,
        c_in: int,
        c_out: int,
        *,
        kernel_size: int = 3,
        stride: int = 1,
        dim: int = 2,
        neuron: NeuronConfig | None = None,
    ) -> None:
        super().__init__()
        self.conv_bn = ConvBN(c_in, c_out, kernel_size=kernel_size, stride=stride, dim=dim)
        self.neuron = make_neuron(neuron or NeuronConfig())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.neuron(self.conv_bn(x))


class PathNet(nn.Module):
    """Derived cells along a layer-level path.

    Args:
        cell: six ``(edge, op)`` pairs shared by every layer.
        path: level per layer.
        c_stem: channels of the stem output (level 0).
        filter_multiplier: channels per node at level 0 (level k: ``filter_multiplier * 2^k``).
        dim: spatial axes (2 or 3).
        node_neurons: per layer, the three node neuron configs; None = rule of
            :func:`search.cell.node_neuron_configs` with default settings.
        mix: ``"membrane"`` or ``"spike"``.
        num_levels: levels of the trellis the path comes from.
        vocabulary_name: op vocabulary.

    Shape:
        ``forward(stem)``: ``[T, N, c_stem, *S] -> [T, N, out_channels, *S_last]``;
        ``forward_all(stem)`` returns every cell's output.
    """

    def __init__(
        self,
        cell: Cell,
        path: Sequence[int],
        *,
        c_stem: int,
        filter_multiplier: int,
        dim: int = 2,
        node_neurons: Sequence[Sequence[NeuronConfig]] | None = None,
        mix: str = "membrane",
        num_levels: int = 4,
        vocabulary_name: str = "spikedhs",
    ) -> None:
        super().__init__()
        path = tuple(int(p) for p in path)
        check_path(path, num_levels=num_levels)
        if node_neurons is not None and len(node_neurons) != len(path):
            raise ValueError(f"node_neurons needs one entry per layer ({len(path)}), got {len(node_neurons)}")
        self.path, self.num_levels, self.dim, self.c_stem = path, num_levels, dim, c_stem
        self.filter_multiplier = filter_multiplier
        channels = [c_stem, c_stem]  # outputs of cells -2 and -1 (the stem)
        cells = []
        for i, level in enumerate(path):
            c_node = filter_multiplier * 2**level
            cells.append(
                DerivedCell(
                    cell,
                    c_prev_prev=channels[-2],
                    c_prev=channels[-1],
                    c_node=c_node,
                    dim=dim,
                    mix=mix,
                    node_neurons=None if node_neurons is None else node_neurons[i],
                    vocabulary_name=vocabulary_name,
                )
            )
            channels.append(NUM_NODES * c_node)
        self.cells = nn.ModuleList(cells)
        self.channels = tuple(channels[2:])

    @property
    def out_channels(self) -> int:
        return self.channels[-1]

    def forward_all(self, stem: torch.Tensor) -> list[torch.Tensor]:
        if stem.dim() != self.dim + 3 or stem.shape[2] != self.c_stem:
            raise ValueError(
                f"stem must be [T, N, {self.c_stem}, *{self.dim} spatial], got {tuple(stem.shape)}"
            )
        reset_states(self)  # state never leaks between calls (e.g. left and right views)
        sizes = level_sizes(stem.shape[3:], self.num_levels)
        outputs = [stem, stem]
        for cell, level in zip(self.cells, self.path, strict=True):
            s0 = resample_spikes(outputs[-2], sizes[level])
            s1 = resample_spikes(outputs[-1], sizes[level])
            outputs.append(cell(s0, s1))
        return outputs[2:]

    def forward(self, stem: torch.Tensor) -> torch.Tensor:
        return self.forward_all(stem)[-1]


def build_path_net(
    genotype: Genotype,
    name: str,
    *,
    c_stem: int,
    filter_multiplier: int,
    dim: int = 2,
    neuron: NeuronConfig | None = None,
    mix: str = "membrane",
    num_levels: int = 4,
) -> PathNet:
    """The derived :class:`PathNet` of ``genotype.cells[name]`` on ``genotype.paths[name]``.

    Per-node neuron settings come from the genotype keys ``"<name>.cell<i>.node<j>"``; missing
    ones use ``neuron`` with the op-derived temperature (``search.cell.node_neuron_configs``).
    """
    neuron = neuron or NeuronConfig()
    cell, path = genotype.cell(name), genotype.path(name)
    node_neurons = [
        node_neuron_configs(
            cell,
            vocabulary_name=genotype.vocabulary,
            default=neuron,
            settings=[genotype.node(node_key(name, i, j)) for j in range(NUM_NODES)],
        )
        for i in range(len(path))
    ]
    return PathNet(
        cell,
        path,
        c_stem=c_stem,
        filter_multiplier=filter_multiplier,
        dim=dim,
        node_neurons=node_neurons,
        mix=mix,
        num_levels=num_levels,
        vocabulary_name=genotype.vocabulary,
    )
