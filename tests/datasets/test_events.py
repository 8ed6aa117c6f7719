"""Events container and window bounds by binary search."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datasets.events import Events, normalize_polarity, window_bounds


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 20), max_size=50), st.integers(-2, 22), st.integers(0, 10))
def test_window_bounds_equal_brute_force_mask(times, start, length):
    t = np.sort(np.array(times, dtype=np.float64)) / 10.0
    t_start, t_end = start / 10.0, (start + length) / 10.0
    i0, i1 = window_bounds(t, t_start, t_end)
    mask = (t > t_start) & (t <= t_end)
    assert np.array_equal(np.flatnonzero(mask), np.arange(i0, i1))


def test_from_arrays_converts_without_touching_inputs():
    x, y = np.array([1, 2], np.uint16), np.array([3, 4], np.uint16)
    t_us, p = np.array([10, 20], np.int64), np.array([0, 1], np.uint8)
    ev = Events.from_arrays(x, y, t_us, p, time_scale=1e-6, width=5, height=5)
    assert ev.t.dtype == np.float64 and np.allclose(ev.t, [1e-5, 2e-5])
    assert ev.p.tolist() == [-1, 1] and ev.p.dtype == np.int8
    assert p.tolist() == [0, 1] and t_us.tolist() == [10, 20]
    with pytest.raises(ValueError):
        ev.x[0] = 7  # read-only views


def test_events_never_mutate_callers_arrays():
    t = np.array([0.0, 1.0, 2.0])
    ev = Events(np.zeros(3, np.int16), np.zeros(3, np.int16), t, np.ones(3, np.int8))
    assert t.flags.writeable  # the caller's array stays writable; only the view is locked
    win = ev.window(0.0, 1.5)
    assert win.t.tolist() == [1.0] and len(ev) == 3


def test_validation():
    with pytest.raises(ValueError, match="float64"):
        Events(np.zeros(1, np.int16), np.zeros(1, np.int16), np.zeros(1, np.float32), np.ones(1, np.int8))
    with pytest.raises(ValueError, match="same length"):
        Events(np.zeros(2, np.int16), np.zeros(1, np.int16), np.zeros(1), np.ones(1, np.int8))
    unsorted = Events.from_arrays([0, 0], [0, 0], [1.0, 0.5], [1, 1])
    with pytest.raises(ValueError, match="not sorted"):
        unsorted.check()
    outside = Events.from_arrays([4], [0], [1.0], [1], width=4, height=4)
    with pytest.raises(ValueError, match="outside"):
        outside.check()


def test_normalize_polarity_encodings():
    assert normalize_polarity(np.array([-1, 1])).tolist() == [-1, 1]
    assert normalize_polarity(np.array([0, 1], np.uint8)).tolist() == [-1, 1]
    assert normalize_polarity(np.array([False, True])).tolist() == [-1, 1]
