"""Layer-level search space (Auto-DeepLab / LEAStereo trellis) and spike resampling.

``L`` layers x ``K`` levels; level ``k`` has the stem's resolution divided by ``2^k`` (rounded up
at each halving) and ``c_node = filter_multiplier * 2^k`` channels per node (cell output
``3 * c_node``). The stem sits at level 0 before layer 0. Layer ``l`` can occupy levels
``0..min(l + 1, K - 1)``.

Every cell at ``(layer l, level k)`` has one :class:`search.cell.SearchCell` per source level
``k'`` in ``{k-1, k, k+1}`` at layer ``l - 1`` (separate weights per source, as LEAStereo); the state at
``(l, k)`` is ``sum_k' w[l, k', k - k' + 1] * cell_{l,k,k'}(s0, resample(state[l-1, k']))`` with
``w = transition_weights(beta)`` (softmax over each source's valid moves). ``s0`` is the state at
``(l - 2, k)`` (the stem for ``l = 1, k = 0``; ``s1`` itself where that state does not exist).
Resolution changes use nearest-neighbour resampling, so spike tensors stay binary.

The trellis returns the states of its last layer, one per level (None where unreachable); the
backend combines them (the authors sum all levels after resizing; a classification head can pool
each level). The derived path of a genotype is built by ``search.derived``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from search.cell import SearchCell
from search.cost import cell_expected_energy
from search.genotype import NUM_MOVES, NUM_NODES, reachable_levels, valid_moves
from search.neurons import NeuronConfig


def level_sizes(spatial: Sequence[int], num_levels: int) -> list[tuple[int, ...]]:
    """Spatial size of each level: level 0 = ``spatial``, each next level ``ceil(size / 2)``."""
    sizes = [tuple(int(s) for s in spatial)]
    for _ in range(1, num_levels):
        sizes.append(tuple(math.ceil(s / 2) for s in sizes[-1]))
    return sizes


def resample_spikes(x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Nearest-neighbour resampling of a multi-step tensor (binary spikes stay binary).

    Args:
        x: ``[T, N, C, *S]`` with 1 to 3 spatial axes.
        size: target spatial size ``S'`` (same number of axes).

    Returns:
        ``[T, N, C, *S']`` (``x`` itself when the size already matches).
    """
    size = tuple(int(s) for s in size)
    if tuple(x.shape[3:]) == size:
        return x
    if len(size) != x.dim() - 3:
        raise ValueError(f"target size {size} does not match the spatial axes of {tuple(x.shape)}")
    t, n = x.shape[:2]
    y = F.interpolate(x.flatten(0, 1), size=size, mode="nearest")
    return y.view(t, n, *y.shape[1:])


def source_levels(layer: int, level: int, num_levels: int) -> list[int]:
    """Levels at ``layer - 1`` (the stem, level 0, for layer 0) with a valid move into ``level``."""
    candidates = [0] if layer == 0 else list(reachable_levels(layer - 1, num_levels))
    return [
        s
        for s in candidates
        if 0 <= level - s + 1 < NUM_MOVES and level - s + 1 in valid_moves(s, num_levels)
    ]


def level_occupancy(weights: torch.Tensor) -> torch.Tensor:
    """Probability that the path is at each ``(layer, level)`` (a Markov chain from the stem).

    Args:
        weights: ``transition_weights(beta)``, ``(L, K, 3)``.

    Returns:
        ``(L, K)``, each row sums to 1; differentiable.
    """
    num_layers, num_levels = weights.shape[:2]
    rows = []
    previous = torch.zeros(num_levels, dtype=weights.dtype, device=weights.device)
    previous = previous.index_fill(0, torch.tensor([0], device=weights.device), 1.0)
    for layer in range(num_layers):
        row = []
        for level in range(num_levels):
            terms = [
                previous[s] * weights[layer, s, level - s + 1]
                for s in source_levels(layer, level, num_levels)
            ]
            row.append(sum(terms) if terms else weights.new_zeros(()))
        previous = torch.stack(row)
        rows.append(previous)
    return torch.stack(rows)


class SearchTrellis(nn.Module):
    """Cells of every reachable ``(layer, level, source level)``, mixed by beta.

    Args:
        num_layers: L.
        num_levels: K (4 in Auto-DeepLab / LEAStereo).
        c_stem: channels of the stem output (level 0 input of layer 0).
        filter_multiplier: channels per node at level 0.
        dim: spatial axes (2 or 3).
        neuron: node neuron settings.
        mix: ``"membrane"`` or ``"spike"``.
        vocabulary_name: operation vocabulary.

    Shape:
        ``forward(stem, alpha_weights, beta_weights)``: stem ``[T, N, c_stem, *S]``,
        ``alpha_weights`` ``(9, num_ops)``, ``beta_weights`` ``(L, K, 3)`` -> list of K tensors
        ``[T, N, 3 * filter_multiplier * 2^k, *S_k]`` (None for unreachable levels).
    """

    def __init__(
        self,
        *,
        num_layers: int,
        num_levels: int = 4,
        c_stem: int,
        filter_multiplier: int,
        dim: int = 2,
        neuron: NeuronConfig | None = None,
        mix: str = "membrane",
        vocabulary_name: str = "spikedhs",
    ) -> None:
        super().__init__()
        if num_layers < 1 or num_levels < 1:
            raise ValueError(f"need num_layers >= 1 and num_levels >= 1, got {num_layers}, {num_levels}")
        self.num_layers, self.num_levels, self.dim = num_layers, num_levels, dim
        self.c_stem, self.filter_multiplier = c_stem, filter_multiplier
        self.cells = nn.ModuleDict()
        for layer in range(num_layers):
            for level in reachable_levels(layer, num_levels):
                for source in source_levels(layer, level, num_levels):
                    c_prev = c_stem if layer == 0 else self.state_channels(source)
                    self.cells[self._key(layer, level, source)] = SearchCell(
                        c_prev_prev=self._s0_channels(layer, level, c_prev),
                        c_prev=c_prev,
                        c_node=filter_multiplier * 2**level,
                        dim=dim,
                        neuron=neuron,
                        mix=mix,
                        vocabulary_name=vocabulary_name,
                    )

    @staticmethod
    def _key(layer: int, level: int, source: int) -> str:
        return f"l{layer}_k{level}_from{source}"

    def state_channels(self, level: int) -> int:
        """Channels of a cell output at ``level``: ``3 * filter_multiplier * 2^level``."""
        return NUM_NODES * self.filter_multiplier * 2**level

    def _s0_kind(self, layer: int, level: int) -> str:
        if layer >= 2 and level in reachable_levels(layer - 2, self.num_levels):
            return "state"
        if layer == 1 and level == 0:
            return "stem"
        return "s1"

    def _s0_channels(self, layer: int, level: int, c_prev: int) -> int:
        kind = self._s0_kind(layer, level)
        return {"state": self.state_channels(level), "stem": self.c_stem, "s1": c_prev}[kind]

    def forward(
        self, stem: torch.Tensor, alpha_weights: torch.Tensor, beta_weights: torch.Tensor
    ) -> list[torch.Tensor | None]:
        if stem.dim() != self.dim + 3 or stem.shape[2] != self.c_stem:
            raise ValueError(
                f"stem must be [T, N, {self.c_stem}, *{self.dim} spatial], got {tuple(stem.shape)}"
            )
        if tuple(beta_weights.shape) != (self.num_layers, self.num_levels, NUM_MOVES):
            raise ValueError(
                f"beta weights must be ({self.num_layers}, {self.num_levels}, {NUM_MOVES}), "
                f"got {tuple(beta_weights.shape)}"
            )
        sizes = level_sizes(stem.shape[3:], self.num_levels)
        before: dict[int, torch.Tensor] = {}
        previous: dict[int, torch.Tensor] = {0: stem}
        for layer in range(self.num_layers):
            current: dict[int, torch.Tensor] = {}
            for level in reachable_levels(layer, self.num_levels):
                total = 0
                for source in source_levels(layer, level, self.num_levels):
                    s1 = resample_spikes(previous[source], sizes[level])
                    kind = self._s0_kind(layer, level)
                    s0 = before[level] if kind == "state" else stem if kind == "stem" else s1
                    cell = self.cells[self._key(layer, level, source)]
                    total = total + beta_weights[layer, source, level - source + 1] * cell(
                        s0, s1, alpha_weights
                    )
                current[level] = total
            before = previous if layer > 0 else {}
            previous = current
        return [previous.get(level) for level in range(self.num_levels)]

    def expected_energy_pj(
        self,
        alpha_weights: torch.Tensor,
        beta_weights: torch.Tensor,
        *,
        spatial: Sequence[int],
        timesteps: int,
        input_rate: float | torch.Tensor,
    ) -> torch.Tensor:
        """Expected energy (pJ per sample) of the derived cells under softmax(alpha) and softmax(beta).

        ``sum_{l,k,k'} P(path at (l-1, k')) * w[l, k', move] * E[cell_{l,k,k'} | alpha]`` with the
        cell's expectation from :func:`search.cost.cell_expected_energy`; differentiable in both.

        Args:
            spatial: stem output size (level 0).
            timesteps: T.
            input_rate: firing rate of the cells' spike inputs (measured, e.g. a running mean).
        """
        sizes = level_sizes(spatial, self.num_levels)
        occupancy = level_occupancy(beta_weights)
        total = alpha_weights.new_zeros(())
        for layer in range(self.num_layers):
            for level in reachable_levels(layer, self.num_levels):
                for source in source_levels(layer, level, self.num_levels):
                    p_source = 1.0 if layer == 0 else occupancy[layer - 1, source]
                    cell = self.cells[self._key(layer, level, source)]
                    energy = cell_expected_energy(
                        alpha_weights,
                        c_prev_prev=cell.c_prev_prev,
                        c_prev=cell.c_prev,
                        c_node=cell.c_node,
                        spatial=sizes[level],
                        timesteps=timesteps,
                        input_rate=input_rate,
                        vocabulary_name=cell.vocabulary_name,
                    )
                    total = total + p_source * beta_weights[layer, source, level - source + 1] * energy
        return total
