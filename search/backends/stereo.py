"""The stereo backend of the search engine: SpikeDHS search of the feature and matching nets.

:func:`search_stereo` splits the training caches 50/50 (weights / architecture), builds a
:class:`search.backends.stereo_net.StereoSupernet` whose input channels come from the caches, and
runs the first-order bi-level loop of :mod:`search.architect` with :class:`StereoSearchTask`
(sub-pixel cross-entropy or smooth-L1 on valid pixels; budget penalty on the expected energy per
frame at the caches' full resolution). After every epoch it also writes
``validation/log.csv``: the expected energy of the decoded genotype and, with validation caches,
the MVSEC metrics of the supernet on them (full frames, exact dense GT).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from datasets.classify import EpochSampler, split_in_halves
from search.architect import ArchitectConfig, SearchResult, run_search, seed_everything
from search.backends.stereo_config import StereoSearchConfig
from search.backends.stereo_net import StereoSupernet
from search.cost import budget_term
from search.genotype import Genotype
from search.runlog import RunLog
from stereo.data import PREPROCESSING_OPTIONS, CacheStereoDataset, StereoSample, check_same_preprocessing
from stereo.disparity import smooth_l1_disparity_loss, subpixel_cross_entropy_loss
from stereo.metrics import batch_disparity_errors
from stereo.network import StereoNetConfig

SEARCH_KIND = "search-stereo"
# Keys that may change when a run is resumed (where it runs and how it reports, not what it computes).
RESUME_FREE_KEYS = ("out", "resume", "device", "progress", "num_workers", "val")


def resolve_device(name: str) -> torch.device:
    """``auto`` -> cuda when available, else cpu; ``cuda`` without a GPU is an error."""
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for, but no CUDA GPU is available on this machine")
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def cache_channels(attrs: dict[str, Any]) -> int:
    """Channels of the event tensors in a cache (``count``: ON and OFF; else the bins)."""
    return 2 if attrs["representation"] == "count" else int(attrs["num_bins"])


@dataclass
class StereoSearchTask:
    """Loss, metrics, budget penalty and decoding for stereo (a ``search.architect.SearchTask``).

    Attributes:
        device: where batches go.
        max_disparity: candidates ``0..max_disparity-1`` px; GT at or above it is ignored.
        loss: ``"cross_entropy"`` or ``"smooth_l1"``.
        focal_baseline: fB of the caches in px*m (for the depth metrics).
        image_size: ``(H, W)`` at which the expected energy is measured (the caches' full frames).
        budget_mj: energy budget per frame, or None.
        budget_weight: lambda of the penalty.
    """

    device: torch.device
    max_disparity: int
    loss: str
    focal_baseline: float
    image_size: tuple[int, int]
    budget_mj: float | None = None
    budget_weight: float = 0.0

    def task_loss(self, model: torch.nn.Module, batch: StereoSample, *, train: bool
                  ) -> tuple[torch.Tensor, dict[str, float]]:
        """Loss on valid pixels and the batch's frame-averaged 1PA (%) and mean disparity error (px)."""
        left, right = batch.left.to(self.device), batch.right.to(self.device)
        gt = batch.disparity.to(self.device)
        out = model(left, right)
        if self.loss == "smooth_l1":
            loss, _ = smooth_l1_disparity_loss(out.disparity, gt, max_disparity=self.max_disparity)
        else:
            loss, _ = subpixel_cross_entropy_loss(out.log_probability, gt, max_disparity=self.max_disparity)
        frames = [m for m in batch_disparity_errors(out.disparity.detach().cpu(), batch.disparity,
                                                     focal_baseline=self.focal_baseline) if not m.is_empty]
        metrics = {"loss": float(loss.detach())}
        if frames:
            metrics["one_pixel_accuracy"] = float(np.mean([m.one_pixel_accuracy for m in frames]))
            metrics["mean_disparity_error"] = float(np.mean([m.mean_disparity_error for m in frames]))
        return loss, metrics

    def architecture_penalty(self, model: torch.nn.Module) -> tuple[torch.Tensor, dict[str, float]]:
        """``budget_weight * max(0, E / budget - 1)`` on the expected energy per frame (0 without a budget)."""
        return budget_term(model.expected_energy_mj(self.image_size), self.budget_mj, weight=self.budget_weight)

    def genotype(self, model: torch.nn.Module) -> Genotype:
        return model.genotype()


@dataclass
class StereoSearchResult:
    """What :func:`search_stereo` produced.

    Attributes:
        search: the loop's result (final genotype, run folder, per-epoch training rows).
        decoded_mj: expected energy per frame (mJ, full cache resolution) of the final genotype.
        validation: per epoch run by this process, the row written to ``validation/log.csv``.
    """

    search: SearchResult
    decoded_mj: float
    validation: list[dict[str, float]] = field(default_factory=list)

    @property
    def genotype(self) -> Genotype:
        return self.search.genotype


class _CropEpochSampler(EpochSampler):
    """An :class:`EpochSampler` that also moves the dataset's random crops to the epoch."""

    def __init__(self, dataset: CacheStereoDataset, indices: np.ndarray, *, seed: int) -> None:
        super().__init__(indices, seed=seed, shuffle=True)
        self.dataset = dataset

    def set_epoch(self, epoch: int) -> None:
        super().set_epoch(epoch)
        self.dataset.set_epoch(epoch)


def _loader(dataset: CacheStereoDataset, indices: np.ndarray, *, config: StereoSearchConfig, seed: int
            ) -> torch.utils.data.DataLoader:
    # Workers are not persistent, so every epoch's iterator sees the dataset's new crop epoch.
    return torch.utils.data.DataLoader(
        dataset, batch_size=config.batch_size, sampler=_CropEpochSampler(dataset, indices, seed=seed),
        drop_last=len(indices) >= config.batch_size, num_workers=config.num_workers)


def build_supernet(config: StereoSearchConfig, in_channels: int) -> StereoSupernet:
    """The supernet a config describes, for caches with ``in_channels`` channels."""
    network = StereoNetConfig(in_channels=in_channels, max_disparity=config.max_disparity,
                              timesteps=config.timesteps, feature_filter_multiplier=config.filter_multiplier,
                              matching_filter_multiplier=config.filter_multiplier)
    return StereoSupernet(network, feature_layers=config.feature_layers, matching_layers=config.matching_layers,
                          num_levels=config.levels)


def _datasets(config: StereoSearchConfig) -> tuple[CacheStereoDataset, CacheStereoDataset | None]:
    probe = CacheStereoDataset(config.train, seed=config.seed)
    height, width = int(probe.attrs["height"]), int(probe.attrs["width"])
    crop = (min(config.crop_height, height), min(config.crop_width, width))
    train_set = CacheStereoDataset(config.train, crop=crop, seed=config.seed)
    val_set = CacheStereoDataset(config.val, seed=config.seed) if config.val else None
    if val_set is not None:
        check_same_preprocessing(val_set.attrs, train_set.attrs, what="the validation caches",
                                 reference_name="the training caches have")
    return train_set, val_set


def _training_indices(num_frames: int, config: StereoSearchConfig) -> tuple[np.ndarray, np.ndarray]:
    indices = np.arange(num_frames)
    if config.limit:
        indices = np.sort(np.random.default_rng(config.seed).permutation(num_frames)[:config.limit])
    if len(indices) < 2:
        raise ValueError(f"the search needs at least 2 training frames (one per half), got {len(indices)}"
                         + (f" (--limit {config.limit})" if config.limit else ""))
    first, second = split_in_halves(len(indices), seed=config.seed)
    return indices[first], indices[second]


def _validate(model: StereoSupernet, val_set: CacheStereoDataset, *, device: torch.device,
              focal_baseline: float) -> dict[str, float]:
    from stereo.evaluate import evaluate_predictor, model_predictor

    was_training = model.training
    model.eval()
    loader = torch.utils.data.DataLoader(val_set, batch_size=1)
    evaluation = evaluate_predictor(model_predictor(model), loader, focal_baseline=focal_baseline,
                                    device=device, prefix="val")
    model.train(was_training)
    return evaluation.summary


def search_stereo(config: StereoSearchConfig) -> StereoSearchResult:
    """Run (or resume) the stereo search and write genotype.json and the logs into ``config.out``.

    Raises:
        ValueError: bad option values, caches made with different settings, an impossible budget,
            cuda without a GPU.
        FileNotFoundError: a missing cache or (with ``resume``) a missing checkpoint.
        FileExistsError: ``out`` already holds a run and ``resume`` is off.
    """
    config.check()
    device = resolve_device(config.device)
    train_set, val_set = _datasets(config)
    attrs = train_set.attrs
    image_size = (int(attrs["height"]), int(attrs["width"]))
    focal_baseline = float(attrs["focal_baseline"])
    weight_indices, arch_indices = _training_indices(len(train_set), config)
    seed_everything(config.seed)
    model = build_supernet(config, cache_channels(attrs))
    if config.budget_mj is not None:
        floor = model.minimum_energy_mj(image_size)
        if config.budget_mj <= floor:
            raise ValueError(
                f"impossible budget: --budget-mj {config.budget_mj:g} is below the cost of the cheapest "
                f"architecture, {floor:.4g} mJ per frame (the real-valued encoder layer alone on both views "
                f"at T={config.timesteps}, {image_size[0]}x{image_size[1]}, filter multiplier "
                f"{config.filter_multiplier})")
    model.to(device)
    task = StereoSearchTask(device=device, max_disparity=config.max_disparity, loss=config.loss,
                            focal_baseline=focal_baseline, image_size=image_size, budget_mj=config.budget_mj,
                            budget_weight=config.budget_weight)
    loop = ArchitectConfig(epochs=config.epochs, warmup_epochs=config.arch_start_epoch, weight_lr=config.lr,
                           weight_lr_min=config.lr_min, weight_momentum=config.momentum,
                           weight_decay=config.weight_decay, grad_clip=config.grad_clip, arch_lr=config.arch_lr,
                           arch_weight_decay=config.arch_weight_decay, seed=config.seed)
    data = {key: attrs[key] for key in (*PREPROCESSING_OPTIONS, "height", "width")}
    run_config = {**config.to_dict(), "in_channels": cache_channels(attrs), "data": data}
    out = Path(config.out)
    validation: list[dict[str, float]] = []
    logs: dict[str, RunLog] = {}

    def after_epoch(epoch: int, row: dict[str, float]) -> None:
        if "validation" not in logs:  # opened at the first epoch this process runs (resume-aware)
            logs["validation"] = RunLog(out / "validation", start_epoch=epoch)
        genotype = model.genotype()
        energy = model.expected_energy_mj(image_size, weights=model.decoded_weights(genotype))
        metrics = {"decoded_mj": float(energy)}
        if val_set is not None:
            metrics.update(_validate(model, val_set, device=device, focal_baseline=focal_baseline))
        logs["validation"].log_epoch(epoch, metrics)
        validation.append(metrics)

    weight_loader = _loader(train_set, weight_indices, config=config, seed=config.seed)
    arch_loader = _loader(train_set, arch_indices, config=config, seed=config.seed + 1)
    local = None
    if config.any_local:
        from search.backends.stereo_local import SearchHooks

        local = SearchHooks(config, model, task, weight_loader, arch_loader)

    def on_epoch_end(epoch: int, row: dict[str, float]) -> None:
        if local is not None:  # rounds first, so validation sees the network with its new neurons
            local.on_epoch_end(epoch, row)
        after_epoch(epoch, row)

    try:
        result = run_search(
            model, local.task if local else task, weight_loader=weight_loader, arch_loader=arch_loader,
            config=loop, out_dir=out, run_config=run_config, resume=config.resume, progress=config.progress,
            kind=SEARCH_KIND, ignore_config_keys=RESUME_FREE_KEYS, on_epoch_end=on_epoch_end)
    finally:
        for log in logs.values():
            log.close()
    if local is not None:
        result = local.finish(result)
    with torch.no_grad():
        decoded = model.expected_energy_mj(image_size, weights=model.decoded_weights(result.genotype))
    return StereoSearchResult(search=result, decoded_mj=float(decoded), validation=validation)
