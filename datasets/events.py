"""An immutable container for one camera's events, and time windows found by binary search."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def normalize_polarity(p: np.ndarray) -> np.ndarray:
    """Polarity as int8 in {-1, +1} from {-1, +1}, {0, 1} or bool (``p > 0`` is ON); a new array."""
    p = np.asarray(p)
    return np.where(p > 0, 1, -1).astype(np.int8)


def _readonly(a: np.ndarray) -> np.ndarray:
    view = a.view()
    view.flags.writeable = False
    return view


def window_bounds(t: np.ndarray, t_start: float, t_end: float) -> tuple[int, int]:
    """Index range ``[i0, i1)`` of the events with ``t_start < t <= t_end`` in sorted ``t``.

    Args:
        t: (N,) sorted timestamps.
        t_start, t_end: window bounds in the unit of ``t``.
    """
    return int(np.searchsorted(t, t_start, side="right")), int(np.searchsorted(t, t_end, side="right"))


@dataclass(frozen=True)
class Events:
    """Events of one camera, sorted by time.

    Attributes:
        x, y: (N,) int pixel coordinates (int16 unless they do not fit).
        t: (N,) float64 timestamps in seconds (absolute, e.g. Unix time; never float32).
        p: (N,) int8 polarity in {-1, +1}.
        width, height: sensor size in pixels, or None when unknown.

    The arrays are read-only views: building an ``Events`` never copies or alters arrays that
    already have the right dtype, and nothing can modify them through it. Use
    :meth:`from_arrays` to convert other dtypes and polarity encodings.
    """

    x: np.ndarray
    y: np.ndarray
    t: np.ndarray
    p: np.ndarray
    width: int | None = None
    height: int | None = None

    def __post_init__(self) -> None:
        lengths = [len(a) for a in (self.x, self.y, self.t, self.p)]
        if len(set(lengths)) != 1:
            raise ValueError(f"x, y, t, p must have the same length, got {lengths}")
        if self.t.dtype != np.float64:
            raise ValueError(f"t must be float64 seconds, got {self.t.dtype}")
        if self.p.dtype != np.int8:
            raise ValueError(f"p must be int8 in {{-1, +1}}, got {self.p.dtype}; use Events.from_arrays")
        for name in ("x", "y", "t", "p"):
            object.__setattr__(self, name, _readonly(getattr(self, name)))

    @classmethod
    def from_arrays(cls, x, y, t, p, *, time_scale: float = 1.0, width: int | None = None,
                    height: int | None = None) -> Events:
        """Build from any dtypes; ``t * time_scale`` must be seconds (1e-6 for microseconds).

        Copies only what needs converting; the caller's arrays are never modified.
        """
        x, y = np.asarray(x), np.asarray(y)
        max_xy = max(int(x.max(initial=0)), int(y.max(initial=0)))
        xy_dtype = np.int16 if max_xy < 2**15 else np.int32
        t = np.asarray(t)
        t = t.astype(np.float64) * time_scale if time_scale != 1.0 else t.astype(np.float64, copy=False)
        p = np.asarray(p)
        p = p if p.dtype == np.int8 and bool(np.all(np.abs(p) == 1)) else normalize_polarity(p)
        return cls(x.astype(xy_dtype, copy=False), y.astype(xy_dtype, copy=False), t, p,
                   width=width, height=height)

    def __len__(self) -> int:
        return len(self.t)

    @property
    def duration(self) -> float:
        """Seconds from the first to the last event (0 for fewer than two events)."""
        return float(self.t[-1] - self.t[0]) if len(self) > 1 else 0.0

    def is_sorted(self) -> bool:
        """True when timestamps never decrease."""
        return bool(np.all(self.t[1:] >= self.t[:-1]))

    def check(self) -> Events:
        """Raise ``ValueError`` for unsorted timestamps or coordinates outside the sensor."""
        if not self.is_sorted():
            first = int(np.argmax(self.t[1:] < self.t[:-1])) + 1
            raise ValueError(f"event timestamps are not sorted (t decreases at index {first})")
        if len(self) and (self.width is not None and self.height is not None):
            if self.x.min() < 0 or self.y.min() < 0 or self.x.max() >= self.width or self.y.max() >= self.height:
                raise ValueError(f"event coordinates outside the {self.width}x{self.height} sensor")
        return self

    def slice(self, start: int, stop: int) -> Events:
        """Events ``[start, stop)`` by index (views, no copy)."""
        return Events(self.x[start:stop], self.y[start:stop], self.t[start:stop], self.p[start:stop],
                      width=self.width, height=self.height)

    def window(self, t_start: float, t_end: float) -> Events:
        """Events with ``t_start < t <= t_end`` (seconds), found by binary search (views)."""
        return self.slice(*window_bounds(self.t, t_start, t_end))
