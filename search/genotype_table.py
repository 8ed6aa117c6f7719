"""Readable rows of a genotype: per net, per node, the operations, b, decay and neuron kind."""

from __future__ import annotations

from typing import Any

from search.cell import node_neuron_configs
from search.genotype import NUM_NODES, Genotype, NodeSetting, node_key
from search.neurons import NeuronConfig
from search.ops import vocabulary

EDGE_SOURCE_NAMES = ("s0", "s1", "s0", "s1", "n0", "s0", "s1", "n0", "n1")


def genotype_rows(genotype: Genotype) -> dict[str, list[dict[str, Any]]]:
    """Per net: one row per node (stem first) with ``node, ops, b, decay, neuron, searched``.

    ``searched`` says whether the values come from the genotype's node settings (else defaults).
    """
    names = vocabulary(genotype.vocabulary)
    out: dict[str, list[dict[str, Any]]] = {}
    for net, cell in genotype.cells.items():
        rows = []
        stem = genotype.node(node_key(net))
        default = NeuronConfig()
        rows.append(_row(node_key(net), "conv3x3 (stem)", stem, default.surrogate_b, default))
        path = genotype.paths.get(net, ())
        for i in range(len(path) or 1):
            settings = [genotype.node(node_key(net, i, j)) for j in range(NUM_NODES)]
            rule = node_neuron_configs(cell, vocabulary_name=genotype.vocabulary)
            for j in range(NUM_NODES):
                ops = ", ".join(f"{names[op]}({EDGE_SOURCE_NAMES[e]})" for e, op in cell[2 * j: 2 * j + 2])
                rows.append(_row(node_key(net, i, j), ops, settings[j], rule[j].surrogate_b, default))
        out[net] = rows
    return out


def _row(key: str, ops: str, setting: NodeSetting | None, rule_b: float, default: NeuronConfig) -> dict[str, Any]:
    if setting is None:
        return {"node": key, "ops": ops, "b": rule_b, "decay": default.decay, "neuron": "spiking (lif)",
                "searched": False}
    b = setting.surrogate_b if setting.surrogate_b is not None else rule_b
    neuron = "ANN (relu)" if setting.kind == "ann" else f"spiking ({setting.kind})"
    return {"node": key, "ops": ops, "b": b, "decay": setting.decay, "neuron": neuron, "searched": True}


def genotype_tables(genotype: Genotype) -> list[Any]:
    """``rich.table.Table`` per net (rich imported lazily)."""
    from rich.table import Table

    tables = []
    for net, rows in genotype_rows(genotype).items():
        path = list(genotype.paths.get(net, ()))
        table = Table(title=f"{net}: path {path}  (* = set by a local search)")
        for column in ("node", "operations", "b", "decay", "neuron"):
            table.add_column(column, justify="right" if column in ("b", "decay") else "left")
        for row in rows:
            mark = "*" if row["searched"] else ""
            decay = "-" if row["neuron"].startswith("ANN") else f"{row['decay']:.2f}"
            table.add_row(row["node"] + mark, row["ops"], f"{row['b']:.2f}", decay, row["neuron"])
        tables.append(table)
    return tables
