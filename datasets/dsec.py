"""DSEC readers: ``events.h5`` windows, ``rectify_map.h5`` and 16-bit disparity PNGs.

``events.h5``: ``events/{x, y}`` uint16, ``events/t`` uint32 microseconds relative to the
scalar ``t_offset`` (int64 us), ``events/p`` uint8 {0, 1}; ``ms_to_idx[m]`` is the index of the
first event with ``t >= 1000 m`` (so a window reads only its own rows). Datasets are compressed
with Blosc/ZSTD, which needs ``hdf5plugin``. Disparity PNGs store ``round(256 d)`` as uint16
with 0 = invalid.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from datasets.events import Events
from datasets.rectify import Rectification, lut_from_maps

HEIGHT, WIDTH = 480, 640


def _open(path: str | os.PathLike, what: str):
    import hdf5plugin  # noqa: F401 - registers the Blosc/ZSTD filters DSEC files use

    from datasets.mvsec import open_hdf5

    return open_hdf5(path, what)


class DsecEvents:
    """One camera's DSEC ``events.h5`` (context manager).

    Attributes:
        t_offset_us: absolute time of ``t = 0`` in microseconds.
    """

    def __init__(self, path: str | os.PathLike, *, width: int = WIDTH, height: int = HEIGHT) -> None:
        self.path = Path(path)
        self.h5 = _open(self.path, "DSEC events")
        self.width, self.height = width, height
        try:
            missing = [k for k in ("events/x", "events/y", "events/t", "events/p", "ms_to_idx", "t_offset")
                       if k not in self.h5]
            if missing:
                raise ValueError(f"{self.path}: missing {', '.join(missing)} (not a DSEC events.h5?)")
            self.events = {k: self.h5[f"events/{k}"] for k in "xytp"}
            self.ms_to_idx = np.asarray(self.h5["ms_to_idx"][:], dtype=np.int64)
            self.t_offset_us = int(self.h5["t_offset"][()])
        except BaseException:
            self.h5.close()
            raise

    def __len__(self) -> int:
        return int(self.events["t"].shape[0])

    def bounds_us(self, t_start_us: int, t_end_us: int) -> tuple[int, int]:
        """Rows ``[i0, i1)`` with ``t_start_us < t <= t_end_us`` (file-relative microseconds)."""
        n = len(self)
        last_ms = len(self.ms_to_idx) - 1

        def row_at_ms(ms: int) -> int:
            return n if ms > last_ms else (0 if ms < 0 else int(self.ms_to_idx[ms]))

        lo = row_at_ms(int(t_start_us // 1000))  # every event before lo has t < that ms <= t_start
        hi = row_at_ms(int(t_end_us // 1000) + 1)  # every event from hi on has t > t_end
        t = np.asarray(self.events["t"][lo:hi], dtype=np.int64)
        return (lo + int(np.searchsorted(t, t_start_us, side="right")),
                lo + int(np.searchsorted(t, t_end_us, side="right")))

    def window_us(self, t_start_us: int, t_end_us: int) -> Events:
        """Events with ``t_start_us < t <= t_end_us``; ``Events.t`` is absolute seconds."""
        return self.rows(*self.bounds_us(t_start_us, t_end_us))

    def rows(self, i0: int = 0, i1: int | None = None) -> Events:
        """Events of rows ``[i0, i1)`` (all by default); ``Events.t`` is absolute seconds."""
        ev = {k: np.asarray(v[i0:i1]) for k, v in self.events.items()}
        t = (ev["t"].astype(np.int64) + self.t_offset_us) * 1e-6
        return Events.from_arrays(ev["x"], ev["y"], t, ev["p"], width=self.width, height=self.height)

    def close(self) -> None:
        self.h5.close()

    def __enter__(self) -> DsecEvents:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_rectify_map(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """``rectify_map`` (H, W, 2) of a DSEC ``rectify_map.h5`` as float32 x_map, y_map (H, W)."""
    with _open(path, "DSEC rectify map") as h5:
        if "rectify_map" not in h5:
            raise ValueError(f"{path}: missing dataset 'rectify_map'")
        maps = np.asarray(h5["rectify_map"][:], dtype=np.float32)
    if maps.ndim != 3 or maps.shape[-1] != 2:
        raise ValueError(f"{path}: rectify_map has shape {maps.shape}, expected (H, W, 2)")
    return maps[..., 0], maps[..., 1]


def dsec_rectification(left_map: str | os.PathLike, right_map: str | os.PathLike) -> Rectification:
    """Lookup tables from the two cameras' ``rectify_map.h5`` files."""
    lx, ly = read_rectify_map(left_map)
    rx, ry = read_rectify_map(right_map)
    height, width = lx.shape
    return Rectification(lut_from_maps(lx, ly), lut_from_maps(rx, ry), height, width,
                         f"DSEC maps {Path(left_map).name}, {Path(right_map).name}")


def read_disparity_png(path: str | os.PathLike) -> np.ndarray:
    """float32 (H, W) disparity in px from a 16-bit PNG (value / 256), NaN where the value is 0."""
    import cv2

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"disparity PNG not found: {path}")
    raw = cv2.imread(str(path), cv2.IMREAD_ANYDEPTH)
    if raw is None or raw.dtype != np.uint16 or raw.ndim != 2:
        raise ValueError(f"not a 16-bit single-channel PNG: {path}")
    disp = raw.astype(np.float32) / 256.0
    disp[raw == 0] = np.nan
    return disp


def encode_disparity_png(disparity: np.ndarray) -> bytes:
    """PNG bytes of ``round(256 d)`` as uint16; non-finite or <= 0 -> 0 (invalid), clipped to 65535."""
    import cv2

    d = np.asarray(disparity, dtype=np.float64)
    if d.ndim != 2:
        raise ValueError(f"disparity must be (H, W), got shape {d.shape}")
    valid = np.isfinite(d) & (d > 0)
    raw = np.zeros(d.shape, np.uint16)
    raw[valid] = np.clip(np.rint(256.0 * d[valid]), 1, 65535).astype(np.uint16)
    ok, buf = cv2.imencode(".png", raw)
    if not ok:
        raise ValueError("PNG encoding failed")
    return buf.tobytes()


def write_disparity_png(path: str | os.PathLike, disparity: np.ndarray) -> None:
    """Write a DSEC-convention disparity PNG atomically."""
    from datasets.atomic import atomic_output

    data = encode_disparity_png(disparity)
    with atomic_output(path) as tmp:
        tmp.write_bytes(data)
