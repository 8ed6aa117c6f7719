"""The preprocessed stereo cache (HDF5) and ``preprocess_recording``, which writes it.

Format (``format_version`` 1), N frames, C channels, H x W pixels:

- ``left``, ``right``: float32 (N, C, H, W) event tensors, one frame per chunk, lzf;
- ``disparity``: float32 (N, H, W) exact ``fB / depth`` in px, NaN where depth is not finite or <= 0;
- ``sparse_mask``: bool (N, H, W), pixels hit by the last 15,000 left events of the window that
  rectification keeps inside the frame;
- ``timestamps``: float64 (N,) window end = GT time (absolute seconds); ``frame_index``: int64 (N,)
  GT frame index; ``done``: bool (N,) frames written (for resuming);
- root attrs: format_version, representation, num_bins, window_ms, height, width, rectification,
  focal_baseline, source_data, source_data_size, source_gt, source_gt_size, created_by.

Sample k holds the events in ``(t_k - window, t_k]`` of each camera, rectified (rounded, dropped
outside the frame) and turned into a tensor. Windows not fully inside both cameras' event time
range are skipped.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numba
import numpy as np

FORMAT_VERSION = 1
REPRESENTATIONS = ("voxel", "sbt", "count")
SPARSE_EVENTS = 15_000
CREATED_BY = "stereo preprocess"
_DATASETS = ("left", "right", "disparity", "sparse_mask", "timestamps", "frame_index", "done")
_FRAME_DATASETS = ("left", "right", "disparity", "sparse_mask")  # the order _frame_job returns chunks in
_SETTING_KEYS = ("format_version", "representation", "num_bins", "window_ms", "height", "width",
                 "rectification", "focal_baseline", "source_data", "source_data_size", "source_gt",
                 "source_gt_size", "created_by")


@dataclass(frozen=True)
class CacheSample:
    """One cached frame.

    Attributes:
        left, right: float32 (C, H, W) event tensors.
        disparity: float32 (H, W) px, NaN invalid.
        sparse_mask: bool (H, W).
        timestamp: window end time in seconds.
        frame_index: index of the GT frame in the GT file.
    """

    left: np.ndarray
    right: np.ndarray
    disparity: np.ndarray
    sparse_mask: np.ndarray
    timestamp: float
    frame_index: int


class StereoCache:
    """Read-only access to a cache written by ``stereo preprocess`` (context manager).

    Example:
        >>> with StereoCache("flying1.h5") as cache:  # doctest: +SKIP
        ...     sample = cache[0]
    """

    def __init__(self, path: str | os.PathLike) -> None:
        import h5py

        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"cache file not found: {self.path}")
        if not h5py.is_hdf5(self.path):
            raise ValueError(f"not a stereo cache (not an HDF5 file): {self.path}")
        self.h5 = h5py.File(self.path, "r")
        try:
            self.attrs = {k: _plain(v) for k, v in self.h5.attrs.items()}
            missing = [k for k in _DATASETS if k not in self.h5] + [k for k in _SETTING_KEYS if k not in self.attrs]
            if missing:
                raise ValueError(f"not a stereo cache (missing {', '.join(missing)}): {self.path}")
            if self.attrs["format_version"] != FORMAT_VERSION:
                raise ValueError(f"{self.path}: cache format_version {self.attrs['format_version']} "
                                 f"is not supported (expected {FORMAT_VERSION})")
            n = self.h5["timestamps"].shape[0]
            for key in _DATASETS:
                if self.h5[key].shape[0] != n:
                    raise ValueError(f"{self.path}: dataset '{key}' has {self.h5[key].shape[0]} frames, expected {n}")
            if not bool(np.all(self.h5["done"][:])):
                raise ValueError(f"{self.path}: cache is incomplete (some frames are not written)")
            self.timestamps = self.h5["timestamps"][:]
            self.frame_index = self.h5["frame_index"][:]
        except BaseException:
            self.h5.close()
            raise

    def __len__(self) -> int:
        return int(self.timestamps.shape[0])

    def __getitem__(self, i: int) -> CacheSample:
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"frame {i} out of range for a cache of {n} frames")
        i = i % n
        return CacheSample(
            left=self.h5["left"][i], right=self.h5["right"][i], disparity=self.h5["disparity"][i],
            sparse_mask=self.h5["sparse_mask"][i], timestamp=float(self.timestamps[i]),
            frame_index=int(self.frame_index[i]),
        )

    def close(self) -> None:
        self.h5.close()

    def __enter__(self) -> StereoCache:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _plain(value):
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.generic):
        return value.item()
    return value


# ---------------------------------------------------------------------------------------------
# One frame: rectify, build the tensor, compress (all without the GIL)


@numba.njit(cache=True, nogil=True)
def _rectify_columns(rows, packed, out_x, out_y, out_t, out_p, width):  # pragma: no cover - compiled
    """Map rows (n, 4) x, y, t, p through a packed table (:meth:`Rectification.packed`); returns the number kept."""
    n_out = 0
    sign = np.array([-1, 1], np.int8)  # a table, not a branch: polarities are random
    for i in range(rows.shape[0]):
        r = packed[np.int64(rows[i, 1]) * width + np.int64(rows[i, 0])]
        if r >= 0:
            out_x[n_out] = r & 0xFFFF
            out_y[n_out] = r >> 16
            out_t[n_out] = rows[i, 2]
            out_p[n_out] = sign[np.int64(rows[i, 3] > 0)]
            n_out += 1
    return n_out


@numba.njit(cache=True, nogil=True)
def _mark_pixels(x, y, width, mask):  # pragma: no cover - compiled
    """Set ``mask[y * width + x]`` (bool, H*W) for every event."""
    for i in range(x.shape[0]):
        mask[np.int64(y[i]) * width + np.int64(x[i])] = True


_scratch = threading.local()


@dataclass(frozen=True)
class _Settings:
    representation: str
    num_bins: int
    window_s: float
    height: int
    width: int


def _tensor(x, y, t, p, s: _Settings, t_end: float, out: np.ndarray | None = None) -> np.ndarray:
    from datasets import representations as rep

    if s.representation == "voxel":
        return rep.events_to_voxel(x, y, t, p, s.num_bins, s.height, s.width, out=out)
    if s.representation == "sbt":
        return rep.events_to_sbt(x, y, t, p, s.num_bins, s.height, s.width, t_start=t_end - s.window_s, t_end=t_end)
    return rep.events_to_counts(x, y, p, s.height, s.width)


def window_tensor(x, y, t, p, *, representation: str, num_bins: int, window_ms: float, height: int, width: int,
                  t_end: float) -> np.ndarray:
    """The event tensor of one rectified window exactly as ``stereo preprocess`` caches it.

    Args:
        x, y: (N,) rectified pixel coordinates; t: (N,) float64 seconds, sorted; p: (N,) {-1, +1}.
        representation: "voxel", "sbt" or "count".
        num_bins: time bins of voxel / SBT (ignored for "count").
        window_ms: window length in ms (the window is ``(t_end - window, t_end]``).
        height, width: frame size in px.
        t_end: window end in seconds.

    Returns:
        float32 (C, H, W) with C = num_bins, or 2 for "count"; zeros for an empty window.
    """
    if representation not in REPRESENTATIONS:
        raise ValueError(f"unknown representation {representation!r}; known: {', '.join(REPRESENTATIONS)}")
    return _tensor(x, y, t, p, _Settings(representation, num_bins, window_ms / 1000.0, height, width), t_end)


def _frame_job(rows_by_cam, luts, depth, focal_baseline, s: _Settings, t_end: float,
               chunk_buffers: _ChunkBuffers):
    """Both cameras' tensors, the GT disparity and the sparse mask of one window, LZF-encoded.

    Args:
        rows_by_cam: (left, right) float64 (n, 4) raw event rows of the window.
        luts: (left, right) packed tables (:meth:`datasets.rectify.Rectification.packed`).
        depth: float32 (H, W) GT depth in metres.
        chunk_buffers: where the encoded chunks' buffers come from (the caller gives them back once
            written).

    Returns:
        ``(filter_mask, buffer, nbytes)`` per dataset of ``_FRAME_DATASETS``; the chunk is ``buffer[:nbytes]``.
    """
    from datasets.lzf import encode_chunk, encode_sparse_chunk
    from datasets.mvsec import disparity_into

    plane = s.height * s.width
    chunks = []
    # Per worker thread and reused frame after frame, like the encoders' output: fresh arrays of
    # a frame's size are page-faulted in anew each time, which costs more than filling them.
    grid, disparity, mask = _frame_scratch(s)
    mask[:] = False
    for cam, rows in enumerate(rows_by_cam):
        x, y, t, p = _event_columns(rows.shape[0])
        n_out = _rectify_columns(rows, luts[cam], x, y, t, p, s.width)
        if cam == 0:
            # Counted after rectification, as DDES does on its pre-rectified events: the last
            # 15,000 events inside the frame, not the last 15,000 rows less those dropped.
            tail = max(n_out - SPARSE_EVENTS, 0)
            _mark_pixels(x[tail:n_out], y[tail:n_out], s.width, mask)
        tensor = _tensor(x[:n_out], y[:n_out], t[:n_out], p[:n_out], s, t_end, grid)
        chunks.append(chunk_buffers.keep(*encode_sparse_chunk(tensor)))
    invalid = disparity_into(depth.reshape(-1), focal_baseline, disparity)
    # Finite disparities do not compress with this encoder: only try when NaN holes are large.
    if invalid > 0.25 * plane:
        chunks.append(chunk_buffers.keep(*encode_chunk(disparity)))
    else:
        chunks.append(chunk_buffers.keep(1, disparity.view(np.uint8)))
    chunks.append(chunk_buffers.keep(*encode_chunk(mask)))
    return tuple(chunks)


def _frame_scratch(s: _Settings) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """This worker thread's tensor grid (float32 (B, H, W)), disparity (float32 H*W) and mask (bool H*W)."""
    scratch = getattr(_scratch, "frame", None)
    if scratch is None or scratch[0].shape != (s.num_bins, s.height, s.width):
        plane = s.height * s.width
        scratch = _scratch.frame = (np.empty((s.num_bins, s.height, s.width), np.float32),
                                    np.empty(plane, np.float32), np.empty(plane, np.bool_))
    return scratch


def _event_columns(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """This worker thread's x, y (int16), t (float64), p (int8) buffers of at least ``n`` events."""
    columns = getattr(_scratch, "columns", None)
    if columns is None or columns[0].shape[0] < n:
        size = max(n, 1) * 5 // 4
        columns = _scratch.columns = (np.empty(size, np.int16), np.empty(size, np.int16),
                                      np.empty(size, np.float64), np.empty(size, np.int8))
    return columns


class _ChunkBuffers:
    """Buffers for the encoded chunks on their way from the frame jobs to the file, used again.

    A job copies each chunk into one (:meth:`keep`); the writer hands it back (:meth:`give`) once
    the chunk is in the file. Capacities are powers of two, so buffers fit chunks of varying size.
    """

    def __init__(self) -> None:
        self._free: dict[int, list[np.ndarray]] = {}
        self._lock = threading.Lock()

    def keep(self, filter_mask: int, data: np.ndarray) -> tuple[int, np.ndarray, int]:
        """A copy of ``data`` (uint8) in a free buffer: ``(filter_mask, buffer, nbytes)``."""
        n = data.shape[0]
        capacity = 1 << max(n - 1, 4095).bit_length()
        with self._lock:
            free = self._free.get(capacity)
            buffer = free.pop() if free else None
        if buffer is None:
            buffer = np.empty(capacity, np.uint8)
        buffer[:n] = data
        return filter_mask, buffer, n

    def give(self, buffer: np.ndarray) -> None:
        with self._lock:
            self._free.setdefault(buffer.shape[0], []).append(buffer)


# ---------------------------------------------------------------------------------------------
# The whole recording


@dataclass(frozen=True)
class PreprocessReport:
    """What :func:`preprocess_recording` did."""

    path: Path
    frames: int
    frames_resumed: int
    skipped_before: int
    skipped_after: int
    events: int
    seconds: float


def preprocess_recording(
    data_path: str | os.PathLike,
    out_path: str | os.PathLike,
    *,
    gt_path: str | os.PathLike | None = None,
    representation: str = "voxel",
    num_bins: int = 5,
    window_ms: float = 50.0,
    calib: str | os.PathLike | None = None,
    focal_baseline: float | None = None,
    workers: int | None = None,
    overwrite: bool = False,
    frames_per_batch: int = 16,
    progress: Callable[[int, int], None] | None = None,
) -> PreprocessReport:
    """Cut a window ending at every GT time, rectify, build tensors and write the cache.

    Resumable: the output is built in ``.NAME.partial`` next to ``out_path`` with per-frame
    ``done`` flags; rerunning with the same arguments continues, different settings are
    refused. Atomic: the final name appears (``os.replace``) only when every frame is written.

    Args:
        data_path: MVSEC-layout ``*_data.hdf5``.
        out_path: the cache to write.
        gt_path: matching ``*_gt.hdf5``; default ``data_path`` with ``_data`` -> ``_gt``.
        representation: "voxel", "sbt" or "count" (C = num_bins, num_bins, 2).
        num_bins: time bins of voxel / SBT.
        window_ms: window length in milliseconds.
        calib: MVSEC map folder, npz or yaml; None only for files marked ``rectified``.
        focal_baseline: fB in px*m. Default: the GT file's ``focal_baseline`` attribute or scene
            name, then the data file's; a recording that names no scene is refused.
        workers: threads computing frames (default: all cores).
        overwrite: replace an existing output (and discard any partial).
        frames_per_batch: frames whose events are read from HDF5 at once.
        progress: called as ``progress(frames_done, frames_total)`` after each batch.

    Returns:
        A :class:`PreprocessReport`.
    """
    import time

    from datasets import rectify
    from datasets.atomic import check_output_file, partial_path
    from datasets.h5recover import exclusive_writer
    from datasets.mvsec import MvsecGroundTruth, MvsecRecording, resolve_focal_baseline

    start_time = time.perf_counter()
    if representation not in REPRESENTATIONS:
        raise ValueError(f"--representation must be one of {', '.join(REPRESENTATIONS)}, got {representation!r}")
    if num_bins < 1:
        raise ValueError(f"--bins must be >= 1, got {num_bins}")
    if not window_ms > 0:
        raise ValueError(f"--window-ms must be > 0, got {window_ms}")
    if workers is not None and workers < 1:
        raise ValueError(f"--workers must be >= 1 (0 on the command line: all cores), got {workers}")
    data_path = Path(data_path)
    if gt_path is None:
        if "_data" not in data_path.name:
            raise ValueError(f"cannot guess the GT file for {data_path}; pass --gt")
        gt_path = data_path.with_name(data_path.name.replace("_data", "_gt"))
    gt_path = Path(gt_path)
    out_path = check_output_file(out_path)
    if out_path.exists() and not overwrite:
        raise FileExistsError(f"output exists: {out_path} (pass --overwrite to replace it)")
    partial = partial_path(out_path)

    with MvsecRecording(data_path) as rec, MvsecGroundTruth(gt_path) as gt:
        height, width = gt.height, gt.width
        for stream in rec.streams.values():
            stream.width, stream.height = width, height
            if len(stream) == 0:
                raise ValueError(f"{stream.name}: no events")
        rect = (rectify.for_recording(calib, rectified=rec.rectified, height=height, width=width,
                                      source=data_path.name) or rectify.identity(height, width))
        focal_baseline = resolve_focal_baseline(rec, gt, given=focal_baseline)

        window_s = window_ms / 1000.0
        t_lo = max(s.t_first for s in rec.streams.values())
        t_hi = min(s.t_last for s in rec.streams.values())
        ts = gt.timestamps
        if ts.size == 0:
            raise ValueError(f"{gt_path.name}: no GT depth frames")
        before = int(np.sum(ts - window_s < t_lo))
        after = int(np.sum((ts - window_s >= t_lo) & (ts > t_hi)))
        valid = np.flatnonzero((ts - window_s >= t_lo) & (ts <= t_hi))
        if valid.size == 0:
            raise ValueError(f"GT timestamps [{ts[0]:.3f}, {ts[-1]:.3f}] s in {gt_path.name} do not overlap the "
                             f"events [{t_lo:.3f}, {t_hi:.3f}] s in {data_path.name} (with {window_ms:g} ms windows)")
        channels = 2 if representation == "count" else num_bins
        settings = {
            "format_version": FORMAT_VERSION, "representation": representation, "num_bins": channels,
            "window_ms": float(window_ms), "height": height, "width": width,
            "rectification": rect.description, "focal_baseline": float(focal_baseline),
            "source_data": data_path.name, "source_data_size": data_path.stat().st_size,
            "source_gt": gt_path.name, "source_gt_size": gt_path.stat().st_size, "created_by": CREATED_BY,
        }
        s = _Settings(representation, num_bins, window_s, height, width)
        with exclusive_writer(partial):
            report = _write_frames(rec, gt, partial, settings, s, rect, ts, valid, focal_baseline,
                                   overwrite=overwrite, workers=workers, frames_per_batch=frames_per_batch,
                                   progress=progress)
    os.replace(partial, out_path)
    n_events, resumed = report
    return PreprocessReport(out_path, len(valid), resumed, before, after, n_events, time.perf_counter() - start_time)


def _write_frames(rec, gt, partial: Path, settings: dict, s: _Settings, rect, ts: np.ndarray, valid: np.ndarray,
                  focal_baseline: float, *, overwrite: bool, workers: int | None, frames_per_batch: int,
                  progress) -> tuple[int, int]:
    """Fill the partial file's missing frames; returns ``(events read, frames resumed)``."""
    from concurrent.futures import ThreadPoolExecutor

    h5 = _open_partial(partial, settings, ts[valid], valid, overwrite=overwrite)
    done = np.zeros(0, np.bool_)
    try:
        done = h5["done"][:]
        # Low-level ids looked up once: an h5py name lookup costs ~0.5 ms in SWMR mode.
        targets = [(h5[name].id, h5[name].ndim) for name in _FRAME_DATASETS]
        done_ds = h5["done"]
        resumed = int(done.sum())
        todo = np.flatnonzero(~done)
        n_events = 0
        if progress:
            progress(resumed, len(valid))
        with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
            batches = [todo[i:i + frames_per_batch] for i in range(0, len(todo), frames_per_batch)]
            buffers = _BatchBuffers()
            chunk_buffers = _ChunkBuffers()
            luts = (rect.packed("left"), rect.packed("right"))
            pending = (_submit(pool, rec, gt, batches[0], valid, ts, luts, focal_baseline, s, buffers, 0,
                               chunk_buffers) if batches else None)
            for b, batch in enumerate(batches):
                futures, batch_events = pending
                # Read the next batch while the workers compute this one.
                if b + 1 < len(batches):
                    pending = _submit(pool, rec, gt, batches[b + 1], valid, ts, luts, focal_baseline, s,
                                      buffers, (b + 1) % 2, chunk_buffers)
                for k, future in zip(batch, futures, strict=True):
                    for (dsid, ndim), (filter_mask, buffer, nbytes) in zip(targets, future.result(), strict=True):
                        dsid.write_direct_chunk((int(k),) + (0,) * (ndim - 1), buffer[:nbytes], filter_mask)
                        chunk_buffers.give(buffer)
                done[batch] = True
                done_ds[batch[0]:batch[-1] + 1] = done[batch[0]:batch[-1] + 1]
                h5.flush()
                n_events += batch_events
                if progress:
                    progress(int(done.sum()), len(valid))
    except ValueError:
        # Bad data found mid-way (unsorted, outside the sensor): a rerun would stop at the same
        # place, so no partial is left behind.
        h5.close()
        partial.unlink(missing_ok=True)
        raise
    except (OSError, MemoryError) as exc:
        # A full disk or too little memory: the frames written so far stay for a rerun, as after
        # an interruption (KeyboardInterrupt, a kill).
        h5.close()
        raise OSError(f"{str(exc) or type(exc).__name__}; the {int(done.sum())} frames done are kept in "
                      f"{partial}: rerun the same command to resume") from exc
    finally:
        h5.close()
    return n_events, resumed


class _BatchBuffers:
    """Two reusable read buffers per source (each camera's event rows, the GT depth), used by
    alternate batches.

    Batch b reads into slot b % 2 while batch b - 1 (the other slot) is being computed; by then
    every job of batch b - 2, the slot's previous user, has returned its result. Reusing them
    spares the page faults of fresh arrays, which cost as much as the reads for blocks of a few MB.
    """

    def __init__(self) -> None:
        self._slots: dict[tuple[str, int], np.ndarray] = {}

    def get(self, source: str, slot: int, rows: int, row_shape: tuple[int, ...], dtype) -> np.ndarray:
        """A (>= rows, *row_shape) buffer of ``dtype`` for ``source`` in ``slot`` (0 or 1), grown when too small."""
        buf = self._slots.get((source, slot))
        if buf is None or buf.shape[0] < rows or buf.shape[1:] != row_shape:
            buf = np.empty((max(rows, 1) * 5 // 4, *row_shape), dtype)
            self._slots[source, slot] = buf
        return buf


def _submit(pool, rec, gt, batch, valid, ts, luts, focal_baseline, s: _Settings, buffers: _BatchBuffers, slot: int,
            chunk_buffers: _ChunkBuffers):
    """Read one batch of windows (both cameras, GT) into ``slot`` of ``buffers``; submit its frame jobs."""
    ends = ts[valid[batch]]
    starts = ends - s.window_s
    blocks = []
    n_events = 0
    for cam in ("left", "right"):
        stream = rec.streams[cam]
        i0 = stream.search(float(starts.min()), near=_rate_guess(stream, float(starts.min())))
        i1 = stream.search(float(ends.max()), lo=i0, near=_rate_guess(stream, float(ends.max())))
        rows = stream.read_rows(i0, i1, out=buffers.get(cam, slot, i1 - i0, (4,), np.float64))
        t = rows[:, 2]
        lo = np.searchsorted(t, starts, side="right")
        hi = np.searchsorted(t, ends, side="right")
        n_events += int(np.sum(hi - lo))
        blocks.append([rows[a:b] for a, b in zip(lo, hi, strict=True)])
    k0, k1 = int(valid[batch].min()), int(valid[batch].max()) + 1
    depth = gt.depth_frames(k0, k1, out=buffers.get("depth", slot, k1 - k0, (s.height, s.width), np.float32))
    futures = [
        pool.submit(_frame_job, (blocks[0][j], blocks[1][j]), luts, depth[valid[k] - k0], focal_baseline, s,
                    float(ends[j]), chunk_buffers)
        for j, k in enumerate(batch)
    ]
    return futures, n_events


def _rate_guess(stream, t: float) -> int | None:
    """Where time ``t`` would fall in ``stream`` if its events came at a constant rate (None: no guess)."""
    span = stream.t_last - stream.t_first
    guess = len(stream) * (t - stream.t_first) / span if span > 0 else 0.0
    return int(guess) if math.isfinite(guess) else None


def _open_partial(partial: Path, settings: dict, timestamps: np.ndarray, frame_index: np.ndarray, *,
                  overwrite: bool):
    """Open the partial file to resume it, or create it; refuse one made with other settings."""
    import h5py

    from datasets.h5recover import clear_write_flags

    if partial.exists() and not overwrite:
        # Its writer is dead (the caller holds the writer lock): a kill left HDF5's "open for
        # writing" mark, which would make the open below fail.
        clear_write_flags(partial)
        try:
            h5 = h5py.File(partial, "r+", libver="latest")
        except OSError:
            partial.unlink()  # killed before its first flush: nothing to resume
        else:
            old = {k: _plain(h5.attrs.get(k)) for k in settings}
            same_frames = ("timestamps" in h5 and h5["timestamps"].shape == timestamps.shape
                           and np.array_equal(h5["timestamps"][:], timestamps))
            if old != settings or not same_frames:
                h5.close()
                diff = sorted(k for k in settings if old[k] != settings[k]) or ["frames"]
                raise ValueError(f"a partial cache {partial} was made with different settings "
                                 f"({', '.join(diff)}); delete it or pass --overwrite")
            h5.swmr_mode = True
            return h5
    partial.unlink(missing_ok=True)
    n, height, width = len(timestamps), settings["height"], settings["width"]
    channels = settings["num_bins"]
    try:
        h5 = h5py.File(partial, "w", libver="latest")
    except OSError as exc:
        raise PermissionError(f"cannot create {partial} (is the output folder writable?): "
                              f"{getattr(exc, 'strerror', None) or exc}") from None
    for cam in ("left", "right"):
        h5.create_dataset(cam, (n, channels, height, width), np.float32, chunks=(1, channels, height, width),
                          compression="lzf")
    h5.create_dataset("disparity", (n, height, width), np.float32, chunks=(1, height, width), compression="lzf")
    h5.create_dataset("sparse_mask", (n, height, width), np.bool_, chunks=(1, height, width), compression="lzf")
    h5.create_dataset("timestamps", data=timestamps.astype(np.float64))
    h5.create_dataset("frame_index", data=frame_index.astype(np.int64))
    h5.create_dataset("done", data=np.zeros(n, np.bool_))
    for key, value in settings.items():
        h5.attrs[key] = value
    h5.swmr_mode = True
    h5.flush()
    return h5
