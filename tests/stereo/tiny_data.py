"""Tiny random-dot stereo pairs and caches in the documented cache format, for the stereo tests."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np


def random_dot_pair(*, height: int, width: int, channels: int, seed: int, near_disparity: int = 6,
                    far_disparity: int = 2) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A left/right pair of sparse binary 'event' tensors with a near square on a far background.

    Returns ``left, right`` float32 (C, H, W) and the left-view disparity float32 (H, W) px; the
    right view is the left one shifted by the disparity (``x_right = x_left - d``).
    """
    rng = np.random.default_rng(seed)
    disparity = np.full((height, width), float(far_disparity), np.float32)
    top, left_edge = height // 4, width // 3
    disparity[top:top + height // 2, left_edge:left_edge + width // 3] = near_disparity
    right = (rng.random((channels, height, width)) < 0.3).astype(np.float32)
    cols = np.arange(width)[None, :] - disparity.astype(int)  # x_right for every left pixel
    rows = np.arange(height)[:, None].repeat(width, 1)
    inside = cols >= 0
    left = np.zeros_like(right)
    left[:, inside] = right[:, rows[inside], cols[inside]]
    disparity[~inside] = np.nan
    return left, right, disparity


def write_tiny_cache(path: Path, *, frames: int = 3, channels: int = 2, height: int = 24, width: int = 36,
                     seed: int = 0) -> Path:
    """Write a cache in the ``stereo preprocess`` format (datasets/cache.py) from random-dot pairs."""
    pairs = [random_dot_pair(height=height, width=width, channels=channels, seed=seed + i) for i in range(frames)]
    with h5py.File(path, "w") as f:
        f["left"] = np.stack([p[0] for p in pairs])
        f["right"] = np.stack([p[1] for p in pairs])
        f["disparity"] = np.stack([p[2] for p in pairs])
        f["sparse_mask"] = np.stack([p[0].any(0) for p in pairs])
        f["timestamps"] = 1.5e9 + 0.05 * np.arange(frames, dtype=np.float64)
        f["frame_index"] = np.arange(frames, dtype=np.int64)
        f["done"] = np.ones(frames, bool)
        f.attrs.update(format_version=1, representation="voxel", num_bins=channels, window_ms=50.0, height=height,
                       width=width, rectification="identity", focal_baseline=19.941772, source_data="tiny_data.hdf5",
                       source_data_size=0, source_gt="tiny_gt.hdf5", source_gt_size=0, created_by="stereo preprocess")
    return path
