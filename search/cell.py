"""Search cell and derived cell: two inputs, three spiking nodes, nine edges, concat output.

Both cells take ``s0`` (output of the cell before the previous one) and ``s1`` (previous cell)
already resampled to the cell's resolution (``search.trellis.resample_spikes``), shapes
``[T, N, c_prev_prev, *S]`` and ``[T, N, c_prev, *S]``, and return the channel concatenation of
their three nodes, ``[T, N, 3 * c_node, *S]``. Edge numbering and sources: ``search.genotype``.

Mixing (DESIGN.md section 2):

- ``mix="membrane"`` (default): every operation emits a current; node ``j`` sums
  ``sum_e sum_k w[e, k] * op_k(x_e)`` over its incoming edges into ONE neuron. The node's spike is
  ``H(u - V_th)``; its surrogate gradient is the mixture of the candidates' Dspike windows
  weighted by the softmax(alpha) mass each candidate receives (:class:`search.neurons.MixedDSpike`),
  so ``snn_b3`` and ``snn_b5`` stay different candidates with one neuron per node (in the
  authors' search code both feed the same b = 3 node and are therefore identical).
- ``mix="spike"`` (ablation, the paper's Figure 2a): every non-identity operation has its own
  neuron (temperature of the op) and the node sums the weighted spikes.

Derived node temperature rule (:func:`node_neuron_configs`): a temperature stored in the
genotype wins; otherwise the node's b is the mean of the temperatures its two chosen operations
ask for (``snn_b3`` 3, ``snn_b5`` 5, ``skip_connect`` the default b).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from search.genotype import EDGE_SOURCES, NODE_EDGES, NUM_EDGES, NUM_NODES, Cell, NodeSetting
from search.neurons import MixedDSpike, NeuronConfig, make_neuron, surrogate_of
from search.ops import Identity, build_op, op_surrogate_b, vocabulary

MIX_MODES = ("membrane", "spike")


def _check_mix(mix: str) -> None:
    if mix not in MIX_MODES:
        raise ValueError(f"unknown mix mode {mix!r}; known: {', '.join(MIX_MODES)}")


def _edge_c_in(edge: int, c_prev_prev: int, c_prev: int, c_node: int) -> int:
    return (c_prev_prev, c_prev)[EDGE_SOURCES[edge]] if EDGE_SOURCES[edge] < 2 else c_node


def _check_inputs(s0: torch.Tensor, s1: torch.Tensor, c_prev_prev: int, c_prev: int, dim: int) -> None:
    if s0.dim() != dim + 3 or s1.dim() != dim + 3:
        raise ValueError(
            f"cell inputs must be [T, N, C, *{dim} spatial], got {tuple(s0.shape)}, {tuple(s1.shape)}"
        )
    if s0.shape[2] != c_prev_prev or s1.shape[2] != c_prev:
        raise ValueError(
            f"cell expects {c_prev_prev} and {c_prev} input channels, got {s0.shape[2]} and {s1.shape[2]}"
        )
    if s0.shape[:2] != s1.shape[:2] or s0.shape[3:] != s1.shape[3:]:
        raise ValueError(
            f"cell inputs must agree in T, N and resolution: {tuple(s0.shape)} vs {tuple(s1.shape)}"
        )


class SearchCell(nn.Module):
    """Searchable cell: every edge holds every candidate operation, weighted by softmax(alpha).

    Args:
        c_prev_prev: channels of ``s0``; c_prev: channels of ``s1``; c_node: channels per node.
        dim: spatial axes (2 or 3).
        neuron: settings of the node neurons (b is the default temperature, used by skip).
        mix: ``"membrane"`` or ``"spike"`` (see module docstring).
        vocabulary_name: operation vocabulary.

    Shape:
        ``forward(s0, s1, weights)`` with ``weights`` ``(9, num_ops)`` (rows: softmax(alpha)) ->
        ``[T, N, 3 * c_node, *S]``.
    """

    def __init__(
        self,
        *,
        c_prev_prev: int,
        c_prev: int,
        c_node: int,
        dim: int = 2,
        neuron: NeuronConfig | None = None,
        mix: str = "membrane",
        vocabulary_name: str = "spikedhs",
    ) -> None:
        super().__init__()
        _check_mix(mix)
        neuron = neuron or NeuronConfig()
        self.op_names = vocabulary(vocabulary_name)
        self.vocabulary_name = vocabulary_name
        self.c_prev_prev, self.c_prev, self.c_node, self.dim, self.mix = c_prev_prev, c_prev, c_node, dim, mix
        self.edges = nn.ModuleList(
            nn.ModuleList(
                build_op(
                    name, c_in=_edge_c_in(e, c_prev_prev, c_prev, c_node), c_out=c_node, stride=1, dim=dim
                )
                for name in self.op_names
            )
            for e in range(NUM_EDGES)
        )
        op_bs = [op_surrogate_b(name, neuron.surrogate_b) for name in self.op_names]
        if mix == "membrane":
            self.nodes = nn.ModuleList(
                make_neuron(neuron, surrogate=MixedDSpike(op_bs)) for _ in range(NUM_NODES)
            )
        else:
            self.edge_neurons = nn.ModuleList(
                nn.ModuleList(
                    nn.Identity()
                    if isinstance(op, Identity)
                    else make_neuron(
                        NeuronConfig(
                            kind=neuron.kind,
                            decay=neuron.decay,
                            v_threshold=neuron.v_threshold,
                            surrogate_b=b,
                        )
                    )
                    for op, b in zip(ops, op_bs, strict=True)
                )
                for ops in self.edges
            )

    @property
    def out_channels(self) -> int:
        return NUM_NODES * self.c_node

    def forward(self, s0: torch.Tensor, s1: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        _check_inputs(s0, s1, self.c_prev_prev, self.c_prev, self.dim)
        if tuple(weights.shape) != (NUM_EDGES, len(self.op_names)):
            raise ValueError(
                f"weights must be ({NUM_EDGES}, {len(self.op_names)}), got {tuple(weights.shape)}"
            )
        states = [s0, s1]
        for node, edges in enumerate(NODE_EDGES):
            total = 0
            for e in edges:
                x = states[EDGE_SOURCES[e]]
                for k, op in enumerate(self.edges[e]):
                    out = op(x)
                    if self.mix == "spike":
                        out = self.edge_neurons[e][k](out)
                    total = total + weights[e, k] * out
            if self.mix == "membrane":
                surrogate = surrogate_of(self.nodes[node])
                if isinstance(surrogate, MixedDSpike):  # an "ann" node has no surrogate
                    surrogate.set_weights(weights[list(edges)].sum(0))
                total = self.nodes[node](total)
            states.append(total)
        return torch.cat(states[2:], dim=2)


def node_neuron_configs(
    cell: Cell,
    *,
    vocabulary_name: str = "spikedhs",
    default: NeuronConfig | None = None,
    settings: Sequence[NodeSetting | None] | None = None,
) -> tuple[NeuronConfig, ...]:
    """Neuron config of each node of a derived cell (rule in the module docstring).

    Args:
        cell: six ``(edge, op)`` pairs.
        vocabulary_name: vocabulary of the op indices.
        default: defaults for kind, decay, threshold and the skip temperature.
        settings: per-node overrides from the genotype (None entries = no override).
    """
    default = default or NeuronConfig()
    names = vocabulary(vocabulary_name)
    settings = settings or [None] * NUM_NODES
    configs = []
    for node in range(NUM_NODES):
        pair = cell[2 * node : 2 * node + 2]
        b = sum(op_surrogate_b(names[op], default.surrogate_b) for _, op in pair) / 2
        setting = settings[node]
        if setting is None:
            configs.append(
                NeuronConfig(
                    kind=default.kind, decay=default.decay, v_threshold=default.v_threshold, surrogate_b=b
                )
            )
        else:
            configs.append(
                NeuronConfig(
                    kind=setting.kind,
                    decay=setting.decay,
                    v_threshold=default.v_threshold,
                    surrogate_b=setting.surrogate_b if setting.surrogate_b is not None else b,
                )
            )
    return tuple(configs)


class DerivedCell(nn.Module):
    """Fixed cell from a decoded genotype cell: two chosen edges per node, one op each.

    Args:
        cell: six ``(edge, op)`` pairs (node 0 first).
        c_prev_prev, c_prev, c_node, dim, mix, vocabulary_name: as :class:`SearchCell`.
        node_neurons: one :class:`NeuronConfig` per node (see :func:`node_neuron_configs`);
            None = the rule applied to default settings.

    Shape:
        ``forward(s0, s1)`` -> ``[T, N, 3 * c_node, *S]``.

    Attributes:
        ops: ``ModuleDict`` keyed by the edge index (as a string).
        nodes: the node neurons (membrane mixing).
    """

    def __init__(
        self,
        cell: Cell,
        *,
        c_prev_prev: int,
        c_prev: int,
        c_node: int,
        dim: int = 2,
        node_neurons: Sequence[NeuronConfig] | None = None,
        mix: str = "membrane",
        vocabulary_name: str = "spikedhs",
    ) -> None:
        super().__init__()
        _check_mix(mix)
        names = vocabulary(vocabulary_name)
        self.cell = tuple(tuple(p) for p in cell)
        self.c_prev_prev, self.c_prev, self.c_node, self.dim, self.mix = c_prev_prev, c_prev, c_node, dim, mix
        node_neurons = tuple(node_neurons or node_neuron_configs(self.cell, vocabulary_name=vocabulary_name))
        if len(node_neurons) != NUM_NODES:
            raise ValueError(f"need {NUM_NODES} node neuron configs, got {len(node_neurons)}")
        self.node_neurons = node_neurons
        self.ops = nn.ModuleDict(
            {
                str(e): build_op(
                    names[op],
                    c_in=_edge_c_in(e, c_prev_prev, c_prev, c_node),
                    c_out=c_node,
                    stride=1,
                    dim=dim,
                )
                for e, op in self.cell
            }
        )
        if mix == "membrane":
            self.nodes = nn.ModuleList(make_neuron(cfg) for cfg in node_neurons)
        else:
            self.edge_neurons = nn.ModuleDict(
                {
                    str(e): nn.Identity()
                    if isinstance(self.ops[str(e)], Identity)
                    else make_neuron(
                        NeuronConfig(
                            kind=node_neurons[i // 2].kind,
                            decay=node_neurons[i // 2].decay,
                            v_threshold=node_neurons[i // 2].v_threshold,
                            surrogate_b=op_surrogate_b(names[op], node_neurons[i // 2].surrogate_b),
                        )
                    )
                    for i, (e, op) in enumerate(self.cell)
                }
            )

    @property
    def out_channels(self) -> int:
        return NUM_NODES * self.c_node

    def forward(self, s0: torch.Tensor, s1: torch.Tensor) -> torch.Tensor:
        _check_inputs(s0, s1, self.c_prev_prev, self.c_prev, self.dim)
        states = [s0, s1]
        for node in range(NUM_NODES):
            total = 0
            for e, _ in self.cell[2 * node : 2 * node + 2]:
                out = self.ops[str(e)](states[EDGE_SOURCES[e]])
                if self.mix == "spike":
                    out = self.edge_neurons[str(e)](out)
                total = total + out
            states.append(self.nodes[node](total) if self.mix == "membrane" else total)
        return torch.cat(states[2:], dim=2)

    def load_from_search_cell(self, search_cell: SearchCell) -> None:
        """Copy the chosen operations' weights (and BN statistics) from a search cell."""
        for e, op in self.cell:
            self.ops[str(e)].load_state_dict(search_cell.edges[e][op].state_dict())
