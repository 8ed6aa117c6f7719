"""DGS/TPS/HNS on the classification backend: sites, round batches, genotype updates, figures.

:class:`ClassifyLocal` is what ``search_classify`` and ``train_classify`` call when any of
``--dgs/--tps/--hns`` is on: after every ``local_every``-th epoch it runs the rounds (HNS, then TPS,
then DGS) on the network, adds the chosen node settings to the genotype, and at the end writes
``local_search.json`` (the record of every round) and the PNG figures (:mod:`search.plots`) into
the run folder.

Sites: the stem neuron (``classify.stem``) and every node of the derived cells
(``classify.cell<i>.node<j>``); on the supernet, every node of every search cell, mapped to the
derived keys through the decoded path (:func:`search.local.trellis_node_settings`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from itertools import islice
from pathlib import Path
from typing import Any

import torch
from torch import nn

from datasets.atomic import atomic_output
from search.backends.classify_net import NET_NAME, ClassifyNet, ClassifySupernet
from search.cell import node_neuron_configs
from search.cost import energy_report
from search.dgs import DGSConfig, make_dgs
from search.genotype import Genotype, node_key
from search.hns import HNSConfig, make_hns
from search.local import LocalSearches, NodeTable, path_net_sites, trellis_node_settings, trellis_sites
from search.local_config import LocalOptions
from search.plots import write_local_figures
from search.tps import TPSConfig, make_tps, parse_floats, parse_kinds

RECORD_NAME = "local_search.json"


def write_local_record(searches: LocalSearches, out_dir: Path) -> list[Path]:
    """Write ``out_dir/local_search.json`` (every round of ``searches``) and its figures; returns the paths."""
    record = searches.to_dict()
    path = out_dir / RECORD_NAME
    with atomic_output(path) as tmp:
        tmp.write_text(json.dumps(record, indent=2) + "\n")
    return [path, *write_local_figures(record, out_dir)]


def classify_sites(model: nn.Module) -> dict[str, str]:
    """Site key -> module name of a :class:`ClassifyNet` or a :class:`ClassifySupernet`."""
    sites = {node_key(NET_NAME): "stem.neuron"}
    if isinstance(model, ClassifySupernet):
        return {**sites, **trellis_sites("trellis", model.trellis)}
    if isinstance(model, ClassifyNet):
        if model.body.cells[0].mix != "membrane":
            raise ValueError("DGS/TPS/HNS need node neurons: build the network with mix='membrane'")
        return {**sites, **path_net_sites(NET_NAME, "body", len(model.body.path))}
    raise ValueError(f"no classification sites for {type(model).__name__}")


def build_local_searches(options: LocalOptions, table: NodeTable, *, energy_fn: Callable[[nn.Module], float]
                         ) -> LocalSearches:
    """The searches switched on in ``options`` over ``table`` (ValueError names a bad option)."""
    common = {"every_epochs": options.local_every, "batches": options.local_batches, "lr": options.local_lr}
    searches = []
    if options.hns:
        searches.append(make_hns(table, HNSConfig(budget_mj=options.hns_budget_mj,
                                                  budget_weight=options.hns_budget_weight, **common),
                                 energy_fn=energy_fn))
    if options.tps:
        searches.append(make_tps(table, TPSConfig(decays=parse_floats(options.tps_decays, option="--tps-decays"),
                                                  kinds=parse_kinds(options.tps_kinds, option="--tps-kinds"),
                                                  **common)))
    if options.dgs:
        searches.append(make_dgs(table, DGSConfig(deltas=parse_floats(options.dgs_deltas, option="--dgs-deltas"),
                                                  sites_per_batch=options.dgs_sites_per_batch, **common)))
    return LocalSearches(table, searches)


class ClassifyLocal:
    """The local searches of one classification run (see the module docstring).

    Args:
        options: the run config (any :class:`LocalOptions`).
        model: the supernet (search) or the derived network (retraining), on its device.
        loss_fn: ``loss_fn(model, batch)`` -> task loss (training augmentation).
        energy_images: a normalised batch ``[N, C, H, W]`` on the device, for HNS energies.
        out_dir: the run folder.
    """

    def __init__(self, options: LocalOptions, model: nn.Module, *, loss_fn: Callable[[nn.Module, Any], torch.Tensor],
                 energy_images: torch.Tensor, out_dir: str | Path) -> None:
        if options.local_every < 1 or options.local_batches < 1 or options.local_lr <= 0:
            raise ValueError("--local-every and --local-batches must be >= 1 and --local-lr > 0")
        self.model, self.loss_fn, self.out_dir = model, loss_fn, Path(out_dir)
        self.table = NodeTable(model, classify_sites(model))
        n = len(energy_images)
        self.searches = build_local_searches(
            options, self.table, energy_fn=lambda m: energy_report(m, energy_images, num_samples=n).total_mj)

    def after_epoch(self, epoch: int, pairs: Callable[[], Iterable[tuple[Any, Any]]]) -> dict[str, float]:
        """Run the rounds due after ``epoch`` on ``pairs()`` (``(train, heldout)`` batches)."""
        return self.searches.after_epoch(epoch, self.loss_fn, lambda n: islice(pairs(), n))

    def genotype(self, base: Genotype) -> Genotype:
        """``base`` with the current node settings of the sites written into ``nodes``."""
        if not isinstance(self.model, ClassifySupernet):
            return base.with_nodes(self.table.node_settings())
        cell, path = base.cell(NET_NAME), base.path(NET_NAME)
        derived_b = [[c.surrogate_b for c in node_neuron_configs(cell, vocabulary_name=base.vocabulary)]
                     for _ in path]
        nodes = trellis_node_settings(self.table, module_name="trellis", net_name=NET_NAME, path=path,
                                      derived_b=derived_b)
        return base.with_nodes({**self.table.node_settings([node_key(NET_NAME)]), **nodes})

    def finish(self) -> list[Path]:
        """Write ``local_search.json`` and the figures into the run folder; returns the paths."""
        return write_local_record(self.searches, self.out_dir)


def consecutive_pairs(loader: Iterable) -> Iterable[tuple[Any, Any]]:
    """``(batch 0, batch 1), (batch 2, batch 3), ...``: a step batch and a held-out batch from one loader."""
    iterator = iter(loader)
    for first in iterator:
        second = next(iterator, None)
        if second is None:
            return
        yield first, second


def _energy_images(task: Any, loader: Iterable) -> torch.Tensor:
    images, _ = task.prepare(next(iter(loader)), train=False)
    return images[:32]


def _check_no_resume(config: Any) -> None:
    if getattr(config, "resume", False):
        raise ValueError("--resume is not supported together with --dgs/--tps/--hns (the node settings of "
                         "the interrupted run are in its genotype.json: retrain that genotype instead)")


class LocalTask:
    """A ``SearchTask`` whose decoded genotype carries the local searches' node settings."""

    def __init__(self, task: Any, local: Any) -> None:
        self.task, self.local = task, local

    def task_loss(self, model: nn.Module, batch: Any, *, train: bool) -> tuple[torch.Tensor, dict[str, float]]:
        return self.task.task_loss(model, batch, train=train)

    def architecture_penalty(self, model: nn.Module) -> tuple[torch.Tensor, dict[str, float]]:
        return self.task.architecture_penalty(model)

    def genotype(self, model: nn.Module) -> Genotype:
        return self.local.genotype(self.task.genotype(model))


class SearchRoundHooks:
    """The backend-independent part of the search hooks: a round after each epoch, the genotype saved.

    Subclasses set ``local`` (``after_epoch``, ``finish``), ``task`` (a :class:`LocalTask`), ``model``,
    ``weight_loader``, ``arch_loader`` and ``out_dir`` in ``__init__``.
    """

    local: Any
    task: LocalTask
    model: nn.Module
    weight_loader: Iterable
    arch_loader: Iterable
    out_dir: Path

    def on_epoch_end(self, epoch: int, row: dict[str, float]) -> None:
        if self.local.after_epoch(epoch, lambda: zip(self.weight_loader, self.arch_loader, strict=False)):
            genotype = self.task.genotype(self.model)  # the loop saved it before this round
            genotype.save_json(self.out_dir / "genotypes" / f"epoch_{epoch:03d}.json")
            genotype.save_json(self.out_dir / "genotype.json")

    def finish(self, result: Any) -> Any:
        result.genotype = self.task.genotype(self.model)
        self.local.finish()
        return result


class SearchHooks(SearchRoundHooks):
    """What ``search_classify`` needs: a wrapped task, an ``on_epoch_end`` callback, a finisher."""

    def __init__(self, config: Any, model: nn.Module, task: Any, weight_loader: Iterable, arch_loader: Iterable
                 ) -> None:
        _check_no_resume(config)
        self.local = ClassifyLocal(config, model, loss_fn=lambda m, b: task.task_loss(m, b, train=True)[0],
                                   energy_images=_energy_images(task, arch_loader), out_dir=config.out)
        self.task = LocalTask(task, self.local)
        self.model, self.weight_loader, self.arch_loader = model, weight_loader, arch_loader
        self.out_dir = Path(config.out)


class TrainHooks:
    """What ``train_classify`` needs: rounds after epochs (returning log metrics and the genotype)."""

    def __init__(self, config: Any, model: nn.Module, task: Any, train_loader: Iterable, out_dir: str | Path
                 ) -> None:
        _check_no_resume(config)
        self.local = ClassifyLocal(config, model, loss_fn=lambda m, b: task.task_loss(m, b, train=True)[0],
                                   energy_images=_energy_images(task, train_loader), out_dir=out_dir)
        self.train_loader = train_loader

    def after_epoch(self, epoch: int, genotype: Genotype) -> tuple[dict[str, float], Genotype]:
        """Run the rounds due after ``epoch``; returns log metrics and the genotype with node settings."""
        metrics = self.local.after_epoch(epoch, lambda: consecutive_pairs(self.train_loader))
        return metrics, self.local.genotype(genotype)

    def finish(self) -> list[Path]:
        return self.local.finish()
