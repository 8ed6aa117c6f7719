"""DGS/TPS/HNS on the stereo network: sites, round batches, genotype updates, figures.

The stereo counterpart of :mod:`search.backends.classify_local` (whose option parsing,
:func:`~search.backends.classify_local.build_local_searches`, and batch pairing it reuses).
:class:`StereoLocal` is what ``train_stereo`` and (through :class:`SearchHooks`) ``search_stereo``
call when any of ``--dgs/--tps/--hns`` is on: after every ``local_every``-th epoch it runs the
rounds (HNS, then TPS, then DGS) on the derived :class:`stereo.network.SpikingStereoNet` or on the
:class:`search.backends.stereo_net.StereoSupernet`, writes the chosen node settings into the genotype
(``feature.cell<i>.node<j>``, ``matching.cell<i>.node<j>``, honoured by
:func:`search.derived.build_path_net`), and at the end writes ``local_search.json`` and the PNG
figures into the run folder.

Sites: every node of the derived cells of the feature net and of the matching net; on the supernet,
every node of every search cell of both trellises, mapped to the derived keys through the decoded
paths (:func:`search.local.trellis_node_settings`). The stems and heads (plain conv-BN-neuron
layers the genotype has no keys for) keep their neurons.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from itertools import islice
from pathlib import Path
from typing import Any

import torch
from torch import nn

from search.backends.classify_local import (
    LocalTask,
    SearchRoundHooks,
    build_local_searches,
    consecutive_pairs,
    write_local_record,
)
from search.cell import node_neuron_configs
from search.cost import energy_report
from search.genotype import Genotype
from search.local import NodeTable, path_net_sites, trellis_node_settings, trellis_sites
from search.local_config import LocalOptions

NET_NAMES = ("feature", "matching")
TRELLIS_MODULES = {"feature": "feature_trellis", "matching": "matching_trellis"}


def _is_supernet(model: nn.Module) -> bool:
    return all(hasattr(model, name) for name in TRELLIS_MODULES.values())


def stereo_sites(model: nn.Module) -> dict[str, str]:
    """Site key -> module name of a :class:`stereo.network.SpikingStereoNet` (every derived-cell node)
    or of a :class:`search.backends.stereo_net.StereoSupernet` (every search-cell node).

    Example: ``"feature.cell0.node1"`` -> ``"feature.cells.cells.0.nodes.1"``.
    """
    sites: dict[str, str] = {}
    if _is_supernet(model):
        for module_name in TRELLIS_MODULES.values():
            sites.update(trellis_sites(module_name, getattr(model, module_name)))
        return sites
    for name in NET_NAMES:
        path_net = getattr(getattr(model, name, None), "cells", None)
        if path_net is None or not hasattr(path_net, "path"):
            raise ValueError(f"no stereo sites: {type(model).__name__} has no {name}.cells path net")
        if path_net.cells[0].mix != "membrane":
            raise ValueError("DGS/TPS/HNS need node neurons: build the stereo network with mix='membrane'")
        sites.update(path_net_sites(name, f"{name}.cells", len(path_net.path)))
    return sites


class StereoLocal:
    """The local searches of one stereo run (see the module docstring).

    Args:
        options: the switches and settings (:class:`LocalOptions`).
        model: the derived stereo network, on its device (not wrapped in DistributedDataParallel).
        loss_fn: ``loss_fn(model, batch)`` -> task loss of a stereo batch (``.left``, ``.right``,
            ``.disparity``).
        energy_pair: ``(left, right)`` event tensors ``[N, C, H, W]`` on the device, for HNS energies
            (energy per frame = per left/right pair; the callers pass one full-resolution frame, so
            ``--hns-budget-mj`` is in mJ per frame at the caches' resolution, like ``--budget-mj``).
        out_dir: the run folder.
    """

    def __init__(self, options: LocalOptions, model: nn.Module, *, loss_fn: Callable[[nn.Module, Any], torch.Tensor],
                 energy_pair: tuple[torch.Tensor, torch.Tensor], out_dir: str | Path) -> None:
        if options.local_every < 1 or options.local_batches < 1 or options.local_lr <= 0:
            raise ValueError("--local-every and --local-batches must be >= 1 and --local-lr > 0")
        self.model, self.loss_fn, self.out_dir = model, loss_fn, Path(out_dir)
        self.table = NodeTable(model, stereo_sites(model))
        left, right = energy_pair
        self.searches = build_local_searches(
            options, self.table, energy_fn=lambda m: energy_report(m, left, right, num_samples=len(left)).total_mj)

    def after_epoch(self, epoch: int, pairs: Callable[[], Iterable[tuple[Any, Any]]]) -> dict[str, float]:
        """Run the rounds due after ``epoch`` (0-based) on ``pairs()`` (``(train, heldout)`` batches)."""
        return self.searches.after_epoch(epoch, self.loss_fn, lambda n: islice(pairs(), n))

    def genotype(self, base: Genotype) -> Genotype:
        """``base`` with the current node settings of the sites written into ``nodes`` (on the
        supernet, those of the search cells on ``base``'s decoded paths)."""
        if not _is_supernet(self.model):
            return base.with_nodes(self.table.node_settings())
        nodes = {}
        for name, module_name in TRELLIS_MODULES.items():
            cell, path = base.cell(name), base.path(name)
            derived_b = [[c.surrogate_b for c in node_neuron_configs(cell, vocabulary_name=base.vocabulary)]
                         for _ in path]
            nodes.update(trellis_node_settings(self.table, module_name=module_name, net_name=name, path=path,
                                               derived_b=derived_b))
        return base.with_nodes(nodes)

    def finish(self) -> list[Path]:
        """Write ``local_search.json`` and the figures into the run folder; returns the paths."""
        return write_local_record(self.searches, self.out_dir)


def alternate_pairs(loader: Iterable, heldout: Iterable | None = None) -> Iterable[tuple[Any, Any]]:
    """Round batches: ``(train, heldout)`` from ``heldout`` when given (cycled), else consecutive
    batches of ``loader`` (``(b0, b1), (b2, b3), ...``)."""
    if heldout is None:
        yield from consecutive_pairs(loader)
        return
    held = iter(heldout)
    for batch in loader:
        other = next(held, None)
        if other is None:
            held = iter(heldout)
            other = next(held, None)
            if other is None:
                return
        yield batch, other


class SearchHooks(SearchRoundHooks):
    """What ``search_stereo`` needs: a wrapped task, an ``on_epoch_end`` callback, a finisher.

    Rounds pair a weight-half batch (the lookahead step) with an architecture-half batch (held out).
    """

    def __init__(self, config: Any, model: nn.Module, task: Any, weight_loader: Iterable, arch_loader: Iterable
                 ) -> None:
        if getattr(config, "resume", False):
            raise ValueError("--resume is not supported together with --dgs/--tps/--hns (the node settings of "
                             "the interrupted run are in its genotype.json: retrain that genotype instead)")
        from stereo.data import CacheStereoDataset

        first = CacheStereoDataset(config.train, seed=config.seed)[0]  # HNS energies: full frame, both views
        device = task.device
        self.local = StereoLocal(config, model, loss_fn=lambda m, b: task.task_loss(m, b, train=True)[0],
                                 energy_pair=(first.left[None].to(device), first.right[None].to(device)),
                                 out_dir=config.out)
        self.task = LocalTask(task, self.local)  # decodes with the node settings
        self.model, self.weight_loader, self.arch_loader = model, weight_loader, arch_loader
        self.out_dir = Path(config.out)
