"""MVSEC readers on small files written in the MVSEC layout, and depth <-> disparity."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datasets.mvsec import (
    FOCAL_BASELINE,
    EventStream,
    MvsecGroundTruth,
    MvsecRecording,
    depth_to_disparity,
    disparity_to_depth,
    focal_baseline_for,
)


class CountingDataset:
    """Wraps an array and counts the rows read, to prove the reader stays lazy."""

    def __init__(self, array):
        self.array, self.rows_read, self.reads = array, 0, 0
        self.shape = array.shape

    def __getitem__(self, key):
        out = self.array[key]
        self.reads += 1
        self.rows_read += np.asarray(out).reshape(-1, 4).shape[0] if np.ndim(out) == 2 else np.size(out)
        return out


def random_rows(n, seed=0, t0=1.5e9):
    rng = np.random.default_rng(seed)
    rows = np.empty((n, 4))
    rows[:, 0], rows[:, 1] = rng.integers(0, 346, n), rng.integers(0, 260, n)
    rows[:, 2] = t0 + np.sort(rng.integers(0, 2_000_000, n)) * 1e-6  # repeated timestamps included
    rows[:, 3] = rng.choice([-1.0, 1.0], n)
    return rows


def test_search_and_window_equal_brute_force_and_stay_lazy():
    rows = random_rows(200_000)
    ds = CountingDataset(rows)
    stream = EventStream(ds, name="test")
    rng = np.random.default_rng(1)
    for _ in range(30):
        t_end = 1.5e9 + rng.uniform(-0.1, 2.1)
        t_start = t_end - 0.05
        ds.rows_read = 0
        ev = stream.window(t_start, t_end)
        mask = (rows[:, 2] > t_start) & (rows[:, 2] <= t_end)
        assert np.array_equal(ev.t, rows[mask, 2]) and np.array_equal(ev.x, rows[mask, 0])
        assert ds.rows_read < mask.sum() + 3 * 4096 + 100  # never the whole recording
    for value in (rows[0, 2], rows[-1, 2], rows[1000, 2], 0.0, 2e9):
        assert stream.search(value) == np.searchsorted(rows[:, 2], value, side="right")


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**31), st.integers(-50_000, 250_000), st.booleans())
def test_search_near_a_guess_equals_brute_force(seed, near, burst):
    # Guesses anywhere (outside the stream too), a burst, repeated timestamps.
    rng = np.random.default_rng(seed)
    rows = random_rows(100_000, seed=seed % 7)
    if burst:
        rows[40_000:60_000, 2] = rows[40_000, 2]  # 20,000 events at one instant
    stream = EventStream(CountingDataset(rows), name="test")
    for value in (rows[rng.integers(0, 100_000), 2], rows[0, 2], rows[-1, 2], rows[50_000, 2], 0.0, 2e9,
                  rows[rng.integers(0, 100_000), 2] + 1e-7):
        expected = np.searchsorted(rows[:, 2], value, side="right")
        assert stream.search(value, near=near) == expected
        lo = int(rng.integers(0, expected + 1))
        assert stream.search(value, lo=lo, near=near) == expected


def test_search_near_a_good_guess_reads_little():
    rows = random_rows(2_000_000)
    ds = CountingDataset(rows)
    stream = EventStream(ds, name="test")
    value = rows[1_234_567, 2]
    expected = int(np.searchsorted(rows[:, 2], value, side="right"))
    stream.search(value, near=expected + 100)
    near_reads = ds.reads
    ds.reads = 0
    stream._cache.clear()
    assert stream.search(value) == expected
    assert near_reads <= 4 < ds.reads


def test_reader_checks_unsorted_and_outside():
    rows = random_rows(1000)
    rows[500, 2] = rows[0, 2] - 1
    stream = EventStream(rows, name="cam")
    with pytest.raises(ValueError, match="not sorted"):
        stream.read_rows(0, 1000)
    rows = random_rows(1000)
    rows[10, 0] = 346
    with pytest.raises(ValueError, match="outside"):
        EventStream(rows, name="cam").read_rows(0, 1000)


def write_pair(tmp_path, rows_left, rows_right, depth, depth_ts, *, name="indoor_flying1"):
    data, gt = tmp_path / f"{name}_data.hdf5", tmp_path / f"{name}_gt.hdf5"
    with h5py.File(data, "w") as f:
        f["davis/left/events"] = rows_left
        f["davis/right/events"] = rows_right
    with h5py.File(gt, "w") as f:
        f["davis/left/depth_image_rect"] = depth
        f["davis/left/depth_image_rect_ts"] = depth_ts
    return data, gt


def test_recording_and_gt_readers(tmp_path):
    rows = random_rows(5000)
    depth = np.full((3, 260, 346), 2.0, np.float32)
    data, gt = write_pair(tmp_path, rows, rows[::2], depth, 1.5e9 + np.array([0.5, 1.0, 1.5]))
    with MvsecRecording(data) as rec, MvsecGroundTruth(gt) as g:
        assert not rec.rectified and len(rec.left) == 5000 and len(rec.right) == 2500
        assert rec.left.t_first == rows[0, 2] and rec.right.t_last == rows[-2 if len(rows) % 2 == 0 else -1, 2]
        ev = rec.left.window(1.5e9 + 0.45, 1.5e9 + 0.5)
        assert ev.t.dtype == np.float64 and ev.t.min() > 1.5e9 + 0.45
        assert len(g) == 3 and g.focal_baseline == FOCAL_BASELINE["indoor_flying"]
        assert g.depth_frames(1, 3).shape == (2, 260, 346)


def test_reader_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        MvsecRecording(tmp_path / "missing_data.hdf5")
    (tmp_path / "text_data.hdf5").write_text("hello")
    with pytest.raises(ValueError, match="not an HDF5"):
        MvsecRecording(tmp_path / "text_data.hdf5")
    with h5py.File(tmp_path / "empty_data.hdf5", "w") as f:
        f["davis/left/events"] = np.zeros((2, 4))
    with pytest.raises(ValueError, match="davis/right/events"):
        MvsecRecording(tmp_path / "empty_data.hdf5")
    with h5py.File(tmp_path / "x_gt.hdf5", "w") as f:
        f["davis/left/depth_image_rect"] = np.zeros((2, 4, 4), np.float32)
        f["davis/left/depth_image_rect_ts"] = np.array([2.0, 1.0])
    with pytest.raises(ValueError, match="not sorted"):
        MvsecGroundTruth(tmp_path / "x_gt.hdf5")


def test_disparity_kernel_equals_numpy():
    from datasets.mvsec import depth_to_disparity, disparity_into

    rng = np.random.default_rng(4)
    depth = rng.uniform(0.2, 40.0, 5000).astype(np.float32)
    depth[rng.random(5000) < 0.3] = np.nan
    depth[:6] = [0.0, -0.0, -2.0, np.inf, -np.inf, np.float32(1e-30)]
    out = np.full(5000, 7.0, np.float32)
    invalid = disparity_into(depth, 19.941772, out)
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = np.float32(19.941772) / depth  # the formula in numpy, float32 throughout
    expected[~(np.isfinite(depth) & (depth > 0))] = np.nan
    assert np.array_equal(depth_to_disparity(depth.reshape(50, 100), 19.941772).reshape(-1), expected, equal_nan=True)
    assert np.array_equal(out, expected, equal_nan=True)  # bit for bit, NaN where invalid
    assert invalid == np.count_nonzero(np.isnan(expected))


def test_depth_disparity_round_trip():
    fb = FOCAL_BASELINE["indoor_flying"]
    depth = np.array([[1.0, 2.0, np.nan], [0.0, -1.0, np.inf]], np.float32)
    disp = depth_to_disparity(depth, fb)
    assert disp[0, 0] == pytest.approx(19.941772) and disp[0, 1] == pytest.approx(9.970886)
    assert np.isnan(disp[0, 2]) and np.isnan(disp[1]).all()
    np.testing.assert_allclose(disparity_to_depth(disp, fb)[0, :2], [1.0, 2.0], rtol=1e-6)
    assert focal_baseline_for("outdoor_day2_data.hdf5") == 19.635287
    assert focal_baseline_for("outdoor_night1_gt.hdf5") == 19.651191
    assert focal_baseline_for("scene_gt.hdf5") is None
