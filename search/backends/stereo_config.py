"""Typed config of ``stereo search stereo`` with its help texts (kept free of torch).

Every field carries its help text in ``metadata["help"]``; the command exposes each field as an
option of the same name (``--feature-layers`` for ``feature_layers``) with the same help. Defaults
follow DESIGN.md sections 3 and 5 (the authors' MVSEC search: 10 epochs, architecture steps from
epoch 3, batch 1, filter multiplier 4, Adam lr 2e-3 on alpha/beta; their result has a feature path
of 2 layers and a matching path of 4 layers).
"""

from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any

from search.local_config import LocalOptions

DEVICES = ("auto", "cpu", "cuda")
LOSSES = ("cross_entropy", "smooth_l1")


def _f(default: Any, help_text: str) -> Any:
    return field(default=default, metadata={"help": help_text})


@dataclass(frozen=True)
class StereoSearchConfig(LocalOptions):
    """``stereo search stereo``: SpikeDHS search of the feature and matching nets on stereo caches
    (with the DGS/TPS/HNS switches of :class:`search.local_config.LocalOptions`)."""

    train: tuple[str, ...] = _f((), "Training caches written by `stereo preprocess` (split 50/50 into a "
                                    "weight half and an architecture half).")
    val: tuple[str, ...] = _f((), "Validation caches: mean disparity error and 1PA of the supernet after "
                                  "every epoch (full frames).")
    out: str = _f("runs/search_stereo", "Run folder: genotype.json, genotypes/, log.csv, validation/log.csv, "
                                        "checkpoint.pt.")
    epochs: int = _f(10, "Search epochs.")
    arch_start_epoch: int = _f(3, "First epoch (0-based) with architecture steps; earlier epochs train "
                                  "the weights only.")
    batch_size: int = _f(1, "Batch size of each half (weights and architecture).")
    crop_height: int = _f(200, "Height of the random training crop in pixels (clipped to the frame).")
    crop_width: int = _f(280, "Width of the random training crop in pixels (clipped to the frame).")
    max_disparity: int = _f(48, "Candidate disparities 0..max_disparity-1 px (a multiple of 3).")
    timesteps: int = _f(4, "Simulation timesteps T (the event tensor is fed at every step).")
    feature_layers: int = _f(2, "Layers of the feature-net trellis (length of the searched feature path).")
    matching_layers: int = _f(4, "Layers of the matching-net trellis (length of the searched matching path).")
    levels: int = _f(4, "Resolution levels of both trellises (each halves the resolution, doubles channels).")
    filter_multiplier: int = _f(4, "Channels per node at level 0 of both nets (each coarser level doubles "
                                   "them).")
    loss: str = _f("cross_entropy", "Task loss on valid pixels: cross_entropy (sub-pixel, DDES) or "
                                    "smooth_l1 (LEAStereo).")
    lr: float = _f(1e-3, "Initial SGD learning rate of the weights (cosine-annealed; LEAStereo's search).")
    lr_min: float = _f(1e-4, "Final learning rate of the cosine schedule.")
    momentum: float = _f(0.9, "SGD momentum of the weights.")
    weight_decay: float = _f(3e-4, "SGD weight decay of the weights.")
    grad_clip: float = _f(5.0, "Clip the weights' gradient norm to this (0 = off).")
    arch_lr: float = _f(2e-3, "Adam learning rate of the architecture parameters alpha and beta.")
    arch_weight_decay: float = _f(1e-3, "Adam weight decay of alpha and beta.")
    budget_mj: float | None = _f(None, "Energy budget in mJ per frame at the caches' full resolution (both "
                                       "views); the architecture loss adds budget_weight * max(0, E/budget "
                                       "- 1). None = no budget.")
    budget_weight: float = _f(1.0, "Weight lambda of the budget penalty.")
    limit: int = _f(0, "Use at most this many training frames (a fixed seeded subset; 0 = all).")
    seed: int = _f(0, "Random seed (split into halves, initialisation, batch order, crops).")
    device: str = _f("auto", "Device: auto (cuda when available), cpu or cuda.")
    num_workers: int = _f(0, "Data-loader worker processes.")
    resume: bool = _f(False, "Continue the run in --out from its last checkpoint.")
    progress: bool = _f(True, "Show progress bars.")

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (lists, not tuples) for checkpoints and JSON."""
        data = asdict(self)
        data["train"], data["val"] = [str(p) for p in self.train], [str(p) for p in self.val]
        if not self.any_local:  # runs without local searches keep the config (and resume) of earlier versions
            for f in fields(LocalOptions):
                del data[f.name]
        return data

    def check(self) -> None:
        """Validate option values; ValueError names the option."""
        if not self.train:
            raise ValueError("no training caches given (pass one or more cache files)")
        positive = ("epochs", "batch_size", "crop_height", "crop_width", "timesteps", "feature_layers",
                    "matching_layers", "levels", "filter_multiplier")
        for name in positive:
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}")
        for name in ("arch_start_epoch", "limit", "num_workers", "grad_clip", "weight_decay", "lr_min"):
            if getattr(self, name) < 0:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 0, got {getattr(self, name)}")
        if self.arch_start_epoch >= self.epochs:
            raise ValueError(f"--arch-start-epoch {self.arch_start_epoch} leaves no architecture step in "
                             f"--epochs {self.epochs} (epochs count from 0); lower it or train longer")
        if self.max_disparity < 3 or self.max_disparity % 3:
            raise ValueError(f"--max-disparity must be a positive multiple of 3, got {self.max_disparity}")
        if self.loss not in LOSSES:
            raise ValueError(f"--loss must be one of {', '.join(LOSSES)}, got {self.loss!r}")
        if self.device not in DEVICES:
            raise ValueError(f"--device must be one of {', '.join(DEVICES)}, got {self.device!r}")
        if self.lr <= 0 or self.arch_lr <= 0:
            raise ValueError("--lr and --arch-lr must be > 0")
        if self.budget_mj is not None and self.budget_mj <= 0:
            raise ValueError(f"impossible budget: --budget-mj must be > 0 mJ per frame, got {self.budget_mj}")
        if self.budget_weight < 0:
            raise ValueError(f"--budget-weight must be >= 0, got {self.budget_weight}")


def help_of(name: str) -> str:
    """The help text of a :class:`StereoSearchConfig` field (the CLI uses it verbatim)."""
    for f in fields(StereoSearchConfig):
        if f.name == name:
            return f.metadata["help"]
    raise KeyError(f"StereoSearchConfig has no field {name!r}")


def default_of(name: str) -> Any:
    """The default value of a :class:`StereoSearchConfig` field."""
    for f in fields(StereoSearchConfig):
        if f.name == name:
            return None if f.default is MISSING else f.default
    raise KeyError(f"StereoSearchConfig has no field {name!r}")
