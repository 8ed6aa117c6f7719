"""PNG figures of the local searches (matplotlib, Agg backend; imported lazily).

- :func:`plot_b_trajectories`: the surrogate temperature b of every node over the rounds (DGS).
- :func:`plot_decays`: the chosen decay of every node, per layer (TPS).
- :func:`plot_hybrid_map`: which nodes are spiking and which are ANN (HNS), as a grid of layer x node.

Each takes the record of :meth:`search.local.LocalSearches.to_dict` (``initial`` and ``history``
of ``{key: {"kind", "decay", "surrogate_b"}}``) and writes one PNG atomically.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from datasets.atomic import atomic_output


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _order(keys) -> list[str]:
    def sort_key(key: str) -> tuple:
        return (0 if key.endswith("stem") else 1, [int(n) for n in re.findall(r"\d+", key)], key)

    return sorted(keys, key=sort_key)


def _layer_node(key: str) -> tuple[str, str]:
    """``"net.cell2.node1"`` -> ``("net.cell2", "node1")``; a stem is its own layer."""
    head, _, tail = key.rpartition(".")
    return (key, "stem") if tail == "stem" or not head else (head, tail)


def _save(fig: Any, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    _pyplot().close(fig)
    return path


def _snapshots(record: Mapping[str, Any]) -> tuple[list[str], list[dict[str, dict[str, Any]]]]:
    tags = ["start"] + [h["tag"] for h in record.get("history", [])]
    return tags, [record["initial"]] + [h["nodes"] for h in record.get("history", [])]


def plot_b_trajectories(record: Mapping[str, Any], path: str | Path) -> Path:
    """b of every node after each round (one line per node); returns the PNG path."""
    plt = _pyplot()
    tags, snaps = _snapshots(record)
    fig, ax = plt.subplots(figsize=(7, 4))
    for key in _order(record["initial"]):
        ax.plot(range(len(snaps)), [s[key]["surrogate_b"] for s in snaps], marker="o", ms=3, lw=1, label=key)
    ax.set_xticks(range(len(snaps)), tags, rotation=45, ha="right", fontsize=7)
    ax.set_ylabel("surrogate temperature b")
    ax.set_title("DGS: Dspike b per node")
    if len(record["initial"]) <= 16:
        ax.legend(fontsize=6, ncol=2)
    return _save(fig, path)


def _grid(configs: Mapping[str, Mapping[str, Any]]) -> tuple[list[str], list[str], dict[tuple[str, str], Any]]:
    layers, nodes, cells = [], [], {}
    for key in _order(configs):
        layer, node = _layer_node(key)
        layers += [layer] if layer not in layers else []
        nodes += [node] if node not in nodes else []
        cells[(layer, node)] = configs[key]
    return layers, nodes, cells


def plot_decays(configs: Mapping[str, Mapping[str, Any]], path: str | Path) -> Path:
    """Chosen decay per node, grouped by layer (bars; ANN nodes drawn hatched at 0)."""
    plt = _pyplot()
    layers, nodes, cells = _grid(configs)
    fig, ax = plt.subplots(figsize=(max(4, 0.6 * len(layers) * max(len(nodes), 1)), 3.5))
    width = 0.8 / max(len(nodes), 1)
    for j, node in enumerate(nodes):
        xs = [i + j * width for i, layer in enumerate(layers) if (layer, node) in cells]
        values = [cells[(layer, node)] for layer in layers if (layer, node) in cells]
        heights = [0.0 if v["kind"] == "ann" else v["decay"] for v in values]
        bars = ax.bar(xs, heights, width=width, label=node)
        for bar, v in zip(bars, values, strict=True):
            if v["kind"] == "ann":
                bar.set_hatch("//")
    ax.set_xticks([i + 0.4 - width / 2 for i in range(len(layers))], layers, rotation=45, ha="right", fontsize=7)
    ax.set_ylim(0, 1)
    ax.set_ylabel("decay per timestep")
    ax.set_title("TPS: chosen decay per layer")
    ax.legend(fontsize=7)
    return _save(fig, path)


def plot_hybrid_map(configs: Mapping[str, Mapping[str, Any]], path: str | Path) -> Path:
    """Grid layer x node: spiking (dark) or ANN (light), with the kind written in each cell."""
    plt = _pyplot()
    layers, nodes, cells = _grid(configs)
    fig, ax = plt.subplots(figsize=(max(3, 0.7 * len(layers)), max(2, 0.5 * len(nodes) + 1)))
    grid = [[0.5 if (layer, node) not in cells else float(cells[(layer, node)]["kind"] == "ann")
             for layer in layers] for node in nodes]
    ax.imshow(grid, cmap="coolwarm", vmin=0, vmax=1, aspect="auto")
    for r, node in enumerate(nodes):
        for c, layer in enumerate(layers):
            if (layer, node) in cells:
                ax.text(c, r, cells[(layer, node)]["kind"], ha="center", va="center", fontsize=7)
    ax.set_xticks(range(len(layers)), layers, rotation=45, ha="right", fontsize=7)
    ax.set_yticks(range(len(nodes)), nodes, fontsize=7)
    ax.set_title("HNS: spiking (blue) / ANN (red) nodes")
    return _save(fig, path)


def write_local_figures(record: Mapping[str, Any], out_dir: str | Path) -> list[Path]:
    """The figures that apply to the searches in ``record`` (DGS: b, TPS: decays, HNS: map)."""
    out_dir = Path(out_dir)
    searches = set(record.get("searches", ()))
    written = []
    if "dgs" in searches:
        written.append(plot_b_trajectories(record, out_dir / "local_b_trajectory.png"))
    if "tps" in searches:
        written.append(plot_decays(record["current"], out_dir / "local_decays.png"))
    if "hns" in searches:
        written.append(plot_hybrid_map(record["current"], out_dir / "local_hybrid_map.png"))
    return written
