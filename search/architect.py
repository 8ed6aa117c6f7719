"""The first-order DARTS bi-level search loop, generic over a backend.

Per step (DARTS first order, as SpikeDHS): once the warm-up epochs are over, one Adam step of
the architecture parameters (alpha, beta) on a batch of the architecture half of the training
data, with loss = task loss + budget penalty; then one SGD step of the weights on a batch of
the weight half, with the task loss only. The learning rate of the weights follows a cosine
schedule per epoch. At the end of every epoch the decoded genotype is written
(``genotypes/epoch_NNN.json`` and ``genotype.json``), a row is added to ``log.csv`` and a
checkpoint (``checkpoint.pt``) is saved, so a killed run resumes from its last finished epoch.

A backend provides the model (with ``arch_parameters()`` and ``weight_parameters()``) and a
:class:`SearchTask`.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch

from search.checkpoint import load_checkpoint, restore_checkpoint, save_checkpoint
from search.genotype import Genotype
from search.runlog import RunLog

CHECKPOINT_NAME = "checkpoint.pt"
GENOTYPE_NAME = "genotype.json"


class SearchableModel(Protocol):
    """A supernet: architecture logits and weights are separate parameter sets."""

    def arch_parameters(self) -> list[torch.nn.Parameter]: ...

    def weight_parameters(self) -> list[torch.nn.Parameter]: ...


class SearchTask(Protocol):
    """What the loop needs from a backend (classification, stereo)."""

    def task_loss(self, model: torch.nn.Module, batch: Any, *, train: bool
                  ) -> tuple[torch.Tensor, dict[str, float]]:
        """Loss on one batch and its metrics; ``train``: a training batch (augment it).

        Both halves come from the training set, so the loop passes ``train=True`` for both
        (as DARTS, whose architecture batches use the training transform).
        """
        ...

    def architecture_penalty(self, model: torch.nn.Module) -> tuple[torch.Tensor, dict[str, float]]:
        """The budget term added to the architecture loss (differentiable in alpha/beta)."""
        ...

    def genotype(self, model: torch.nn.Module) -> Genotype:
        """Decode the current architecture."""
        ...


@dataclass(frozen=True)
class ArchitectConfig:
    """Hyperparameters of the bi-level loop (DESIGN.md section 3).

    Attributes:
        epochs: search epochs.
        warmup_epochs: epochs of weight training before the first architecture step.
        weight_lr: initial SGD learning rate of the weights (cosine-annealed per epoch).
        weight_lr_min: final learning rate of the cosine schedule.
        weight_momentum: SGD momentum.
        weight_decay: SGD weight decay.
        grad_clip: clip the weights' gradient norm to this (0 = no clipping).
        arch_lr: Adam learning rate of alpha/beta.
        arch_betas: Adam betas.
        arch_weight_decay: Adam weight decay of alpha/beta.
        seed: seeds Python, NumPy and torch at the start of the run.
    """

    epochs: int = 50
    warmup_epochs: int = 10
    weight_lr: float = 0.1
    weight_lr_min: float = 0.001
    weight_momentum: float = 0.9
    weight_decay: float = 3e-4
    grad_clip: float = 5.0
    arch_lr: float = 1e-3
    arch_betas: tuple[float, float] = (0.9, 0.999)
    arch_weight_decay: float = 1e-3
    seed: int = 0

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        if not 0 <= self.warmup_epochs:
            raise ValueError(f"warmup_epochs must be >= 0, got {self.warmup_epochs}")
        if self.weight_lr <= 0 or self.arch_lr <= 0:
            raise ValueError("weight_lr and arch_lr must be > 0")


@dataclass
class SearchResult:
    """What a finished (or resumed and finished) search produced.

    Attributes:
        genotype: the genotype decoded after the last epoch.
        out_dir: the run folder.
        history: one metrics dict per epoch run by this process.
        start_epoch: the epoch this process started at (> 0 after a resume).
    """

    genotype: Genotype
    out_dir: Path
    history: list[dict[str, float]] = field(default_factory=list)
    start_epoch: int = 0


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def make_optimizers(model: SearchableModel, config: ArchitectConfig) -> tuple[
        torch.optim.Optimizer, torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    """SGD on the weights (with its cosine schedule) and Adam on the architecture parameters."""
    weights, arch = list(model.weight_parameters()), list(model.arch_parameters())
    if not arch:
        raise ValueError("the model has no architecture parameters to search")
    overlap = {id(p) for p in weights} & {id(p) for p in arch}
    if overlap:
        raise ValueError("weight_parameters() and arch_parameters() share parameters")
    weight_opt = torch.optim.SGD(weights, lr=config.weight_lr, momentum=config.weight_momentum,
                                 weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(weight_opt, T_max=config.epochs,
                                                           eta_min=config.weight_lr_min)
    arch_opt = torch.optim.Adam(arch, lr=config.arch_lr, betas=config.arch_betas,
                                weight_decay=config.arch_weight_decay)
    return weight_opt, arch_opt, scheduler


def architecture_step(model: torch.nn.Module, task: SearchTask, batch: Any, arch_opt: torch.optim.Optimizer
                      ) -> dict[str, float]:
    """One Adam step of alpha/beta on ``batch``: loss = task loss + budget penalty."""
    model.zero_grad(set_to_none=True)
    loss, metrics = task.task_loss(model, batch, train=True)
    penalty, penalty_metrics = task.architecture_penalty(model)
    (loss + penalty).backward()
    arch_opt.step()
    model.zero_grad(set_to_none=True)
    return {**{f"arch_{k}": v for k, v in metrics.items()}, **penalty_metrics}


def weight_step(model: torch.nn.Module, task: SearchTask, batch: Any, weight_opt: torch.optim.Optimizer, *,
                grad_clip: float, weight_params: list[torch.nn.Parameter]) -> dict[str, float]:
    """One SGD step of the weights on ``batch`` with the task loss."""
    model.zero_grad(set_to_none=True)
    loss, metrics = task.task_loss(model, batch, train=True)
    loss.backward()
    if grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(weight_params, grad_clip)
    weight_opt.step()
    model.zero_grad(set_to_none=True)
    return {f"train_{k}": v for k, v in metrics.items()}


def run_search(model: torch.nn.Module, task: SearchTask, *, weight_loader: Iterable, arch_loader: Iterable,
               config: ArchitectConfig, out_dir: str | Path, run_config: Mapping[str, Any] | None = None,
               resume: bool = False, progress: bool = True, kind: str = "search",
               ignore_config_keys: Iterable[str] = (),
               on_epoch_end: Callable[[int, dict[str, float]], None] | None = None) -> SearchResult:
    """Run (or resume) the bi-level search and write its outputs into ``out_dir``.

    The caller seeds (:func:`seed_everything`) before building ``model`` so that a fresh run is
    repeatable; on resume the model, optimizers, schedule and RNG states come from the
    checkpoint. Loaders whose sampler has ``set_epoch`` (``datasets.classify.EpochSampler``) get
    it called each epoch, so the batch order depends only on (seed, epoch).

    Args:
        model: the supernet, already on its device.
        task: the backend's loss/penalty/decoder.
        weight_loader: batches of the weight half; arch_loader: of the architecture half. An epoch
            has ``min(len(weight_loader), len(arch_loader))`` steps.
        config: loop hyperparameters.
        out_dir: run folder (created).
        run_config: the whole resolved run configuration, stored in the checkpoint and compared on
            resume (defaults to ``config``).
        resume: continue from ``out_dir/checkpoint.pt``.
        progress: show a progress bar.
        kind: checkpoint kind, checked on resume.
        ignore_config_keys: run-config keys allowed to change on resume.
        on_epoch_end: called with ``(epoch, metrics)`` after each epoch's outputs are written.

    Raises:
        FileExistsError: ``out_dir`` holds a checkpoint and ``resume`` is False.
        FileNotFoundError: ``resume`` is True and there is no checkpoint.
        ValueError: the checkpoint belongs to a different run.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "genotypes").mkdir(exist_ok=True)
    ckpt_path = out_dir / CHECKPOINT_NAME
    run_config = dict(run_config if run_config is not None else _plain(asdict(config)))
    weight_opt, arch_opt, scheduler = make_optimizers(model, config)
    weight_params = list(model.weight_parameters())
    start_epoch = 0
    if resume:
        if not ckpt_path.is_file():
            raise FileNotFoundError(f"--resume: no checkpoint to resume from in {out_dir} ({ckpt_path.name})")
        start_epoch, _ = restore_checkpoint(
            load_checkpoint(ckpt_path), model=model, config=run_config, kind=kind,
            optimizers={"weights": weight_opt, "arch": arch_opt}, schedulers={"weights": scheduler},
            ignore_config_keys=ignore_config_keys, source=str(ckpt_path))
    elif ckpt_path.exists():
        raise FileExistsError(f"run folder {out_dir} already holds a checkpoint; pass --resume to continue "
                              "it or choose another --out")
    history: list[dict[str, float]] = []
    genotype = task.genotype(model)
    steps = min(len(weight_loader), len(arch_loader))  # type: ignore[arg-type]
    with RunLog(out_dir, start_epoch=start_epoch) as log, progress_bar(progress) as bar:
        for epoch in range(start_epoch, config.epochs):
            started = time.perf_counter()
            for loader in (weight_loader, arch_loader):
                sampler = getattr(loader, "sampler", None)
                if hasattr(sampler, "set_epoch"):
                    sampler.set_epoch(epoch)
            search_arch = epoch >= config.warmup_epochs
            model.train()
            sums: dict[str, float] = {}
            task_id = bar.add_task(f"search epoch {epoch + 1}/{config.epochs}", total=steps)
            for step, (w_batch, a_batch) in enumerate(zip(weight_loader, arch_loader, strict=False)):
                if step >= steps:
                    break
                metrics = {}
                if search_arch:
                    metrics.update(architecture_step(model, task, a_batch, arch_opt))
                metrics.update(weight_step(model, task, w_batch, weight_opt, grad_clip=config.grad_clip,
                                           weight_params=weight_params))
                for key, value in metrics.items():
                    sums[key] = sums.get(key, 0.0) + float(value)
                bar.update(task_id, advance=1)
            bar.remove_task(task_id)
            lr = scheduler.get_last_lr()[0]
            scheduler.step()
            genotype = task.genotype(model)
            row = {"lr": lr, "arch_active": float(search_arch),
                   **{k: v / max(steps, 1) for k, v in sums.items()},
                   "seconds": time.perf_counter() - started}
            history.append(row)
            genotype.save_json(out_dir / "genotypes" / f"epoch_{epoch:03d}.json")
            genotype.save_json(out_dir / GENOTYPE_NAME)
            log.log_epoch(epoch, row)
            save_checkpoint(ckpt_path, model=model, epoch=epoch + 1, step=(epoch + 1) * steps,
                            config=run_config, genotype=None, kind=kind,
                            optimizers={"weights": weight_opt, "arch": arch_opt},
                            schedulers={"weights": scheduler}, extra={"metrics": row,
                                                                      "genotype": genotype.to_dict()})
            if on_epoch_end is not None:
                on_epoch_end(epoch, row)
    if not (out_dir / GENOTYPE_NAME).is_file():
        genotype.save_json(out_dir / GENOTYPE_NAME)
    return SearchResult(genotype=genotype, out_dir=out_dir, history=history, start_epoch=start_epoch)


def _plain(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, Path):
        return str(value)
    return value


class _NoBar:
    """Stands in for ``rich.progress.Progress`` when the bar is off."""

    def __enter__(self) -> _NoBar:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def add_task(self, *args: object, **kwargs: object) -> int:
        return 0

    def update(self, *args: object, **kwargs: object) -> None:
        return None

    def remove_task(self, *args: object) -> None:
        return None


def progress_bar(enabled: bool) -> Any:
    """A ``rich.progress.Progress`` (transient bars), or a stand-in that draws nothing."""
    if not enabled:
        return _NoBar()
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeRemainingColumn(), transient=True)
