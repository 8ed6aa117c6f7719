"""MVSEC readers: lazy event windows from ``*_data.hdf5`` and depth GT from ``*_gt.hdf5``.

Layout (see DESIGN.md section 5): ``davis/{left,right}/events`` (N, 4) float64 columns x, y, t, p
with t in Unix seconds; ``davis/left/depth_image_rect`` (M, 260, 346) float32 metres (NaN
invalid) with ``depth_image_rect_ts``. Event datasets hold 10-40 M rows, so windows are found by
binary search on the t column reading single elements, and only the rows of a window are read.
"""

from __future__ import annotations

import os
from pathlib import Path

import numba
import numpy as np

from datasets.events import Events, window_bounds

HEIGHT, WIDTH = 260, 346
# fB (px * m) per scene family: disparity = fB / depth.
FOCAL_BASELINE = {"indoor_flying": 19.941772, "outdoor_day": 19.635287, "outdoor_night": 19.651191}
EVENTS_KEY = "davis/{camera}/events"
DEPTH_KEY = "davis/left/depth_image_rect"
DEPTH_TS_KEY = "davis/left/depth_image_rect_ts"
_SEARCH_BLOCK = 4096  # rows read at once to finish a binary search


def focal_baseline_for(name: str) -> float | None:
    """fB of the scene family named in a file name (``indoor_flying1_data.hdf5``), else None."""
    base = Path(name).name
    for family, value in FOCAL_BASELINE.items():
        if base.startswith(family):
            return value
    return None


def resolve_focal_baseline(rec: MvsecRecording, gt: MvsecGroundTruth | None = None, *,
                           given: float | None = None, required: bool = True) -> float | None:
    """fB in px*m: ``given``, else the GT file's (attribute or scene name), else the data file's.

    Raises:
        ValueError: ``given`` is not > 0, or nothing names fB and ``required`` (no scene is guessed:
            a wrong fB skews every depth).
    """
    if given is not None:
        if not given > 0:
            raise ValueError(f"--focal-baseline must be > 0, got {given}")
        return float(given)
    focal_baseline = (gt.focal_baseline if gt is not None else None) or rec.focal_baseline
    if focal_baseline is None and required:
        raise ValueError(f"no focal length x baseline for {rec.path.name}: neither file has a focal_baseline "
                         f"attribute or names an MVSEC scene ({', '.join(FOCAL_BASELINE)}); pass --focal-baseline")
    return focal_baseline


def depth_to_disparity(depth: np.ndarray, focal_baseline: float) -> np.ndarray:
    """Disparity ``fB / Z`` in pixels, float32, NaN where depth is not finite or <= 0."""
    depth = np.asarray(depth, dtype=np.float32, order="C")
    disp = np.empty_like(depth)
    disparity_into(depth.reshape(-1), focal_baseline, disp.reshape(-1))
    return disp


@numba.njit(cache=True, nogil=True)
def disparity_into(depth, focal_baseline, out):  # pragma: no cover - compiled
    """:func:`depth_to_disparity` of a flat float32 ``depth`` into ``out`` (float32, same length),
    in one pass without temporaries; returns the number of NaN (invalid) pixels."""
    fb = np.float32(focal_baseline)
    invalid = 0
    for i in range(depth.shape[0]):
        z = depth[i]
        if z > 0 and z < np.inf:  # NaN fails both
            out[i] = fb / z
        else:
            out[i] = np.nan
            invalid += 1
    return invalid


def disparity_to_depth(disparity: np.ndarray, focal_baseline: float) -> np.ndarray:
    """Depth ``fB / d`` in metres, float32, NaN where disparity is not finite or <= 0."""
    disparity = np.asarray(disparity, dtype=np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        depth = np.float32(focal_baseline) / disparity
    depth[~(np.isfinite(disparity) & (disparity > 0))] = np.nan
    return depth


def open_hdf5(path: str | os.PathLike, what: str):
    """Open an HDF5 file read-only with clear errors for a missing file or another format."""
    import h5py

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} file not found: {path}")
    if not h5py.is_hdf5(path):
        raise ValueError(f"not an HDF5 file: {path}")
    try:
        return h5py.File(path, "r")
    except OSError as exc:  # h5py's message does not name the file
        reason = "truncated file" if "truncated" in str(exc) else str(exc).strip().splitlines()[0]
        raise ValueError(f"cannot read {what} file {path}: {reason} (damaged or still being written?)") from None


def require_dataset(h5, key: str, *, ndim: int, last: int | None = None):
    """``h5[key]`` checked for presence and rank; ValueError naming the file otherwise."""
    import h5py

    obj = h5.get(key)
    if not isinstance(obj, h5py.Dataset):
        raise ValueError(f"{h5.filename}: missing dataset '{key}' (not an MVSEC-layout file?)")
    if obj.ndim != ndim or (last is not None and obj.shape[-1] != last):
        raise ValueError(f"{h5.filename}: dataset '{key}' has shape {obj.shape}, expected {ndim}-D"
                         + (f" with {last} columns" if last else ""))
    return obj


class EventStream:
    """Lazy reader of one camera's ``(N, 4)`` x, y, t, p event dataset.

    Args:
        dataset: an h5py Dataset (or any array-like with ``shape`` and slicing) of shape (N, 4).
        name: used in error messages.
        width, height: sensor size for the coordinate check.
    """

    def __init__(self, dataset, *, name: str, width: int = WIDTH, height: int = HEIGHT) -> None:
        self.dataset, self.name, self.width, self.height = dataset, name, width, height
        self._cache: dict[int, float] = {}

    def __len__(self) -> int:
        return int(self.dataset.shape[0])

    def time_at(self, index: int) -> float:
        """Timestamp of one row (one element read, cached)."""
        if index not in self._cache:
            self._cache[index] = float(self.dataset[index, 2])
        return self._cache[index]

    @property
    def t_first(self) -> float:
        return self.time_at(0)

    @property
    def t_last(self) -> float:
        return self.time_at(len(self) - 1)

    def search(self, t: float, *, lo: int = 0, hi: int | None = None, near: int | None = None) -> int:
        """Number of events with timestamp <= t (``searchsorted(..., side='right')``).

        Bisects with single-element reads until the range fits in one block, then reads the
        t values of that block only.

        Args:
            lo, hi: the answer is known to lie in ``[lo, hi]``.
            near: a guess of the answer (say, from the event rate). The search first widens a
                block around it, doubling each step, until the answer is inside: a good guess
                costs two reads instead of a bisection over the whole stream, a bad one at
                most about twice the bisection's reads.
        """
        hi = len(self) if hi is None else hi
        if near is not None and hi - lo > _SEARCH_BLOCK:
            below = above = min(max(near, lo), hi)
            step = _SEARCH_BLOCK // 2
            while below > lo and self.time_at(below - 1) > t:
                below, step = max(lo, below - step), 2 * step
            step = _SEARCH_BLOCK // 2
            while above < hi and self.time_at(above) <= t:
                above, step = min(hi, above + step), 2 * step
            lo, hi = below, above  # now t[lo - 1] <= t < t[hi] (where those exist)
        while hi - lo > _SEARCH_BLOCK:
            mid = (lo + hi) // 2
            if self.time_at(mid) <= t:
                lo = mid + 1
            else:
                hi = mid
        block = np.asarray(self.dataset[lo:hi, 2])
        return lo + int(np.searchsorted(block, t, side="right"))

    def read_rows(self, start: int, stop: int, *, out: np.ndarray | None = None) -> np.ndarray:
        """Rows ``[start, stop)`` as float64 (n, 4), checked for sorted t and in-sensor x, y.

        Args:
            out: optional float64 (m, 4) buffer with m >= n to read into (the result is a view
                of its first n rows). Reusing one buffer spares the page faults of a fresh
                array, which cost as much as the read itself for blocks of a few MB.
        """
        n = stop - start
        if out is not None and out.shape[0] >= n and out.dtype == np.float64 and hasattr(self.dataset, "read_direct"):
            rows = out[:n]
            if n > 0:
                self.dataset.read_direct(rows, np.s_[start:stop], np.s_[0:n])
        else:
            rows = np.asarray(self.dataset[start:stop], dtype=np.float64)
        check_rows(rows, name=self.name, offset=start, width=self.width, height=self.height)
        return rows

    def window(self, t_start: float, t_end: float) -> Events:
        """Events with ``t_start < t <= t_end`` (seconds), reading only their rows."""
        i0 = self.search(t_start)
        i1 = self.search(t_end, lo=i0)
        rows = self.read_rows(i0, i1)
        return Events.from_arrays(rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 3],
                                  width=self.width, height=self.height)


@numba.njit(cache=True, nogil=True)
def _first_bad_row(rows, width, height):  # pragma: no cover - compiled
    """(0, -1) if fine; (1, i) when t decreases at row i; (2, i) when row i is outside the sensor."""
    for i in range(rows.shape[0]):
        x, y = rows[i, 0], rows[i, 1]
        if not (x >= 0 and x < width and y >= 0 and y < height):
            return 2, i
        if i > 0 and rows[i, 2] < rows[i - 1, 2]:
            return 1, i
    return 0, -1


def check_rows(rows: np.ndarray, *, name: str, offset: int, width: int, height: int) -> None:
    """ValueError when t decreases or x, y leave the sensor within an (n, 4) x, y, t, p block (one pass)."""
    code, row = _first_bad_row(rows, width, height)
    if code == 1:
        raise ValueError(f"{name}: event timestamps are not sorted (t decreases at row {offset + row})")
    if code == 2:
        raise ValueError(f"{name}: event coordinates outside the {width}x{height} sensor "
                         f"(x={rows[row, 0]:g}, y={rows[row, 1]:g} at row {offset + row})")


class MvsecRecording:
    """An MVSEC ``*_data.hdf5`` file (context manager); events stay on disk until asked for.

    Attributes:
        left, right: :class:`EventStream` of each camera.
        rectified: True when the file says its events are already rectified (root attribute
            ``rectified``, written by the synthetic generator); real MVSEC files are raw.
    """

    def __init__(self, path: str | os.PathLike, *, width: int = WIDTH, height: int = HEIGHT) -> None:
        self.path = Path(path)
        self.h5 = open_hdf5(self.path, "data")
        try:
            self.streams = {
                cam: EventStream(require_dataset(self.h5, EVENTS_KEY.format(camera=cam), ndim=2, last=4),
                                 name=f"{self.path.name} {EVENTS_KEY.format(camera=cam)}",
                                 width=width, height=height)
                for cam in ("left", "right")
            }
        except BaseException:
            self.h5.close()
            raise
        self.rectified = bool(self.h5.attrs.get("rectified", False))
        attr = self.h5.attrs.get("focal_baseline")
        self.focal_baseline = float(attr) if attr is not None else focal_baseline_for(self.path.name)

    @property
    def left(self) -> EventStream:
        return self.streams["left"]

    @property
    def right(self) -> EventStream:
        return self.streams["right"]

    def close(self) -> None:
        self.h5.close()

    def __enter__(self) -> MvsecRecording:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class MvsecGroundTruth:
    """Depth GT of an MVSEC ``*_gt.hdf5`` file (context manager).

    Attributes:
        timestamps: float64 (M,) GT times in seconds (checked sorted).
        focal_baseline: fB from a root attribute, the scene family in the file name, or None.
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self.h5 = open_hdf5(self.path, "GT")
        try:
            self.depth = require_dataset(self.h5, DEPTH_KEY, ndim=3)
            ts = require_dataset(self.h5, DEPTH_TS_KEY, ndim=1)
            self.timestamps = np.asarray(ts[:], dtype=np.float64)
            if self.timestamps.shape[0] != self.depth.shape[0]:
                raise ValueError(f"{self.path}: {DEPTH_TS_KEY} has {self.timestamps.shape[0]} entries "
                                 f"but {DEPTH_KEY} has {self.depth.shape[0]} frames")
            if np.any(np.diff(self.timestamps) < 0):
                raise ValueError(f"{self.path}: {DEPTH_TS_KEY} is not sorted")
        except BaseException:
            self.h5.close()
            raise
        attr = self.h5.attrs.get("focal_baseline")
        self.focal_baseline = float(attr) if attr is not None else focal_baseline_for(self.path.name)

    def __len__(self) -> int:
        return int(self.timestamps.shape[0])

    @property
    def height(self) -> int:
        return int(self.depth.shape[1])

    @property
    def width(self) -> int:
        return int(self.depth.shape[2])

    def depth_frames(self, start: int, stop: int, *, out: np.ndarray | None = None) -> np.ndarray:
        """float32 (stop - start, H, W) depth in metres.

        Args:
            out: optional float32 (m, H, W) buffer with m >= stop - start to read into (the
                result is a view of its first rows); reusing one spares a fresh array's page faults.
        """
        n = stop - start
        # Only float32 files are read straight into ``out``: HDF5 converts float64 slightly
        # differently from numpy (values just above the float32 range become inf, not FLT_MAX).
        if (out is not None and out.shape[0] >= n and out.shape[1:] == self.depth.shape[1:]
                and out.dtype == np.float32 and self.depth.dtype == np.float32):
            if n > 0:
                self.depth.read_direct(out, np.s_[start:stop], np.s_[0:n])
            return out[:n]
        return np.asarray(self.depth[start:stop], dtype=np.float32)

    def close(self) -> None:
        self.h5.close()

    def __enter__(self) -> MvsecGroundTruth:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


__all__ = [
    "FOCAL_BASELINE", "EventStream", "MvsecGroundTruth", "MvsecRecording", "depth_to_disparity",
    "disparity_to_depth", "focal_baseline_for", "resolve_focal_baseline", "window_bounds",
]
