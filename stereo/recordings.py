"""Stereo recording sources for ``stereo infer``: MVSEC files, DSEC sequence folders, plain event files.

A source knows its frame size, its rectification and the time range both cameras cover, and reads
one camera's events in a time interval. :func:`iter_windows` turns a source and a list of window
end times into rectified :class:`StereoWindow` objects, reading the events of a few windows at a
time, so that memory stays bounded on an hour-long MVSEC or DSEC recording (plain files are read
whole: their formats cannot be sliced on disk).

Sources:

- MVSEC ``*_data.hdf5`` (+ optional ``*_gt.hdf5`` depth): events read by binary search on disk;
  raw files need rectification maps (``calib``), files marked ``rectified`` (synthetic) do not;
- DSEC sequence folder: ``events/{left,right}/events.h5`` and ``events/{left,right}/rectify_map.h5``;
- plain files (:func:`datasets.files.read_event_file`): one file with ``left`` and ``right`` event
  arrays, or a left file plus ``right``. Their events are used as given (no rectification); the
  frame size comes from ``width``/``height``, else the file's ``sensor_wh``, else the largest
  coordinates. Events outside the frame are dropped and counted in :attr:`RecordingSource.notes`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from datasets.events import Events
from datasets.rectify import Rectification

CAMERAS = ("left", "right")
CHUNK_SECONDS = 1.0  # events read at once span at most this long (or one window)
MAX_FRAME_PX = 8192  # far beyond any event sensor (1280 x 720 today); guards against typos that would need TBs


@dataclass(frozen=True)
class StereoWindow:
    """One stereo window ``(t_end - window, t_end]``.

    Attributes:
        index: position in the list of window ends.
        t_end: window end in seconds (the recording's clock).
        left, right: rectified events of each camera (``Events``, sensor = frame size).
        gt_disparity: float32 (H, W) ground-truth disparity in px, NaN invalid; None without GT.
    """

    index: int
    t_end: float
    left: Events
    right: Events
    gt_disparity: np.ndarray | None = None


@dataclass
class WindowPlan:
    """Where windows end and which GT frame each one is scored against.

    Attributes:
        ends: float64 (K,) window ends in seconds.
        gt_index: int64 (K,) GT frame of each window, or None without GT.
        skipped: GT timestamps whose window is not fully inside both cameras' events.
    """

    ends: np.ndarray
    gt_index: np.ndarray | None
    skipped: int


@dataclass
class RecordingSource:
    """Base class: a stereo recording whose events are read interval by interval.

    Attributes:
        path: the recording (file or folder).
        kind: "MVSEC", "DSEC" or "plain".
        height, width: frame size in px (rectified frames have the raw size).
        rectification: lookup tables applied to raw events, or None when events are used as given.
        focal_baseline: fB in px*m when the recording tells it, else None.
        notes: remarks for the summary (dropped events, guessed sizes).
    """

    path: Path
    kind: str
    height: int
    width: int
    rectification: Rectification | None = None
    focal_baseline: float | None = None
    notes: list[str] = field(default_factory=list)

    def time_range(self) -> tuple[float, float]:
        """``(t_lo, t_hi)`` seconds covered by both cameras (latest first event, earliest last event)."""
        raise NotImplementedError

    def read(self, camera: str, t_start: float, t_end: float) -> Events:
        """Raw events of one camera with ``t_start < t <= t_end`` (seconds)."""
        raise NotImplementedError

    @property
    def gt_timestamps(self) -> np.ndarray | None:
        """float64 (M,) GT times in seconds, or None without GT."""
        return None

    def gt_disparity(self, start: int, stop: int) -> np.ndarray:
        """float32 (stop - start, H, W) GT disparity in px (NaN invalid) of GT frames ``[start, stop)``."""
        raise ValueError(f"{self.path}: no ground truth")

    def close(self) -> None:
        pass

    def __enter__(self) -> RecordingSource:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# ---------------------------------------------------------------------------------------------
# MVSEC


class MvsecSource(RecordingSource):
    """An MVSEC-layout ``*_data.hdf5`` file, with optional ``*_gt.hdf5`` depth (context manager)."""

    def __init__(self, path: Path, *, gt: Path | None = None, calib: str | os.PathLike | None = None,
                 width: int | None = None, height: int | None = None, focal_baseline: float | None = None) -> None:
        from datasets import rectify
        from datasets.mvsec import HEIGHT, WIDTH, MvsecGroundTruth, MvsecRecording, resolve_focal_baseline

        self._rec = MvsecRecording(path)
        self._gt = None
        try:
            if gt is not None:
                self._gt = MvsecGroundTruth(gt)
                if (width or self._gt.width, height or self._gt.height) != (self._gt.width, self._gt.height):
                    raise ValueError(f"--width/--height {width}x{height} differ from the GT frames "
                                     f"{self._gt.width}x{self._gt.height} of {gt}")
                height, width = self._gt.height, self._gt.width
            height, width = height or HEIGHT, width or WIDTH
            for stream in self._rec.streams.values():
                stream.width, stream.height = width, height
                if len(stream) == 0:
                    raise ValueError(f"{stream.name}: no events (missing {stream.name.split('/')[-2]}-camera events)")
            rect = rectify.for_recording(calib, rectified=self._rec.rectified, height=height, width=width,
                                         source=path.name)
            # GT depth cannot become disparity without fB; without GT only --depth needs it.
            focal_baseline = resolve_focal_baseline(self._rec, self._gt, given=focal_baseline,
                                                    required=self._gt is not None)
        except BaseException:
            self.close()
            raise
        super().__init__(path=path, kind="MVSEC", height=height, width=width, rectification=rect,
                         focal_baseline=focal_baseline)

    def time_range(self) -> tuple[float, float]:
        streams = self._rec.streams.values()
        return max(s.t_first for s in streams), min(s.t_last for s in streams)

    def read(self, camera: str, t_start: float, t_end: float) -> Events:
        stream = self._rec.streams[camera]
        i0 = stream.search(t_start)
        rows = stream.read_rows(i0, stream.search(t_end, lo=i0))
        return Events.from_arrays(rows[:, 0], rows[:, 1], rows[:, 2], rows[:, 3], width=self.width,
                                  height=self.height)

    @property
    def gt_timestamps(self) -> np.ndarray | None:
        return None if self._gt is None else self._gt.timestamps

    def gt_disparity(self, start: int, stop: int) -> np.ndarray:
        from datasets.mvsec import depth_to_disparity

        if self._gt is None:
            return super().gt_disparity(start, stop)
        return depth_to_disparity(self._gt.depth_frames(start, stop), self.focal_baseline)

    def close(self) -> None:
        if self._gt is not None:
            self._gt.close()
        self._rec.close()


# ---------------------------------------------------------------------------------------------
# DSEC


class DsecSource(RecordingSource):
    """A DSEC sequence folder: ``events/{left,right}/events.h5`` and ``rectify_map.h5`` (context manager)."""

    def __init__(self, folder: Path) -> None:
        from datasets.dsec import HEIGHT, WIDTH, DsecEvents, dsec_rectification

        paths = {cam: folder / "events" / cam / "events.h5" for cam in CAMERAS}
        maps = {cam: folder / "events" / cam / "rectify_map.h5" for cam in CAMERAS}
        for cam in CAMERAS:
            if not paths[cam].is_file():
                raise FileNotFoundError(f"missing {cam}-camera events: {paths[cam]} not found (a DSEC sequence "
                                        "folder holds events/left/events.h5 and events/right/events.h5)")
            if not maps[cam].is_file():
                raise FileNotFoundError(f"missing {cam}-camera rectification: {maps[cam]} not found")
        rect = dsec_rectification(maps["left"], maps["right"])
        self._events: dict[str, DsecEvents] = {}
        try:
            for cam in CAMERAS:
                self._events[cam] = DsecEvents(paths[cam], width=rect.width, height=rect.height)
                if len(self._events[cam]) == 0:
                    raise ValueError(f"{paths[cam]}: no events (missing {cam}-camera events)")
        except BaseException:
            self.close()
            raise
        notes = [] if (rect.height, rect.width) == (HEIGHT, WIDTH) else [
            f"rectify maps are {rect.width}x{rect.height}, not DSEC's {WIDTH}x{HEIGHT}"]
        super().__init__(path=folder, kind="DSEC", height=rect.height, width=rect.width, rectification=rect,
                         notes=notes)

    def _absolute(self, cam: str, row: int) -> float:
        ev = self._events[cam]
        return (int(ev.events["t"][row]) + ev.t_offset_us) * 1e-6

    def time_range(self) -> tuple[float, float]:
        return (max(self._absolute(c, 0) for c in CAMERAS),
                min(self._absolute(c, len(self._events[c]) - 1) for c in CAMERAS))

    def read(self, camera: str, t_start: float, t_end: float) -> Events:
        ev = self._events[camera]
        return ev.window_us(round(t_start * 1e6) - ev.t_offset_us, round(t_end * 1e6) - ev.t_offset_us)

    def close(self) -> None:
        for ev in getattr(self, "_events", {}).values():
            ev.close()


# ---------------------------------------------------------------------------------------------
# Plain files


def _array_names(path: Path) -> list[str] | None:
    """Names of the arrays in an npz / HDF5 file (None for other formats)."""
    suffix = path.suffix.lower()
    if suffix == ".npz":
        from datasets.files import load_numpy

        with load_numpy(path) as data:
            return list(data.files)
    if suffix in (".h5", ".hdf5"):
        import h5py

        with h5py.File(path, "r") as h5:
            group = h5["events"] if isinstance(h5.get("events"), h5py.Group) else h5
            return list(group)
    return None


class PlainSource(RecordingSource):
    """Left/right events from plain files, held in memory and used as given (no rectification)."""

    def __init__(self, path: Path, *, right: Path | None = None, width: int | None = None,
                 height: int | None = None) -> None:
        from datasets.files import read_event_file

        if right is None:
            names = _array_names(path)
            if names is None or "left" not in names or "right" not in names:
                has = f" (has {', '.join(names)})" if names else ""
                missing = "right" if names and "left" in names else "left/right"
                raise ValueError(f"missing {missing}-camera events: {path} has no 'left' and 'right' event "
                                 f"arrays{has}; give one file with both, or the left file and --right FILE")
            left_events = read_event_file(path, camera="left")
            right_events = read_event_file(path, camera="right")
        else:
            left_events, right_events = read_event_file(path), read_event_file(right)
        notes: list[str] = []
        for name, ev in (("left", left_events), ("right", right_events)):
            if len(ev) == 0:
                raise ValueError(f"{right if name == 'right' and right else path}: no {name}-camera events")
        if width is None or height is None:
            sizes = [(ev.width, ev.height) for ev in (left_events, right_events) if ev.width is not None]
            if sizes:
                width, height = width or sizes[0][0], height or sizes[0][1]
            else:
                width = width or 1 + max(int(ev.x.max()) for ev in (left_events, right_events))
                height = height or 1 + max(int(ev.y.max()) for ev in (left_events, right_events))
                notes.append(f"frame size {width}x{height} taken from the largest event coordinates "
                             "(pass --width/--height to set it)")
        self._events = {}
        for name, ev in (("left", left_events), ("right", right_events)):
            inside = (ev.x >= 0) & (ev.x < width) & (ev.y >= 0) & (ev.y < height)
            dropped = int(inside.size - np.count_nonzero(inside))
            if dropped:
                notes.append(f"dropped {dropped:,} {name} events outside the {width}x{height} frame")
                ev = Events(ev.x[inside], ev.y[inside], ev.t[inside], ev.p[inside])
            self._events[name] = Events(ev.x, ev.y, ev.t, ev.p, width=width, height=height)
        notes.append("plain event files are used as given (assumed rectified)")
        super().__init__(path=path, kind="plain", height=int(height), width=int(width), notes=notes)

    def time_range(self) -> tuple[float, float]:
        return (max(float(ev.t[0]) for ev in self._events.values()),
                min(float(ev.t[-1]) for ev in self._events.values()))

    def read(self, camera: str, t_start: float, t_end: float) -> Events:
        return self._events[camera].window(t_start, t_end)


# ---------------------------------------------------------------------------------------------
# Opening, planning and iterating


def open_recording(path: str | os.PathLike, *, gt: str | os.PathLike | None = None,
                   right: str | os.PathLike | None = None, calib: str | os.PathLike | None = None,
                   width: int | None = None, height: int | None = None,
                   focal_baseline: float | None = None) -> RecordingSource:
    """Open a recording of any supported kind (see the module docstring).

    Args:
        path: MVSEC ``*_data.hdf5``, DSEC sequence folder, or plain event file.
        gt: MVSEC ``*_gt.hdf5`` depth (MVSEC only).
        right: the right camera's event file when ``path`` holds only the left camera (plain files).
        calib: MVSEC rectification maps for raw files (folder, .npz or .yaml).
        width, height: frame size for MVSEC files without GT and plain files.
        focal_baseline: fB in px*m, overriding what the recording says (MVSEC: its attributes or
            scene name; DSEC: its calibration); plain files have none of their own.

    Raises:
        FileNotFoundError: a file is missing. ValueError: unreadable, damaged or inconsistent input.
    """

    path = Path(path)
    for size in (width, height):
        if size is not None and not 1 <= size <= MAX_FRAME_PX:
            raise ValueError(f"--width and --height must be between 1 and {MAX_FRAME_PX} px, got {width}x{height}")
    if focal_baseline is not None and not focal_baseline > 0:
        raise ValueError(f"--focal-baseline must be > 0, got {focal_baseline}")
    if not path.exists():
        raise FileNotFoundError(f"recording not found: {path}")
    try:
        source = _open_source(path, gt=gt, right=right, calib=calib, width=width, height=height,
                              focal_baseline=focal_baseline)
    except OSError as exc:
        if isinstance(exc, (FileNotFoundError, PermissionError)):
            raise
        # h5py reports truncated or damaged files as OSError without naming them.
        raise ValueError(f"cannot read {path} (truncated or damaged file?): {exc}") from None
    source.focal_baseline = focal_baseline or source.focal_baseline
    return source


def _open_source(path: Path, *, gt, right, calib, width, height, focal_baseline) -> RecordingSource:
    import h5py

    if path.is_dir():
        if gt is not None or right is not None or calib is not None:
            raise ValueError("--gt, --right and --calib are not supported for DSEC sequence folders")
        return DsecSource(path)
    is_mvsec = False
    if path.suffix.lower() in (".h5", ".hdf5"):
        if not h5py.is_hdf5(path):
            raise ValueError(f"not an HDF5 file: {path}")
        with h5py.File(path, "r") as h5:
            is_mvsec = "davis" in h5
            if "format_version" in h5.attrs and "left" in h5 and "disparity" in h5:
                raise ValueError(f"{path} is a preprocessed cache (stereo preprocess output), not a recording; "
                                 f"score a model on it with stereo eval stereo")
    if is_mvsec:
        if right is not None:
            raise ValueError("--right is for plain event files; an MVSEC file holds both cameras")
        # fB goes in here: with GT, the source needs it to turn depth into disparity.
        return MvsecSource(path, gt=None if gt is None else Path(gt), calib=calib, width=width, height=height,
                           focal_baseline=focal_baseline)
    if gt is not None or calib is not None:
        raise ValueError(f"--gt and --calib are supported for MVSEC recordings only; {path} is a plain event file")
    return PlainSource(path, right=None if right is None else Path(right), width=width, height=height)


def plan_windows(source: RecordingSource, *, window_ms: float, every_ms: float) -> WindowPlan:
    """Window ends: the GT timestamps when the source has GT, else every ``every_ms`` ms.

    Only windows fully inside both cameras' events are kept (as ``stereo preprocess`` does); the
    first window without GT ends ``window_ms`` after the start of the events.

    Raises:
        ValueError: no window fits in the recording.
    """
    if not window_ms > 0 or not every_ms > 0:
        raise ValueError(f"window and --every-ms must be > 0 ms, got {window_ms} and {every_ms}")
    window_s = window_ms / 1000.0
    t_lo, t_hi = source.time_range()
    ts = source.gt_timestamps
    if ts is not None and ts.size == 0:
        raise ValueError(f"the GT of {source.path.name} has no depth frames")
    if ts is not None:
        valid = np.flatnonzero((ts - window_s >= t_lo) & (ts <= t_hi))
        if valid.size == 0:
            raise ValueError(f"GT timestamps [{ts[0]:.3f}, {ts[-1]:.3f}] s do not overlap the events "
                             f"[{t_lo:.3f}, {t_hi:.3f}] s of {source.path.name} (with {window_ms:g} ms windows)")
        return WindowPlan(ends=ts[valid], gt_index=valid, skipped=int(ts.size - valid.size))
    count = int(np.floor((t_hi - t_lo - window_s) / (every_ms / 1000.0) + 1e-9)) + 1
    if t_hi - t_lo < window_s or count < 1:
        raise ValueError(f"{source.path.name} covers {1000 * max(t_hi - t_lo, 0):.1f} ms of events in both "
                         f"cameras, shorter than one {window_ms:g} ms window")
    return WindowPlan(ends=t_lo + window_s + np.arange(count) * (every_ms / 1000.0), gt_index=None, skipped=0)


def _chunks(ends: np.ndarray, window_s: float, max_windows: int) -> Iterator[tuple[int, int]]:
    """Consecutive index ranges whose events span at most max(CHUNK_SECONDS, one window)."""
    start = 0
    while start < len(ends):
        stop = start + 1
        while (stop < len(ends) and stop - start < max_windows
               and ends[stop] - (ends[start] - window_s) <= max(CHUNK_SECONDS, window_s)):
            stop += 1
        yield start, stop
        start = stop


def iter_windows(source: RecordingSource, plan: WindowPlan, *, window_ms: float,
                 max_windows: int = 32) -> Iterator[StereoWindow]:
    """Rectified windows ``(t_end - window, t_end]`` of both cameras, in order.

    Events are read once per chunk of consecutive windows (at most ``max_windows`` windows and
    about :data:`CHUNK_SECONDS` of events), so memory does not grow with the recording.
    """
    from datasets.rectify import rectify_events

    window_s = window_ms / 1000.0
    for start, stop in _chunks(plan.ends, window_s, max_windows):
        ends = plan.ends[start:stop]
        events = {}
        for cam in CAMERAS:
            ev = source.read(cam, float(ends[0] - window_s), float(ends[-1]))
            events[cam] = rectify_events(ev, source.rectification, cam) if source.rectification else ev
        gt = None
        if plan.gt_index is not None:
            k0, k1 = int(plan.gt_index[start]), int(plan.gt_index[stop - 1]) + 1
            gt = source.gt_disparity(k0, k1)[plan.gt_index[start:stop] - k0]
        for j, t_end in enumerate(ends):
            t_end = float(t_end)
            yield StereoWindow(index=start + j, t_end=t_end, left=events["left"].window(t_end - window_s, t_end),
                               right=events["right"].window(t_end - window_s, t_end),
                               gt_disparity=None if gt is None else gt[j])
