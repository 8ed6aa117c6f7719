"""Genotypes: the searched architecture as immutable, serialisable data, and its decoding.

A genotype holds named cells (e.g. ``{"feature": ..., "matching": ...}`` or ``{"classify": ...}``),
named layer-level paths, and optional per-node neuron settings written by the local searches.

Cell encoding (DESIGN.md section 3): a tuple of ``(edge_index, op_index)`` pairs, two per node,
node 0 first. Edges: node0 {0: s0, 1: s1}, node1 {2: s0, 3: s1, 4: n0}, node2 {5: s0, 6: s1,
7: n0, 8: n1}; ``op_index`` indexes the operation vocabulary (``search.ops.VOCABULARIES``).
A path is a tuple of levels, one per layer; level ``k`` has ``1 / 2^k`` of the stem's resolution.

Per-node neuron settings are keyed ``"<net>.stem"`` and ``"<net>.cell<i>.node<j>"`` (cell ``i`` =
position on the path, ``j`` in 0..2; see :func:`node_key`); absent keys use the defaults.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import torch

SCHEMA_VERSION = 1
NUM_NODES = 3
NUM_EDGES = 9
NUM_MOVES = 3  # beta's last axis: 0 = level - 1 (finer), 1 = same level, 2 = level + 1 (coarser)
NODE_EDGES: tuple[tuple[int, ...], ...] = ((0, 1), (2, 3, 4), (5, 6, 7, 8))
# State each edge reads: 0 = s0 (cell before previous), 1 = s1 (previous cell), 2 + j = node j.
EDGE_SOURCES: tuple[int, ...] = (0, 1, 0, 1, 2, 0, 1, 2, 3)
NEURON_KINDS = ("lif", "if", "plif", "ann")

# Kept here (not imported from search.ops) so that this module stays free of network code.
_VOCABULARIES: dict[str, tuple[str, ...]] = {"spikedhs": ("skip_connect", "snn_b3", "snn_b5")}

Cell = tuple[tuple[int, int], ...]
Path_ = tuple[int, ...]


def node_key(net: str, cell_index: int | None = None, node_index: int | None = None) -> str:
    """Key of a node's neuron settings: ``"<net>.stem"`` or ``"<net>.cell<i>.node<j>"``."""
    if cell_index is None:
        return f"{net}.stem"
    return f"{net}.cell{cell_index}.node{node_index}"


@dataclass(frozen=True)
class NodeSetting:
    """Neuron settings of one node, chosen by the local searches (DGS/TPS/HNS).

    Attributes:
        kind: ``"lif"``, ``"if"``, ``"plif"`` or ``"ann"`` (ReLU, for hybrid nets).
        decay: membrane decay per timestep in [0, 1).
        surrogate_b: Dspike temperature; None = the rule of the builder (see ``search.cell``).
    """

    kind: str = "lif"
    decay: float = 0.2
    surrogate_b: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in NEURON_KINDS:
            raise ValueError(f"unknown neuron kind {self.kind!r}; known kinds: {', '.join(NEURON_KINDS)}")
        if not 0.0 <= self.decay < 1.0:
            raise ValueError(f"node decay must be in [0, 1), got {self.decay}")
        if self.surrogate_b is not None and self.surrogate_b <= 0:
            raise ValueError(f"node surrogate_b must be > 0, got {self.surrogate_b}")


def _check_cell(name: str, cell: Cell, num_ops: int) -> None:
    if len(cell) != 2 * NUM_NODES:
        raise ValueError(f"cell {name!r} must have {2 * NUM_NODES} [edge, op] pairs, got {len(cell)}")
    for node, edges in enumerate(NODE_EDGES):
        pair = cell[2 * node: 2 * node + 2]
        for edge, op in pair:
            if edge not in edges:
                raise ValueError(f"cell {name!r} node {node}: edge {edge} is not one of its edges {edges}")
            if not 0 <= op < num_ops:
                raise ValueError(f"cell {name!r} node {node}: op index {op} outside 0..{num_ops - 1}")
        if pair[0][0] == pair[1][0]:
            raise ValueError(f"cell {name!r} node {node}: the two edges must differ, got {pair[0][0]} twice")


def check_path(path: Path_, *, num_levels: int = 4, name: str = "path") -> None:
    """Raise ValueError unless ``path`` starts at level 0 or 1 and moves at most one level per layer."""
    if len(path) == 0:
        raise ValueError(f"{name} is empty")
    previous = 0  # the stem sits at level 0
    for layer, level in enumerate(path):
        if not 0 <= level < num_levels:
            raise ValueError(f"{name}: level {level} at layer {layer} outside 0..{num_levels - 1}")
        if abs(level - previous) > 1:
            raise ValueError(f"{name}: jump from level {previous} to {level} at layer {layer}")
        previous = level


@dataclass(frozen=True)
class Genotype:
    """A searched architecture: named cells, named paths and per-node neuron settings.

    Attributes:
        cells: cell name -> six ``(edge, op)`` pairs.
        paths: path name -> levels, one per layer.
        nodes: node key (:func:`node_key`) -> :class:`NodeSetting`.
        vocabulary: name of the operation vocabulary the op indices refer to.
        schema_version: JSON schema version.

    Example:
        >>> g = Genotype(cells={"classify": ((1, 1), (0, 1), (3, 2), (2, 1), (7, 1), (8, 1))},
        ...              paths={"classify": (0, 0, 1)})
        >>> Genotype.from_dict(g.to_dict()) == g
        True
        >>> g.op_names("classify")[:2]
        ('snn_b3', 'snn_b3')
    """

    cells: Mapping[str, Cell]
    paths: Mapping[str, Path_] = field(default_factory=dict)
    nodes: Mapping[str, NodeSetting] = field(default_factory=dict)
    vocabulary: str = "spikedhs"
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        if self.vocabulary not in _VOCABULARIES:
            raise ValueError(
                f"unknown operation vocabulary {self.vocabulary!r}; known: {', '.join(_VOCABULARIES)}"
            )
        if self.schema_version != SCHEMA_VERSION:
            raise ValueError(
                f"unsupported genotype schema_version {self.schema_version} (need {SCHEMA_VERSION})"
            )
        num_ops = len(_VOCABULARIES[self.vocabulary])
        cells = {str(k): tuple((int(e), int(o)) for e, o in v) for k, v in self.cells.items()}
        for name, cell in cells.items():
            _check_cell(name, cell, num_ops)
        paths = {str(k): tuple(int(x) for x in v) for k, v in self.paths.items()}
        for name, path in paths.items():
            check_path(path, name=f"path {name!r}")
        nodes = {str(k): v if isinstance(v, NodeSetting) else NodeSetting(**v) for k, v in self.nodes.items()}
        object.__setattr__(self, "cells", MappingProxyType(cells))
        object.__setattr__(self, "paths", MappingProxyType(paths))
        object.__setattr__(self, "nodes", MappingProxyType(nodes))

    def cell(self, name: str) -> Cell:
        """The cell called ``name`` (KeyError lists the known cells)."""
        if name not in self.cells:
            raise KeyError(f"genotype has no cell {name!r}; cells: {', '.join(self.cells) or 'none'}")
        return self.cells[name]

    def path(self, name: str) -> Path_:
        """The path called ``name`` (KeyError lists the known paths)."""
        if name not in self.paths:
            raise KeyError(f"genotype has no path {name!r}; paths: {', '.join(self.paths) or 'none'}")
        return self.paths[name]

    def op_names(self, cell_name: str) -> tuple[str, ...]:
        """Operation name of each of the six ``(edge, op)`` pairs of a cell."""
        names = _VOCABULARIES[self.vocabulary]
        return tuple(names[op] for _, op in self.cell(cell_name))

    def node(self, key: str) -> NodeSetting | None:
        """Neuron settings stored for a node key, or None (use defaults)."""
        return self.nodes.get(key)

    def with_nodes(self, updates: Mapping[str, NodeSetting]) -> Genotype:
        """A copy with the given node settings added or replaced."""
        return replace(self, nodes={**self.nodes, **updates})

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (lists, not tuples)."""
        return {
            "schema_version": self.schema_version,
            "vocabulary": self.vocabulary,
            "cells": {k: [list(p) for p in v] for k, v in self.cells.items()},
            "paths": {k: list(v) for k, v in self.paths.items()},
            "nodes": {
                k: {"kind": s.kind, "decay": s.decay, "surrogate_b": s.surrogate_b}
                for k, s in self.nodes.items()
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Genotype:
        """Inverse of :meth:`to_dict`; raises ValueError naming the bad or missing field."""
        if not isinstance(data, Mapping):
            raise ValueError(f"genotype must be a JSON object, got {type(data).__name__}")
        unknown = set(data) - {"schema_version", "vocabulary", "cells", "paths", "nodes"}
        if unknown:
            raise ValueError(f"genotype has unknown fields: {', '.join(sorted(unknown))}")
        if "cells" not in data:
            raise ValueError("genotype is missing the field 'cells'")
        try:
            nodes = {k: NodeSetting(**v) for k, v in dict(data.get("nodes", {})).items()}
            return cls(
                cells={k: tuple(tuple(p) for p in v) for k, v in dict(data["cells"]).items()},
                paths={k: tuple(v) for k, v in dict(data.get("paths", {})).items()},
                nodes=nodes,
                vocabulary=str(data.get("vocabulary", "spikedhs")),
                schema_version=int(data.get("schema_version", SCHEMA_VERSION)),
            )
        except (TypeError, AttributeError) as exc:
            raise ValueError(f"malformed genotype: {exc}") from None

    def save_json(self, path: str | os.PathLike[str]) -> Path:
        """Write the genotype as JSON atomically (temp file, then rename); returns the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w") as handle:
                json.dump(self.to_dict(), handle, indent=2)
                handle.write("\n")
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    @classmethod
    def load_json(cls, path: str | os.PathLike[str]) -> Genotype:
        """Read a genotype JSON file; FileNotFoundError / ValueError name the file."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"genotype file not found: {path}")
        try:
            data = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"genotype file {path} is not valid JSON: {exc}") from None
        try:
            return cls.from_dict(data)
        except ValueError as exc:
            raise ValueError(f"genotype file {path}: {exc}") from None


def decode_cell(alpha: torch.Tensor, *, vocabulary: str = "spikedhs") -> Cell:
    """Decode a cell from architecture logits (SpikeDHS / LEAStereo rule).

    Per node, edges are ranked by their strongest non-skip weight in softmax(alpha) (the authors'
    rule: a parameter-free skip must not win an edge on its own); the top two are kept, strongest
    first, each with the argmax over *all* operations, skip included (in this space skip is a real
    candidate, not DARTS's "none"). Ties go to the lower edge index and the lower op index.

    Args:
        alpha: logits, shape ``(9, num_ops)``.
        vocabulary: operation vocabulary; must contain ``"skip_connect"``.

    Returns:
        Six ``(edge, op)`` pairs, node 0 first.
    """
    names = _VOCABULARIES[vocabulary]
    if tuple(alpha.shape) != (NUM_EDGES, len(names)):
        raise ValueError(f"alpha must have shape ({NUM_EDGES}, {len(names)}), got {tuple(alpha.shape)}")
    weights = torch.softmax(alpha.detach().double().cpu(), dim=-1).tolist()
    skip = names.index("skip_connect")
    gene: list[tuple[int, int]] = []
    for edges in NODE_EDGES:
        strength = {e: max(w for k, w in enumerate(weights[e]) if k != skip) for e in edges}
        ranked = sorted(edges, key=lambda e: (-strength[e], e))
        for edge in ranked[:2]:
            row = weights[edge]
            gene.append((edge, row.index(max(row))))
    return tuple(gene)


def valid_moves(level: int, num_levels: int) -> tuple[int, ...]:
    """Moves (0: level-1, 1: same, 2: level+1) that stay inside ``0..num_levels-1``."""
    return tuple(m for m in range(NUM_MOVES) if 0 <= level + m - 1 < num_levels)


def transition_weights(beta: torch.Tensor) -> torch.Tensor:
    """Softmax of beta over each source's valid moves; invalid moves get weight 0.

    Args:
        beta: logits, shape ``(L, K, 3)``: ``beta[l, k, m]`` scores the move ``m`` from level ``k``
            of layer ``l - 1`` (the stem, level 0, for ``l = 0``) to level ``k + m - 1`` of layer ``l``.

    Returns:
        Weights of the same shape, differentiable; each valid source row sums to 1.
    """
    num_levels = beta.shape[1]
    mask = torch.zeros(num_levels, NUM_MOVES, dtype=torch.bool, device=beta.device)
    for k in range(num_levels):
        mask[k, list(valid_moves(k, num_levels))] = True
    return torch.softmax(beta.masked_fill(~mask, -math.inf), dim=-1)


def reachable_levels(layer: int, num_levels: int) -> range:
    """Levels a path from the stem (level 0) can occupy at ``layer`` (0-based)."""
    return range(min(layer + 2, num_levels))


def viterbi(beta: torch.Tensor, *, end_level: int | None = None) -> Path_:
    """Most probable path through the trellis: maximise the product of transition weights.

    Starts at the stem (level 0 before layer 0). Ties go to the lower source level and, at the end,
    to the lower final level.

    Args:
        beta: logits ``(L, K, 3)`` (see :func:`transition_weights`).
        end_level: force the final level (e.g. the resolution a head needs); None = best.

    Returns:
        Levels, one per layer.
    """
    if beta.dim() != 3 or beta.shape[2] != NUM_MOVES:
        raise ValueError(f"beta must have shape (L, K, {NUM_MOVES}), got {tuple(beta.shape)}")
    log_w = torch.log(transition_weights(beta.detach().double().cpu())).tolist()
    num_layers, num_levels = beta.shape[0], beta.shape[1]
    score = [[-math.inf] * num_levels for _ in range(num_layers)]
    back = [[-1] * num_levels for _ in range(num_layers)]
    for layer in range(num_layers):
        sources = [0] if layer == 0 else list(reachable_levels(layer - 1, num_levels))
        for target in reachable_levels(layer, num_levels):
            for source in sources:
                move = target - source + 1
                if not 0 <= move < NUM_MOVES or move not in valid_moves(source, num_levels):
                    continue
                prior = 0.0 if layer == 0 else score[layer - 1][source]
                candidate = prior + log_w[layer][source][move]
                if candidate > score[layer][target]:
                    score[layer][target], back[layer][target] = candidate, source
    last = score[-1]
    if end_level is None:
        level = last.index(max(last))
    else:
        if not 0 <= end_level < num_levels or last[end_level] == -math.inf:
            raise ValueError(f"end_level {end_level} is not reachable in {num_layers} layers")
        level = end_level
    path = [level]
    for layer in range(num_layers - 1, 0, -1):
        level = back[layer][level]
        path.append(level)
    return tuple(reversed(path))


def path_to_beta(path: Path_, *, num_levels: int = 4, scale: float = 20.0) -> torch.Tensor:
    """Beta logits whose softmax is (nearly) one-hot on ``path`` (``scale`` = logit gap).

    Useful to pin a supernet to a genotype's path and in tests.
    """
    check_path(path, num_levels=num_levels)
    beta = torch.zeros(len(path), num_levels, NUM_MOVES)
    previous = 0
    for layer, level in enumerate(path):
        beta[layer, previous, level - previous + 1] = scale
        previous = level
    return beta


def cell_to_alpha(cell: Cell, *, num_ops: int = 3, scale: float = 20.0) -> torch.Tensor:
    """Alpha logits ``(9, num_ops)`` peaked on a decoded cell's ops (unused edges stay uniform)."""
    alpha = torch.zeros(NUM_EDGES, num_ops)
    for edge, op in cell:
        alpha[edge, op] = scale
    return alpha
