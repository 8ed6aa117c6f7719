"""Stream a synthetic recording into the two MVSEC-layout HDF5 files.

``*_data.hdf5``: ``davis/{left,right}/events`` float64 (N, 4) [x, y, t, p] sorted by t,
``davis/{left,right}/image_raw`` uint8 (M, H, W) with ``image_raw_ts`` float64 (M,) and
``image_raw_event_inds`` int64 (M,) (index of the first event at or after each frame time,
``searchsorted(t, ts, 'left')`` clipped to N - 1). ``*_gt.hdf5``:
``davis/{left,right}/depth_image_rect`` float32 (K, H, W) metres, NaN = no depth, with
``depth_image_rect_ts``; ``davis/left/depth_image_raw`` (+ ``_ts``) is the same data (the
simulated camera has no distortion).
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np

CAMERAS = ("left", "right")
_COMPRESSION = dict(compression="gzip", compression_opts=1, shuffle=True)


class RecordingWriter:
    """Appends events, frames and depth maps to open HDF5 files; call :meth:`close` at the end.

    Args:
        data_path, gt_path: the files to write (normally temporary names).
        height, width: image size (px).
        attrs: root attributes written to both files (values: str, bool, int, float).
        flush_events: buffered events per camera before they are appended to the file.
    """

    def __init__(self, data_path: Path, gt_path: Path, *, height: int, width: int, attrs: dict,
                 flush_events: int = 200_000) -> None:
        self.data = h5py.File(data_path, "w")
        self.gt = h5py.File(gt_path, "w")
        self.flush_events = flush_events
        for handle in (self.data, self.gt):
            for key, value in attrs.items():
                handle.attrs[key] = json.dumps(value) if isinstance(value, (dict, list)) else value
        self.events, self.images, self.image_ts, self.depth, self.depth_ts = {}, {}, {}, {}, {}
        self.buffer: dict[str, list[np.ndarray]] = {}
        self.buffered: dict[str, int] = {}
        self.written: dict[str, int] = {}
        self.first_time: dict[str, float | None] = {}
        self.last_time: dict[str, float | None] = {}
        for camera in CAMERAS:
            group = self.data.require_group(f"davis/{camera}")
            self.events[camera] = group.create_dataset("events", shape=(0, 4), maxshape=(None, 4),
                                                       dtype=np.float64, chunks=(32768, 4), **_COMPRESSION)
            self.images[camera] = group.create_dataset("image_raw", shape=(0, height, width),
                                                       maxshape=(None, height, width), dtype=np.uint8,
                                                       chunks=(1, height, width), **_COMPRESSION)
            self.image_ts[camera] = []
            gt_group = self.gt.require_group(f"davis/{camera}")
            names = ("depth_image_rect", "depth_image_raw") if camera == "left" else ("depth_image_rect",)
            self.depth[camera] = [gt_group.create_dataset(name, shape=(0, height, width),
                                                          maxshape=(None, height, width), dtype=np.float32,
                                                          chunks=(1, height, width), **_COMPRESSION)
                                  for name in names]
            self.depth_ts[camera] = []
            self.buffer[camera], self.buffered[camera], self.written[camera] = [], 0, 0
            self.first_time[camera] = self.last_time[camera] = None
        self.image_event_index: dict[str, list[int]] = {camera: [] for camera in CAMERAS}
        self.newest: dict[str, np.ndarray] = {camera: np.empty((0, 4)) for camera in CAMERAS}

    @property
    def num_events(self) -> dict[str, int]:
        """Events per camera so far."""
        return {camera: self.written[camera] + self.buffered[camera] for camera in CAMERAS}

    def add_events(self, camera: str, events: np.ndarray) -> None:
        """Append float64 (N, 4) events whose times are not before any event already added."""
        if len(events) == 0:
            return
        if self.last_time[camera] is not None and events[0, 2] < self.last_time[camera]:
            raise ValueError("events must be added in time order")
        if self.first_time[camera] is None:
            self.first_time[camera] = float(events[0, 2])
        self.last_time[camera] = float(events[-1, 2])
        self.buffer[camera].append(events)
        self.newest[camera] = events
        self.buffered[camera] += len(events)
        if self.buffered[camera] >= self.flush_events:
            self._flush(camera)

    def _flush(self, camera: str) -> None:
        if not self.buffer[camera]:
            return
        block = np.concatenate(self.buffer[camera])
        dataset = self.events[camera]
        dataset.resize(self.written[camera] + len(block), axis=0)
        dataset[self.written[camera]:] = block
        self.written[camera] += len(block)
        self.buffer[camera], self.buffered[camera] = [], 0

    def add_image(self, camera: str, time_s: float, image: np.ndarray) -> None:
        """Append a uint8 (H, W) frame taken at ``time_s``.

        Call it after adding every event up to ``time_s`` and before any later one; the events at
        or after ``time_s`` added so far must all be in the newest block (as when each block
        holds the events of one render interval ending at ``time_s``).
        """
        newest = self.newest[camera]  # only the newest block can hold events at or after time_s
        before = self.num_events[camera] - len(newest) + int(np.searchsorted(newest[:, 2], time_s, side="left"))
        self.image_event_index[camera].append(before)
        dataset = self.images[camera]
        dataset.resize(len(dataset) + 1, axis=0)
        dataset[-1] = image
        self.image_ts[camera].append(time_s)

    def add_depth(self, camera: str, time_s: float, depth: np.ndarray) -> None:
        """Append a float32 (H, W) depth map (m, NaN = none) for ``time_s``."""
        for dataset in self.depth[camera]:
            dataset.resize(len(dataset) + 1, axis=0)
            dataset[-1] = depth
        self.depth_ts[camera].append(time_s)

    def close(self) -> None:
        """Flush, keep only depth frames inside the event time range, write timestamps, close."""
        for camera in CAMERAS:
            self._flush(camera)
            group = self.data[f"davis/{camera}"]
            count = max(self.written[camera] - 1, 0)
            group.create_dataset("image_raw_ts", data=np.asarray(self.image_ts[camera], dtype=np.float64))
            index = np.minimum(np.asarray(self.image_event_index[camera], dtype=np.int64), count)
            group.create_dataset("image_raw_event_inds", data=index)
        # A depth frame is kept only when a full 50 ms window of both cameras' events precedes it.
        first = max((t for t in self.first_time.values() if t is not None), default=np.inf) + 0.05
        last = min((t for t in self.last_time.values() if t is not None), default=-np.inf)
        for camera in CAMERAS:
            ts = np.asarray(self.depth_ts[camera], dtype=np.float64)
            keep = np.flatnonzero((ts >= first) & (ts <= last))  # contiguous: ts is sorted
            lo, hi = (int(keep[0]), int(keep[-1]) + 1) if len(keep) else (0, 0)
            for dataset in self.depth[camera]:
                if (lo, hi) != (0, len(dataset)):
                    kept = dataset[lo:hi]
                    dataset.resize(hi - lo, axis=0)
                    if hi > lo:
                        dataset[...] = kept
                self.gt.create_dataset(f"{dataset.name}_ts", data=ts[lo:hi])
        self.data.close()
        self.gt.close()

    def abort(self) -> None:
        """Close the files without finishing them (the caller deletes them)."""
        self.data.close()
        self.gt.close()
