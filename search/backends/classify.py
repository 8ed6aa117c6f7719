"""The image-classification backend: search, retrain and evaluate spiking classifiers.

- :func:`search_classify`: SpikeDHS search of a :class:`ClassifySupernet` with the bi-level loop of
  :mod:`search.architect` (weights on one half of the training set, alpha/beta on the other, budget
  penalty from :mod:`search.cost`).
- :func:`train_classify`: retrain a genotype from scratch as a :class:`ClassifyNet` (crop, flip,
  cutout, auxiliary head), checkpoint every epoch, resumable.
- :func:`evaluate_classify`: top-1/top-5 on the test split and an energy report (mJ per sample,
  per layer, firing rates), written as metrics JSON.

Images travel as uint8 ``(B, 3, H, W)`` from the loaders and are augmented/normalised on the
device (:func:`datasets.classify.augment_batch`).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from datasets.atomic import atomic_output
from datasets.classify import (
    ClassifyDataConfig,
    augment_batch,
    load_classify_split,
    make_loader,
    normalize_batch,
    split_in_halves,
)
from search.architect import (
    ArchitectConfig,
    SearchResult,
    progress_bar,
    run_search,
    seed_everything,
)
from search.backends.classify_config import (
    DEVICES,
    EvalClassifyConfig,
    SearchClassifyConfig,
    TrainClassifyConfig,
    check_common,
    to_dict,
)
from search.backends.classify_local import SearchHooks, TrainHooks
from search.backends.classify_net import NET_NAME, ClassifyNet, ClassifySupernet
from search.checkpoint import load_checkpoint, restore_checkpoint, save_checkpoint
from search.cost import PJ_PER_MJ, budget_term, conv_macs, energy_pj, energy_report
from search.genotype import Genotype
from search.local import add_new_parameters
from search.named_genotypes import resolve_genotype

SEARCH_KIND = "search-classify"
TRAIN_KIND = "train-classify"
# Keys that may change when a run is resumed (where it runs and how it reports, not what it computes).
RESUME_FREE_KEYS = ("out", "resume", "device", "progress", "num_workers", "data_root", "download")


def resolve_device(name: str) -> torch.device:
    """``auto`` -> cuda when available, else cpu; ``cuda`` without a GPU is an error."""
    if name not in DEVICES:
        raise ValueError(f"--device must be one of {', '.join(DEVICES)}, got {name!r}")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for, but no CUDA GPU is available on this machine")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


DATA_KEYS = ("dataset", "data_root", "image_size", "limit", "download")


def _data_config(config: Any, **overrides: Any) -> ClassifyDataConfig:
    """The data part of a command config (a config dataclass or a stored config dict)."""
    values = {k: config[k] if isinstance(config, dict) else getattr(config, k) for k in DATA_KEYS}
    values.update(overrides)
    return ClassifyDataConfig(**values)


@dataclass
class ClassifyTask:
    """Loss, metrics, budget penalty and decoding for classification (a ``SearchTask``).

    Attributes:
        mean, std: per-channel normalisation.
        device: where batches go.
        image_size: ``(H, W)`` of the inputs (for the expected energy).
        budget_mj: energy budget per sample, or None.
        budget_weight: lambda of the penalty.
        cutout_px: cutout side for training batches (0 = off).
        auxiliary_weight: weight of the auxiliary head's loss when the model returns aux logits.
    """

    mean: tuple[float, ...]
    std: tuple[float, ...]
    device: torch.device
    image_size: tuple[int, int]
    budget_mj: float | None = None
    budget_weight: float = 0.0
    cutout_px: int = 0
    auxiliary_weight: float = 0.0

    def prepare(self, batch: tuple[torch.Tensor, torch.Tensor], *, train: bool
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """uint8 images, labels -> normalised (augmented when ``train``) float images on the device."""
        images, labels = batch
        images = images.to(self.device, non_blocking=True)
        labels = labels.to(self.device, non_blocking=True)
        if train:
            return augment_batch(images, mean=self.mean, std=self.std, cutout_px=self.cutout_px), labels
        return normalize_batch(images, self.mean, self.std), labels

    def task_loss(self, model: torch.nn.Module, batch: Any, *, train: bool
                  ) -> tuple[torch.Tensor, dict[str, float]]:
        images, labels = self.prepare(batch, train=train)
        out = model(images)
        loss = F.cross_entropy(out.logits, labels)
        total = loss
        if out.aux_logits is not None and self.auxiliary_weight > 0:
            total = loss + self.auxiliary_weight * F.cross_entropy(out.aux_logits, labels)
        top1, top5 = topk_correct(out.logits.detach(), labels, ks=(1, 5))
        n = len(labels)
        return total, {"loss": float(loss.detach()), "top1": 100.0 * top1 / n, "top5": 100.0 * top5 / n}

    def architecture_penalty(self, model: torch.nn.Module) -> tuple[torch.Tensor, dict[str, float]]:
        return budget_term(model.expected_energy_mj(self.image_size), self.budget_mj, weight=self.budget_weight)

    def genotype(self, model: torch.nn.Module) -> Genotype:
        return model.genotype()


def topk_correct(logits: torch.Tensor, labels: torch.Tensor, *, ks: tuple[int, ...] = (1, 5)) -> list[int]:
    """Number of samples whose label is among the top-k logits, for each k (k capped at the classes).

    Args:
        logits: ``(N, num_classes)``; labels: ``(N,)`` int64.
    """
    k_max = min(max(ks), logits.shape[1])
    top = logits.topk(k_max, dim=1).indices
    hits = top.eq(labels[:, None])
    return [int(hits[:, : min(k, k_max)].any(dim=1).sum()) for k in ks]


@torch.no_grad()
def evaluate_model(model: torch.nn.Module, loader: Any, task: ClassifyTask, *, progress: bool = False,
                   description: str = "evaluate") -> dict[str, float]:
    """Top-1/top-5 (%) and mean cross-entropy over a loader, in eval mode."""
    was_training = model.training
    model.eval()
    correct1 = correct5 = count = 0
    loss_sum = 0.0
    with progress_bar(progress) as bar:
        bar_id = bar.add_task(description, total=len(loader))
        for batch in loader:
            images, labels = task.prepare(batch, train=False)
            logits = model(images).logits
            loss_sum += float(F.cross_entropy(logits, labels, reduction="sum"))
            c1, c5 = topk_correct(logits, labels, ks=(1, 5))
            correct1, correct5, count = correct1 + c1, correct5 + c5, count + len(labels)
            bar.update(bar_id, advance=1)
    model.train(was_training)
    count = max(count, 1)
    return {"top1": 100.0 * correct1 / count, "top5": 100.0 * correct5 / count, "loss": loss_sum / count,
            "num_images": float(count)}


def minimum_energy_mj(*, timesteps: int, in_channels: int, filter_multiplier: int,
                      image_size: tuple[int, int]) -> float:
    """Energy per sample (mJ) no architecture of the space can go below: the real-valued encoder layer.

    Every cell reads spikes, so its cost scales with a firing rate that can approach 0; the first
    conv reads the real-valued image and always costs ``T * MACs * 4.6 pJ``.
    """
    macs = timesteps * conv_macs(kernel_size=3, c_in=in_channels, c_out=3 * filter_multiplier,
                                 out_spatial=image_size)
    return float(energy_pj(macs, input_rate=None)) / PJ_PER_MJ


def _halves_loaders(train_set: Any, config: SearchClassifyConfig) -> tuple[Any, Any]:
    first, second = split_in_halves(len(train_set), seed=config.seed)
    loaders = []
    for offset, half in enumerate((first, second)):
        loaders.append(make_loader(train_set, half, batch_size=config.batch_size, shuffle=True,
                                   seed=config.seed + offset, drop_last=len(half) >= config.batch_size,
                                   num_workers=config.num_workers))
    return loaders[0], loaders[1]


def _check_search_config(config: SearchClassifyConfig) -> None:
    check_common(config)
    if config.budget_mj is not None and config.budget_mj <= 0:
        raise ValueError(f"impossible budget: --budget-mj must be > 0 mJ per sample, got {config.budget_mj}")
    if config.budget_weight < 0:
        raise ValueError(f"--budget-weight must be >= 0, got {config.budget_weight}")
    for name in ("layers", "levels", "filter_multiplier", "timesteps", "epochs", "batch_size"):
        if getattr(config, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(config, name)}")


def search_classify(config: SearchClassifyConfig) -> SearchResult:
    """Run (or resume) the SpikeDHS search on a classification dataset; see the module docstring.

    Raises:
        ValueError: bad option values, an impossible budget, cuda without a GPU, bad data layout.
        FileNotFoundError: missing data or (with ``resume``) missing checkpoint.
    """
    _check_search_config(config)
    device = resolve_device(config.device)
    data_config = _data_config(config)
    train_set = load_classify_split(data_config, "train")
    size = data_config.resolved_image_size
    image_size = (size, size)
    if config.budget_mj is not None:
        floor = minimum_energy_mj(timesteps=config.timesteps, in_channels=3,
                                  filter_multiplier=config.filter_multiplier, image_size=image_size)
        if config.budget_mj <= floor:
            raise ValueError(f"impossible budget: --budget-mj {config.budget_mj:g} is below the cost of the "
                             f"cheapest architecture, {floor:.4g} mJ per sample (the real-valued encoder "
                             f"layer alone at T={config.timesteps}, {size}x{size}, filter multiplier "
                             f"{config.filter_multiplier})")
    seed_everything(config.seed)
    model = ClassifySupernet(num_classes=train_set.num_classes, num_layers=config.layers,
                             num_levels=config.levels, filter_multiplier=config.filter_multiplier,
                             timesteps=config.timesteps).to(device)
    mean, std = data_config.mean_std
    task = ClassifyTask(mean=mean, std=std, device=device, image_size=image_size, budget_mj=config.budget_mj,
                        budget_weight=config.budget_weight)
    weight_loader, arch_loader = _halves_loaders(train_set, config)
    loop = ArchitectConfig(epochs=config.epochs, warmup_epochs=config.warmup_epochs, weight_lr=config.lr,
                           weight_lr_min=config.lr_min, weight_momentum=config.momentum,
                           weight_decay=config.weight_decay, grad_clip=config.grad_clip, arch_lr=config.arch_lr,
                           arch_weight_decay=config.arch_weight_decay, seed=config.seed)
    run_config = {**to_dict(config), "num_classes": train_set.num_classes, "image_size_px": size}
    local = SearchHooks(config, model, task, weight_loader, arch_loader) if config.any_local else None
    result = run_search(model, local.task if local else task, weight_loader=weight_loader,
                        arch_loader=arch_loader, config=loop, out_dir=config.out, run_config=run_config,
                        resume=config.resume, progress=config.progress, kind=SEARCH_KIND,
                        ignore_config_keys=RESUME_FREE_KEYS, on_epoch_end=local.on_epoch_end if local else None)
    return local.finish(result) if local else result


def _classify_genotype(spec: str) -> Genotype:
    if not spec:
        raise ValueError("no genotype given: pass a genotype JSON file or a named genotype")
    genotype = resolve_genotype(spec)
    if NET_NAME not in genotype.cells or NET_NAME not in genotype.paths:
        cells, paths = ", ".join(genotype.cells) or "none", ", ".join(genotype.paths) or "none"
        raise ValueError(f"genotype {spec} has no '{NET_NAME}' cell and path (cells: {cells}; paths: {paths})")
    return genotype


def build_classify_net(model_config: dict[str, Any], genotype: Genotype) -> ClassifyNet:
    """The derived network described by a train checkpoint's config (see :func:`train_classify`)."""
    return ClassifyNet(genotype, num_classes=int(model_config["num_classes"]),
                       filter_multiplier=int(model_config["filter_multiplier"]),
                       timesteps=int(model_config["timesteps"]), auxiliary=bool(model_config["auxiliary"]))


def train_classify(config: TrainClassifyConfig) -> dict[str, Any]:
    """Retrain a genotype from scratch; writes ``checkpoint.pt`` (each epoch), ``best.pt``, ``log.csv``.

    The checkpoint config holds the model config (``num_classes``, ``filter_multiplier``,
    ``timesteps``, ``auxiliary``), the data config and the genotype, so evaluation needs only it.

    Returns:
        ``{"top1", "top5", "best_top1", "epochs_run", "checkpoint", "best"}`` (test metrics of the
        last epoch).
    """
    check_common(config)
    for name in ("filter_multiplier", "timesteps", "epochs", "batch_size"):
        if getattr(config, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(config, name)}")
    genotype = _classify_genotype(config.genotype)
    device = resolve_device(config.device)
    data_config = _data_config(config)
    train_set = load_classify_split(data_config, "train")
    test_set = load_classify_split(data_config, "test")
    size = data_config.resolved_image_size
    seed_everything(config.seed)
    run_config = {**to_dict(config), "num_classes": train_set.num_classes, "image_size_px": size,
                  "class_names": list(train_set.class_names)}
    model = build_classify_net(run_config, genotype).to(device)
    mean, std = data_config.mean_std
    task = ClassifyTask(mean=mean, std=std, device=device, image_size=(size, size),
                        cutout_px=config.cutout_px if config.cutout else 0,
                        auxiliary_weight=config.auxiliary_weight if config.auxiliary else 0.0)
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum,
                                weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs)
    train_loader = make_loader(train_set, batch_size=config.batch_size, shuffle=True, seed=config.seed,
                               drop_last=len(train_set) > config.batch_size, num_workers=config.num_workers)
    test_loader = make_loader(test_set, batch_size=config.batch_size, shuffle=False, seed=0,
                              num_workers=config.num_workers)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    local = TrainHooks(config, model, task, train_loader, out) if config.any_local else None
    ckpt_path, best_path = out / "checkpoint.pt", out / "best.pt"
    start_epoch, best_top1, metrics = 0, -1.0, {"top1": float("nan"), "top5": float("nan")}
    if config.resume:
        if not ckpt_path.is_file():
            raise FileNotFoundError(f"--resume: no checkpoint to resume from in {out} ({ckpt_path.name})")
        payload = load_checkpoint(ckpt_path)
        start_epoch, _ = restore_checkpoint(payload, model=model, config=run_config, genotype=genotype.to_dict(),
                                            optimizers={"weights": optimizer}, schedulers={"weights": scheduler},
                                            kind=TRAIN_KIND, ignore_config_keys=RESUME_FREE_KEYS,
                                            source=str(ckpt_path))
        best_top1 = float(payload["extra"].get("best_top1", -1.0))
        metrics = dict(payload["extra"].get("metrics", metrics))
    elif ckpt_path.exists():
        raise FileExistsError(f"run folder {out} already holds a checkpoint; pass --resume to continue it or "
                              "choose another --out")
    from search.runlog import RunLog

    with RunLog(out, start_epoch=start_epoch) as log, progress_bar(config.progress) as bar:
        for epoch in range(start_epoch, config.epochs):
            started = time.perf_counter()
            train_loader.sampler.set_epoch(epoch)
            model.train()
            sums: dict[str, float] = {}
            steps = 0
            bar_id = bar.add_task(f"train epoch {epoch + 1}/{config.epochs}", total=len(train_loader))
            for batch in train_loader:
                optimizer.zero_grad(set_to_none=True)
                loss, step_metrics = task.task_loss(model, batch, train=True)
                loss.backward()
                if config.grad_clip > 0:
                    torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
                optimizer.step()
                for key, value in step_metrics.items():
                    sums[key] = sums.get(key, 0.0) + value
                steps += 1
                bar.update(bar_id, advance=1)
            bar.remove_task(bar_id)
            lr = scheduler.get_last_lr()[0]
            scheduler.step()
            local_metrics, genotype = local.after_epoch(epoch, genotype) if local else ({}, genotype)
            if local is not None:
                add_new_parameters(optimizer, model)  # e.g. the learned tau of a PLIF that TPS chose
            test = evaluate_model(model, test_loader, task)
            metrics = {"top1": test["top1"], "top5": test["top5"]}
            row = {"lr": lr, **{f"train_{k}": v / max(steps, 1) for k, v in sums.items()},
                   "test_loss": test["loss"], "test_top1": test["top1"], "test_top5": test["top5"],
                   **local_metrics, "seconds": time.perf_counter() - started}
            log.log_epoch(epoch, row)
            improved = test["top1"] > best_top1
            best_top1 = max(best_top1, test["top1"])
            extra = {"metrics": metrics, "best_top1": best_top1, "mean": list(mean), "std": list(std)}
            save_args = {"model": model, "epoch": epoch + 1, "step": (epoch + 1) * steps, "config": run_config,
                         "genotype": genotype.to_dict(), "kind": TRAIN_KIND, "extra": extra}
            save_checkpoint(ckpt_path, optimizers={"weights": optimizer}, schedulers={"weights": scheduler},
                            **save_args)
            if improved:
                save_checkpoint(best_path, **save_args)
    if local is not None:
        local.finish()
    return {**metrics, "best_top1": best_top1, "epochs_run": config.epochs - start_epoch,
            "checkpoint": str(ckpt_path), "best": str(best_path)}


def evaluate_classify(config: EvalClassifyConfig) -> dict[str, Any]:
    """Evaluate a train checkpoint: top-1/top-5 on the test split and the energy report.

    Writes the metrics JSON (``config.metrics`` or ``metrics.json`` next to the checkpoint).

    Returns:
        the metrics dict plus ``report_text`` (a Markdown energy table) and ``metrics_path``.
    """
    if config.limit < 0 or config.batch_size < 1 or config.energy_samples < 1:
        raise ValueError("--limit must be >= 0, --batch-size and --energy-samples >= 1")
    device = resolve_device(config.device)
    payload = load_checkpoint(config.checkpoint)
    if payload.get("kind") != TRAIN_KIND:
        raise ValueError(f"{config.checkpoint} is not a checkpoint of `stereo train classify` "
                         f"(it was made by '{payload.get('kind') or 'unknown'}')")
    run_config = payload["config"]
    genotype = Genotype.from_dict(payload["genotype"])
    model = build_classify_net(run_config, genotype)
    model.load_state_dict(payload["model"])
    model.to(device).eval()
    overrides: dict[str, Any] = {"download": False, "limit": config.limit}
    if config.data_root:
        overrides["data_root"] = config.data_root
    data_config = _data_config(run_config, **overrides)
    test_set = load_classify_split(data_config, "test")
    if test_set.num_classes != run_config["num_classes"]:
        raise ValueError(f"the test split of {data_config.data_root} has {test_set.num_classes} classes, "
                         f"the checkpoint was trained on {run_config['num_classes']}")
    mean, std = tuple(payload["extra"]["mean"]), tuple(payload["extra"]["std"])
    size = data_config.resolved_image_size
    task = ClassifyTask(mean=mean, std=std, device=device, image_size=(size, size))
    loader = make_loader(test_set, batch_size=config.batch_size, shuffle=False, seed=0)
    scores = evaluate_model(model, loader, task, progress=config.progress, description="test")
    count = min(config.energy_samples, len(test_set))
    images = torch.stack([test_set[i][0] for i in range(count)])
    report = energy_report(model, normalize_batch(images.to(device), mean, std), num_samples=count)
    spiking_layers = [layer for layer in report.layers if layer.spiking_input]
    result = {
        "checkpoint": str(config.checkpoint),
        "dataset": data_config.dataset,
        "data_root": str(data_config.data_root),
        "num_images": int(scores["num_images"]),
        "top1": scores["top1"],
        "top5": scores["top5"],
        "loss": scores["loss"],
        "energy_mj_per_sample": report.total_mj,
        "ann_equivalent_mj_per_sample": report.ann_equivalent_mj,
        "mean_firing_rate": (sum(layer.input_rate for layer in spiking_layers) / len(spiking_layers)
                             if spiking_layers else 0.0),
        "energy_samples": count,
        "energy": report.to_dict(),
        "genotype": genotype.to_dict(),
        "timesteps": int(run_config["timesteps"]),
    }
    metrics_path = Path(config.metrics) if config.metrics else Path(config.checkpoint).with_name("metrics.json")
    with atomic_output(metrics_path) as tmp:
        tmp.write_text(json.dumps(result, indent=2) + "\n")
    return {**result, "report_text": report.to_markdown(), "metrics_path": str(metrics_path)}
