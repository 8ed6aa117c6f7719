"""Typed configs of the classification commands (search, retrain, evaluate), with their help texts.

Kept free of torch so the command line can build its options without importing it. Every field
carries its help text in ``metadata["help"]``; ``stereo search/train/eval classify`` expose each
field as an option of the same name (``--filter-multiplier`` for ``filter_multiplier``) with the
same help (:func:`help_of`). Defaults follow DESIGN.md section 3.
"""

from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any

from search.local_config import LocalOptions

DEVICES = ("auto", "cpu", "cuda")
DATASET_NAMES = ("cifar10", "cifar100", "imagenet", "folder", "npz")


def _f(default: Any, help_text: str) -> Any:
    return field(default=default, metadata={"help": help_text})


@dataclass(frozen=True)
class DataOptions:
    """Which images to read (shared by the three commands)."""

    dataset: str = _f("cifar10", "Dataset: cifar10, cifar100 (python pickle folders), imagenet "
                                 "(train/ and val/ class folders), folder (ROOT/<class>/<image> or "
                                 "ROOT/{train,val}/<class>/<image>) or npz (images_nhwc_uint8 + labels).")
    data_root: str = _f("data", "Dataset folder (for npz: a file or a folder of .npz files).")
    image_size: int = _f(0, "Resize folder/ImageNet images to this side in pixels (0 = 32, ImageNet 224).")
    limit: int = _f(0, "Use at most this many images per split (fixed seeded subset; 0 = all).")
    download: bool = _f(False, "Download CIFAR with torchvision when it is missing (needs a network).")
    num_workers: int = _f(0, "Data-loader worker processes.")


@dataclass(frozen=True)
class SearchClassifyConfig(LocalOptions, DataOptions):
    """``stereo search classify``: SpikeDHS cell- and layer-level search on a classification set."""

    layers: int = _f(8, "Cells on the searched path (layer-level trellis depth).")
    levels: int = _f(4, "Resolution levels of the trellis (each halves the resolution, doubles channels).")
    filter_multiplier: int = _f(8, "Channels of level 0 (each coarser level doubles them).")
    timesteps: int = _f(6, "Simulation timesteps T (the image is fed at every step).")
    epochs: int = _f(50, "Search epochs.")
    warmup_epochs: int = _f(15, "Epochs of weight-only training before architecture steps start.")
    batch_size: int = _f(100, "Batch size of each half (weights and architecture).")
    lr: float = _f(0.1, "Initial SGD learning rate of the weights (cosine; 0.1-0.4 for CIFAR).")
    lr_min: float = _f(0.001, "Final learning rate of the cosine schedule.")
    momentum: float = _f(0.9, "SGD momentum of the weights.")
    weight_decay: float = _f(3e-4, "SGD weight decay of the weights.")
    grad_clip: float = _f(5.0, "Clip the weights' gradient norm to this (0 = off).")
    arch_lr: float = _f(1e-3, "Adam learning rate of the architecture parameters alpha and beta.")
    arch_weight_decay: float = _f(1e-3, "Adam weight decay of alpha and beta.")
    budget_mj: float | None = _f(None, "Energy budget in mJ per sample; the architecture loss adds "
                                       "budget_weight * max(0, E/budget - 1). None = no budget.")
    budget_weight: float = _f(1.0, "Weight lambda of the budget penalty.")
    seed: int = _f(0, "Random seed (data split, initialisation, batch order, augmentation).")
    device: str = _f("auto", "Device: auto (cuda when available), cpu or cuda.")
    out: str = _f("runs/search_classify", "Run folder: genotype.json, genotypes/, log.csv, checkpoint.pt.")
    resume: bool = _f(False, "Continue the run in --out from its last checkpoint.")
    progress: bool = _f(True, "Show progress bars.")


@dataclass(frozen=True)
class TrainClassifyConfig(LocalOptions, DataOptions):
    """``stereo train classify``: retrain a genotype from scratch."""

    genotype: str = _f("", "Genotype JSON file (or a named genotype, e.g. spikedhs_cifar).")
    filter_multiplier: int = _f(48, "Channels of level 0 (each coarser level doubles them).")
    timesteps: int = _f(6, "Simulation timesteps T.")
    epochs: int = _f(200, "Training epochs.")
    batch_size: int = _f(50, "Batch size.")
    lr: float = _f(0.025, "Initial SGD learning rate (cosine-annealed to 0).")
    momentum: float = _f(0.9, "SGD momentum.")
    weight_decay: float = _f(3e-4, "SGD weight decay.")
    grad_clip: float = _f(5.0, "Clip the gradient norm to this (0 = off).")
    cutout: bool = _f(True, "Cutout augmentation (a square of cutout_px pixels set to 0).")
    cutout_px: int = _f(16, "Side of the cutout square in pixels.")
    auxiliary: bool = _f(True, "Train with the auxiliary classifier head.")
    auxiliary_weight: float = _f(0.4, "Weight of the auxiliary head's loss.")
    seed: int = _f(0, "Random seed.")
    device: str = _f("auto", "Device: auto (cuda when available), cpu or cuda.")
    out: str = _f("runs/train_classify", "Run folder: checkpoint.pt (last), best.pt, log.csv.")
    resume: bool = _f(False, "Continue the run in --out from its last checkpoint.")
    progress: bool = _f(True, "Show progress bars.")


@dataclass(frozen=True)
class EvalClassifyConfig:
    """``stereo eval classify``: top-1/top-5 and an energy report of a trained checkpoint."""

    checkpoint: str = _f("", "Checkpoint written by `stereo train classify`.")
    data_root: str = _f("", "Dataset folder (default: the one stored in the checkpoint).")
    limit: int = _f(0, "Evaluate at most this many test images (0 = all).")
    batch_size: int = _f(100, "Batch size.")
    energy_samples: int = _f(100, "Test images used to measure firing rates for the energy report.")
    device: str = _f("auto", "Device: auto (cuda when available), cpu or cuda.")
    metrics: str = _f("", "Metrics JSON file to write (default: metrics.json next to the checkpoint).")
    progress: bool = _f(True, "Show progress bars.")


def help_of(config_type: type, name: str) -> str:
    """The help text of a config field (the CLI uses it verbatim)."""
    for f in fields(config_type):
        if f.name == name:
            return f.metadata["help"]
    raise KeyError(f"{config_type.__name__} has no field {name!r}")


def default_of(config_type: type, name: str) -> Any:
    """The default value of a config field."""
    for f in fields(config_type):
        if f.name == name:
            return None if f.default is MISSING else f.default
    raise KeyError(f"{config_type.__name__} has no field {name!r}")


def to_dict(config: Any) -> dict[str, Any]:
    """A config as a plain dict (for checkpoints and JSON)."""
    return asdict(config)


def check_common(config: DataOptions) -> None:
    """Validate the fields every command shares; ValueError names the option."""
    if config.dataset not in DATASET_NAMES:
        raise ValueError(f"--dataset must be one of {', '.join(DATASET_NAMES)}, got {config.dataset!r}")
    for name in ("image_size", "limit", "num_workers"):
        if getattr(config, name) < 0:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 0, got {getattr(config, name)}")
