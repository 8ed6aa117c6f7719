"""DSEC events.h5 windows (Blosc/ZSTD via hdf5plugin), rectify maps and disparity PNGs."""

from __future__ import annotations

import h5py
import hdf5plugin
import numpy as np
import pytest

from datasets.dsec import DsecEvents, dsec_rectification, read_disparity_png, write_disparity_png


def write_dsec(path, t_us, *, t_offset=1_600_000_000_000_000):
    n = len(t_us)
    rng = np.random.default_rng(0)
    comp = hdf5plugin.Blosc(cname="zstd", clevel=1)
    with h5py.File(path, "w") as f:
        f.create_dataset("events/x", data=rng.integers(0, 640, n).astype(np.uint16), **comp)
        f.create_dataset("events/y", data=rng.integers(0, 480, n).astype(np.uint16), **comp)
        f.create_dataset("events/t", data=t_us.astype(np.uint32), **comp)
        f.create_dataset("events/p", data=rng.integers(0, 2, n).astype(np.uint8), **comp)
        last_ms = int(t_us[-1] // 1000) + 1
        f["ms_to_idx"] = np.searchsorted(t_us, np.arange(last_ms + 1) * 1000, side="left").astype(np.uint64)
        f["t_offset"] = np.int64(t_offset)


def test_windows_equal_brute_force(tmp_path):
    t_us = np.sort(np.random.default_rng(1).integers(0, 200_000, 50_000))
    write_dsec(tmp_path / "events.h5", t_us)
    with DsecEvents(tmp_path / "events.h5") as ev:
        for start, end in [(0, 50_000), (12_345, 62_345), (-5, 10), (199_000, 250_000), (1000, 1000)]:
            i0, i1 = ev.bounds_us(start, end)
            assert np.array_equal(np.arange(i0, i1), np.flatnonzero((t_us > start) & (t_us <= end)))
        w = ev.window_us(1000, 2000)
        assert np.allclose(w.t, (t_us[(t_us > 1000) & (t_us <= 2000)] + ev.t_offset_us) * 1e-6)
        assert set(np.unique(w.p)) <= {-1, 1}


def test_rectify_map(tmp_path):
    ys, xs = np.mgrid[0:480, 0:640].astype(np.float32)
    for cam in ("l", "r"):
        with h5py.File(tmp_path / f"{cam}.h5", "w") as f:
            f["rectify_map"] = np.stack([xs + 0.6, ys], axis=-1)
    rect = dsec_rectification(tmp_path / "l.h5", tmp_path / "r.h5")
    assert rect.left[:3].tolist() == [1, 2, 3] and rect.left[639] == -1


def test_disparity_png_round_trip(tmp_path):
    disp = np.array([[0.0, 1.0, 36.25], [np.nan, 255.99, 1 / 256]], np.float32)
    write_disparity_png(tmp_path / "d.png", disp)
    back = read_disparity_png(tmp_path / "d.png")
    assert np.isnan(back[0, 0]) and np.isnan(back[1, 0])
    np.testing.assert_allclose(back[[0, 0, 1, 1], [1, 2, 1, 2]], [1.0, 36.25, 256 * 255.99 // 1 / 256, 1 / 256],
                               atol=1 / 512)
    assert not list(tmp_path.glob(".*partial"))
    with pytest.raises(FileNotFoundError):
        read_disparity_png(tmp_path / "none.png")


def test_missing_datasets(tmp_path):
    with h5py.File(tmp_path / "e.h5", "w") as f:
        f["events/x"] = np.zeros(1)
    with pytest.raises(ValueError, match="missing"):
        DsecEvents(tmp_path / "e.h5")


def test_read_event_file_on_a_dsec_events_file_gives_absolute_seconds(tmp_path):
    from datasets.files import read_event_file

    t_us = np.sort(np.random.default_rng(2).integers(0, 100_000, 5_000))
    write_dsec(tmp_path / "events.h5", t_us)
    ev = read_event_file(tmp_path / "events.h5")
    with DsecEvents(tmp_path / "events.h5") as dsec:
        ref = dsec.window_us(-1, int(t_us[-1]))
    assert len(ev) == len(ref) == len(t_us)
    np.testing.assert_array_equal(ev.t, ref.t)
    assert ev.t[0] == pytest.approx(1_600_000_000.0 + t_us[0] * 1e-6)
    np.testing.assert_array_equal(ev.x, ref.x)
    np.testing.assert_array_equal(ev.p, ref.p)
