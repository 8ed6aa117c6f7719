"""Training and evaluation samples from preprocessed caches (``stereo preprocess``).

Every item is a :class:`StereoSample` with named fields; PyTorch's default collate stacks them
into a batch of the same type (leading batch dimension N on every field).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch.utils.data import Dataset

# Preprocessing settings that must agree for tensors to mean the same thing, with the
# `stereo preprocess` option that sets each.
PREPROCESSING_OPTIONS = {"representation": "--representation", "num_bins": "--bins", "window_ms": "--window-ms"}


def check_same_preprocessing(attrs: dict, reference: dict, *, what: str, reference_name: str,
                             keys: Sequence[str] = tuple(PREPROCESSING_OPTIONS)) -> None:
    """Refuse a cache whose ``keys`` differ from ``reference`` (keys the reference lacks are skipped).

    Args:
        attrs: the cache's attributes.
        reference: the settings to match (other caches' attributes, a checkpoint's training data).
        what: how to name the cache in the message; reference_name: how to name ``reference``
            ("the training caches have", ...).
    """
    for key in keys:
        if key in reference and attrs[key] != reference[key]:
            option = PREPROCESSING_OPTIONS.get(key)
            hint = f"; preprocess it with {option} {reference[key]}" if option else ""
            raise ValueError(f"{what} was made with {key}={attrs[key]!r} but {reference_name} "
                             f"{key}={reference[key]!r}{hint}")


class StereoSample(NamedTuple):
    """One stereo window.

    Attributes:
        left: event tensor of the left camera, ``[C, H, W]`` float32 (batched: ``[N, C, H, W]``).
        right: event tensor of the right camera, same shape.
        disparity: ground-truth disparity ``[1, H, W]`` px, NaN where unknown.
        sparse_mask: ``[1, H, W]`` bool, pixels hit by the last 15,000 left events.
        timestamp: window end time in seconds, float64 scalar.
        frame_index: index of the GT frame in its recording, int64 scalar.
    """

    left: torch.Tensor
    right: torch.Tensor
    disparity: torch.Tensor
    sparse_mask: torch.Tensor
    timestamp: torch.Tensor
    frame_index: torch.Tensor


class CacheStereoDataset(Dataset):
    """Windows from one or more caches, optionally restricted to frames and randomly cropped.

    Files are opened lazily in each worker process (h5py handles must not cross a fork).

    Args:
        paths: cache files written by ``stereo preprocess``.
        frames: per cache, the GT frame indices to use (``None``: all frames of every cache).
        crop: ``(height, width)`` of a random crop (training), or ``None`` for full frames.
        seed: seed of the crop positions; item ``i`` of epoch ``e`` is cropped identically in every
            run (set the epoch with :meth:`set_epoch`).
    """

    def __init__(
        self,
        paths: Sequence[str | os.PathLike],
        *,
        frames: Sequence[Sequence[int] | None] | None = None,
        crop: tuple[int, int] | None = None,
        seed: int = 0,
    ) -> None:
        from datasets.cache import StereoCache

        self.paths = [Path(p) for p in paths]
        if not self.paths:
            raise ValueError("no cache files given")
        if frames is not None and len(frames) != len(self.paths):
            raise ValueError(f"frames must list one selection per cache ({len(self.paths)}), got {len(frames)}")
        self.crop = crop
        self.seed = seed
        self.epoch = 0
        self.attrs: dict = {}
        self._items: list[tuple[int, int]] = []
        for cache_index, path in enumerate(self.paths):
            with StereoCache(path) as cache:
                attrs = dict(cache.attrs)
                frame_index = cache.frame_index
                shape = (int(attrs["height"]), int(attrs["width"]))
            self._check_compatible(path, attrs)
            wanted = None if frames is None or frames[cache_index] is None else set(frames[cache_index])
            for row, index in enumerate(frame_index):
                if wanted is None or int(index) in wanted:
                    self._items.append((cache_index, row))
            if crop is not None and (crop[0] > shape[0] or crop[1] > shape[1]):
                raise ValueError(f"crop {crop} is larger than the frames {shape} of {path}")
        self._open: dict[int, object] = {}

    def _check_compatible(self, path: Path, attrs: dict) -> None:
        keys = (*PREPROCESSING_OPTIONS, "height", "width")
        if not self.attrs:
            self.attrs = {k: attrs[k] for k in keys}
            self.attrs["focal_baseline"] = float(attrs["focal_baseline"])
            return
        check_same_preprocessing(attrs, self.attrs, what=f"cache {path}", reference_name="the others have", keys=keys)

    def set_epoch(self, epoch: int) -> None:
        """Select the crop positions of an epoch (deterministic for a seed)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self._items)

    def _cache(self, cache_index: int):
        from datasets.cache import StereoCache

        if cache_index not in self._open:
            self._open[cache_index] = StereoCache(self.paths[cache_index])
        return self._open[cache_index]

    def __getitem__(self, index: int) -> StereoSample:
        cache_index, row = self._items[index]
        sample = self._cache(cache_index)[row]
        left, right = sample.left, sample.right
        disparity = sample.disparity[None]
        sparse_mask = sample.sparse_mask[None]
        if self.crop is not None:
            rng = np.random.default_rng((self.seed, self.epoch, index))
            height, width = left.shape[-2:]
            top = int(rng.integers(0, height - self.crop[0] + 1))
            left_edge = int(rng.integers(0, width - self.crop[1] + 1))
            window = (slice(None), slice(top, top + self.crop[0]), slice(left_edge, left_edge + self.crop[1]))
            left, right, disparity, sparse_mask = (a[window] for a in (left, right, disparity, sparse_mask))
        return StereoSample(
            left=torch.from_numpy(np.ascontiguousarray(left, dtype=np.float32)),
            right=torch.from_numpy(np.ascontiguousarray(right, dtype=np.float32)),
            disparity=torch.from_numpy(np.ascontiguousarray(disparity, dtype=np.float32)),
            sparse_mask=torch.from_numpy(np.ascontiguousarray(sparse_mask, dtype=bool)),
            timestamp=torch.tensor(float(sample.timestamp), dtype=torch.float64),
            frame_index=torch.tensor(int(sample.frame_index), dtype=torch.int64),
        )

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_open"] = {}
        return state
