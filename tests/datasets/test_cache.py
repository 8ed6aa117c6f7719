"""``stereo preprocess`` / preprocess_recording end to end, resume, and every bad input via the CLI."""

from __future__ import annotations

import os

import h5py
import numpy as np
import pytest

from datasets.cache import StereoCache, preprocess_recording
from datasets.events import Events
from datasets.mvsec import FOCAL_BASELINE
from datasets.rectify import identity, load_rectification, rectify_events
from datasets.representations import events_to_counts, events_to_sbt, events_to_voxel

H, W = 260, 346
T0 = 1.5e9
GT_TIMES = T0 + np.array([0.02, 0.06, 0.11, 0.16, 0.21, 0.26, 0.31, 0.40])  # first and last windows fall outside


def make_rows(n, seed):
    rng = np.random.default_rng(seed)
    rows = np.empty((n, 4))
    rows[:, 0], rows[:, 1] = rng.integers(0, W, n), rng.integers(0, H, n)
    rows[:, 2] = T0 + 0.005 + np.sort(rng.random(n)) * 0.33
    rows[:, 3] = rng.choice([-1.0, 1.0], n)
    return rows


def write_recording(folder, *, rectified=False, name="scene", n=30_000,
                    focal_baseline: float | None = FOCAL_BASELINE["indoor_flying"]):
    """A small MVSEC-layout pair; ``focal_baseline`` goes into the data file's attributes (None: none)."""
    data, gt = folder / f"{name}_data.hdf5", folder / f"{name}_gt.hdf5"
    with h5py.File(data, "w") as f:
        if rectified:
            f.attrs["rectified"] = True
        if focal_baseline is not None:
            f.attrs["focal_baseline"] = focal_baseline
        f["davis/left/events"] = make_rows(n, 0)
        f["davis/right/events"] = make_rows(n // 2, 1)
    rng = np.random.default_rng(2)
    depth = rng.uniform(0.5, 8.0, (len(GT_TIMES), H, W)).astype(np.float32)
    depth[:, :10] = np.nan
    depth[:, 10, :5] = 0.0
    depth[:, 11, :5] = -1.0
    with h5py.File(gt, "w") as f:
        f["davis/left/depth_image_rect"] = depth
        f["davis/left/depth_image_rect_ts"] = GT_TIMES
    return data, gt


def reference_tensor(rows, t_end, rect, cam, representation):
    win = rows[(rows[:, 2] > t_end - 0.05) & (rows[:, 2] <= t_end)]
    ev = rectify_events(Events.from_arrays(win[:, 0], win[:, 1], win[:, 2], win[:, 3]), rect, cam)
    if representation == "voxel":
        return events_to_voxel(ev.x, ev.y, ev.t, ev.p, 5, H, W), win, ev
    if representation == "sbt":
        return events_to_sbt(ev.x, ev.y, ev.t, ev.p, 5, H, W, t_start=t_end - 0.05, t_end=t_end), win, ev
    return events_to_counts(ev.x, ev.y, ev.p, H, W), win, ev


def warp_maps(path):
    """An npz of made-up rectification maps: a shear and a shift that drop some pixels."""
    ys, xs = np.mgrid[0:H, 0:W].astype(np.float32)
    maps = {"left_x_map": xs * 0.97 + 0.03 * ys + 4.3, "left_y_map": ys * 1.02 - 2.6,
            "right_x_map": xs * 1.01 - 3.7, "right_y_map": ys + 0.02 * xs + 1.4}
    np.savez(path, **maps)
    return path


@pytest.mark.parametrize("representation", ["voxel", "sbt", "count"])
@pytest.mark.parametrize("maps", ["mvsec", "warp"])
def test_cache_matches_reference(tmp_path, request, representation, maps):
    if maps == "mvsec":
        calib = request.getfixturevalue("shared_data") / "mvsec_calib" / "mvsec_indoor_flying_rect_maps.npz"
    else:  # runs without the shared data folder
        calib = warp_maps(tmp_path / "warp.npz")
    data, gt = write_recording(tmp_path, n=160_000)  # > 15,000 kept left events per window
    out = tmp_path / "c.h5"
    report = preprocess_recording(data, out, gt_path=gt, calib=calib, representation=representation,
                                  frames_per_batch=2)
    assert (report.frames, report.skipped_before, report.skipped_after) == (6, 1, 1)
    rect = load_rectification(calib)
    with h5py.File(data) as f, h5py.File(gt) as g, StereoCache(out) as cache:
        left, right = f["davis/left/events"][:], f["davis/right/events"][:]
        depth = g["davis/left/depth_image_rect"][:]
        assert len(cache) == 6 and cache.attrs["representation"] == representation
        assert cache.attrs["focal_baseline"] == FOCAL_BASELINE["indoor_flying"]
        assert cache.attrs["source_data_size"] == os.path.getsize(data)
        for i in range(len(cache)):
            s = cache[i]
            assert s.frame_index == i + 1 and s.timestamp == GT_TIMES[i + 1]
            ref_left, win, ev = reference_tensor(left, s.timestamp, rect, "left", representation)
            np.testing.assert_allclose(s.left, ref_left, atol=1e-6)
            np.testing.assert_allclose(s.right, reference_tensor(right, s.timestamp, rect, "right",
                                                                  representation)[0], atol=1e-6)
            with np.errstate(divide="ignore"):
                expected = (FOCAL_BASELINE["indoor_flying"] / depth[i + 1]).astype(np.float32)
            finite = np.isfinite(depth[i + 1]) & (depth[i + 1] > 0)
            np.testing.assert_allclose(s.disparity[finite], expected[finite], rtol=1e-6)
            assert np.isnan(s.disparity[~finite]).all()
            # The last 15,000 events that rectification keeps (DDES counts rectified events).
            mask = np.zeros((H, W), bool)
            mask[ev.y[-15_000:], ev.x[-15_000:]] = True
            assert np.array_equal(s.sparse_mask, mask) and len(ev) > 15_000 and len(win) - len(ev) > 100
    assert not list(tmp_path.glob(".*partial"))


def test_frames_of_changing_density_on_one_worker_equal_the_reference(tmp_path):
    # One worker thread reuses its grid, disparity and mask buffers and the chunk buffers frame
    # after frame (a dense window, sparse ones, an empty one): nothing may leak between frames.
    data, gt = write_recording(tmp_path, n=1_000)
    rng = np.random.default_rng(9)
    parts = []
    for t_lo, t_hi, n in ((0.005, 0.11, 160_000), (0.11, 0.21, 4_000), (0.26, 0.335, 3_000)):
        rows = np.empty((n, 4))
        rows[:, 0], rows[:, 1] = rng.integers(0, W, n), rng.integers(0, H, n)
        rows[:, 2] = T0 + t_lo + np.sort(rng.random(n)) * (t_hi - t_lo)
        rows[:, 3] = rng.choice([-1.0, 1.0], n)
        parts.append(rows)
    left = np.concatenate(parts)
    with h5py.File(data, "r+") as f:
        del f["davis/left/events"]
        f["davis/left/events"] = left
        right = f["davis/right/events"][:]
    with h5py.File(gt, "r+") as g:
        depth = g["davis/left/depth_image_rect"]
        depth[2, :200] = np.nan  # a frame whose disparity is mostly holes (encoded, not raw)
        depth = depth[:]
    out = tmp_path / "c.h5"
    preprocess_recording(data, out, gt_path=gt, calib=warp_maps(tmp_path / "warp.npz"), workers=1,
                         frames_per_batch=3)
    rect = load_rectification(tmp_path / "warp.npz")
    with StereoCache(out) as cache:
        counts = []
        for i in range(len(cache)):
            s = cache[i]
            ref, _, ev = reference_tensor(left, s.timestamp, rect, "left", "voxel")
            counts.append(len(ev))
            np.testing.assert_allclose(s.left, ref, atol=1e-6)
            np.testing.assert_allclose(s.right, reference_tensor(right, s.timestamp, rect, "right", "voxel")[0],
                                       atol=1e-6)
            mask = np.zeros((H, W), bool)
            mask[ev.y[-15_000:], ev.x[-15_000:]] = True
            assert np.array_equal(s.sparse_mask, mask)
            with np.errstate(divide="ignore"):
                expected = np.float32(FOCAL_BASELINE["indoor_flying"]) / depth[s.frame_index]
            expected[~(np.isfinite(depth[s.frame_index]) & (depth[s.frame_index] > 0))] = np.nan
            assert np.array_equal(s.disparity, expected, equal_nan=True)
    assert counts[0] > 60_000 and 0 < counts[2] < 3_000 and 0 in counts


def test_infinite_first_timestamp_and_float64_depth(tmp_path):
    # A stream starting at t = -inf leaves the window search without a rate to guess from (it
    # must still work); float64 GT depth is converted as numpy does (just above the float32 range
    # -> FLT_MAX, so a tiny finite disparity, not NaN).
    data, gt = write_recording(tmp_path, rectified=True)
    with h5py.File(data, "r+") as f:
        rows = f["davis/left/events"]
        row = rows[0]
        row[2] = -np.inf
        rows[0] = row
    with h5py.File(gt, "r+") as g:
        depth = g["davis/left/depth_image_rect"][:].astype(np.float64)
        depth[:, 50, 60] = 3.4028235e38
        del g["davis/left/depth_image_rect"]
        g["davis/left/depth_image_rect"] = depth
    report = preprocess_recording(data, tmp_path / "c.h5", gt_path=gt)
    assert report.frames == 6
    with StereoCache(tmp_path / "c.h5") as cache:
        got = cache[0].disparity
    with np.errstate(divide="ignore"):
        expected = FOCAL_BASELINE["indoor_flying"] / depth[1].astype(np.float32)
    assert np.isfinite(got[50, 60]) and got[50, 60] == np.float32(expected[50, 60])


def test_resume_after_interruption_equals_uninterrupted(tmp_path):
    data, gt = write_recording(tmp_path, rectified=True)
    whole = tmp_path / "whole.h5"
    preprocess_recording(data, whole, gt_path=gt, frames_per_batch=2)
    out = tmp_path / "resumed.h5"
    calls = []

    def interrupt(done, total):
        calls.append(done)
        if done >= 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        preprocess_recording(data, out, gt_path=gt, frames_per_batch=2, progress=interrupt)
    assert not out.exists() and (tmp_path / ".resumed.h5.partial").exists()
    with pytest.raises(ValueError, match="different settings"):
        preprocess_recording(data, out, gt_path=gt, num_bins=3, frames_per_batch=2)
    report = preprocess_recording(data, out, gt_path=gt, frames_per_batch=2)
    assert report.frames_resumed == 2 and not (tmp_path / ".resumed.h5.partial").exists()
    with StereoCache(whole) as a, StereoCache(out) as b:
        assert len(a) == len(b) == 6
        for i in range(6):
            for field in ("left", "right", "disparity", "sparse_mask"):
                assert np.array_equal(getattr(a[i], field), getattr(b[i], field), equal_nan=True)
    assert StereoCache(out).attrs["rectification"] == identity(H, W).description


def test_full_disk_keeps_the_frames_done_and_bad_data_does_not(tmp_path, monkeypatch):
    import errno

    import datasets.cache as cache_module

    data, gt = write_recording(tmp_path, rectified=True)
    out = tmp_path / "c.h5"
    real_job = cache_module._frame_job
    calls = []

    def disk_full_on_the_fifth_frame(*args, **kwargs):
        calls.append(1)
        if len(calls) == 5:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_job(*args, **kwargs)

    monkeypatch.setattr(cache_module, "_frame_job", disk_full_on_the_fifth_frame)
    with pytest.raises(OSError, match="No space left on device.*4 frames done are kept.*rerun the same command"):
        preprocess_recording(data, out, gt_path=gt, frames_per_batch=2, workers=1)
    monkeypatch.setattr(cache_module, "_frame_job", real_job)
    assert (tmp_path / ".c.h5.partial").exists() and not out.exists()
    assert preprocess_recording(data, out, gt_path=gt, frames_per_batch=2).frames_resumed == 4

    def bad_data(*args, **kwargs):
        raise ValueError("timestamps must be sorted")

    monkeypatch.setattr(cache_module, "_frame_job", bad_data)
    with pytest.raises(ValueError, match="sorted"):
        preprocess_recording(data, tmp_path / "d.h5", gt_path=gt, frames_per_batch=2)
    assert not (tmp_path / ".d.h5.partial").exists()  # a rerun would fail the same way: nothing kept


_KILL_AFTER_TWO_BATCHES = """
import os, signal, sys
from datasets.cache import preprocess_recording

def progress(done, total):
    if done >= 4:
        os.kill(os.getpid(), signal.SIGKILL)  # no cleanup at all, as from the OOM killer or kill -9

preprocess_recording(sys.argv[1], sys.argv[2], workers=1, frames_per_batch=2, progress=progress)
"""


def test_resume_after_sigkill(tmp_path):
    """A run killed outright leaves HDF5's 'open for writing' mark on the partial; the rerun clears it and resumes."""
    import subprocess
    import sys

    data, gt = write_recording(tmp_path, rectified=True)
    preprocess_recording(data, tmp_path / "whole.h5", gt_path=gt)
    out = tmp_path / "killed.h5"
    proc = subprocess.run([sys.executable, "-c", _KILL_AFTER_TWO_BATCHES, str(data), str(out)],
                          capture_output=True, text=True)
    assert proc.returncode == -9, proc.stderr
    partial = tmp_path / ".killed.h5.partial"
    assert partial.exists() and not out.exists()
    with pytest.raises(OSError, match="already open for write"):  # what HDF5 alone makes of it
        h5py.File(partial, "r").close()
    report = preprocess_recording(data, out, gt_path=gt, frames_per_batch=2)
    assert report.frames_resumed == 4 and report.frames == 6
    assert not partial.exists() and not (tmp_path / ".killed.h5.partial.lock").exists()
    with StereoCache(tmp_path / "whole.h5") as a, StereoCache(out) as b:
        for i in range(6):
            for field in ("left", "right", "disparity", "sparse_mask"):
                assert np.array_equal(getattr(a[i], field), getattr(b[i], field), equal_nan=True)


def test_second_writer_of_the_same_output_is_refused(tmp_path, run_cli):
    from datasets.h5recover import exclusive_writer

    data, gt = write_recording(tmp_path, rectified=True, n=2000)
    out = tmp_path / "c.h5"
    with exclusive_writer(tmp_path / ".c.h5.partial"):  # as a first run still writing holds it
        code, _, err = run_cli("preprocess", data, "--gt", gt, "--out", out)
    assert code != 0 and "another process" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()
    assert run_cli("preprocess", data, "--gt", gt, "--out", out)[0] == 0


def test_cli_preprocess_ok_and_refuses_existing(tmp_path, run_cli):
    data, gt = write_recording(tmp_path, rectified=True, name="syn")
    out = tmp_path / "c.h5"
    code, stdout, err = run_cli("preprocess", data, "--out", out, "--bins", 3)  # GT found by name
    assert code == 0, err
    assert "6 frames" in stdout and "1 before, 1 after" in stdout
    with StereoCache(out) as cache:
        assert cache[0].left.shape == (3, H, W) and cache.attrs["created_by"] == "stereo preprocess"
    code, _, err = run_cli("preprocess", data, "--out", out)
    assert code != 0 and "--overwrite" in err and len(err.strip().splitlines()) == 1
    assert run_cli("preprocess", data, "--out", out, "--overwrite")[0] == 0


def _bad(tmp_path, kind):
    """Build one bad input; returns (cli args, output path)."""
    out = tmp_path / "out.h5"
    data, gt = write_recording(tmp_path, rectified=True, n=2000)
    if kind == "missing file":
        return [tmp_path / "nope_data.hdf5", "--gt", gt, "--out", out], out
    if kind == "not hdf5":
        (tmp_path / "text_data.hdf5").write_text("not hdf5")
        return [tmp_path / "text_data.hdf5", "--gt", gt, "--out", out], out
    if kind == "missing datasets":
        with h5py.File(tmp_path / "empty_data.hdf5", "w") as f:
            f["davis/left/events"] = np.zeros((3, 4))
        return [tmp_path / "empty_data.hdf5", "--gt", gt, "--out", out], out
    if kind == "gt not overlapping":
        with h5py.File(gt, "a") as f:
            f["davis/left/depth_image_rect_ts"][...] = GT_TIMES + 100.0
        return [data, "--gt", gt, "--out", out], out
    if kind in ("unsorted", "outside"):
        rows = make_rows(2000, 0)
        if kind == "unsorted":
            rows[1000:1010, 2] = rows[1000:1010, 2][::-1]
        else:
            rows[1000, 1] = H + 3
        with h5py.File(data, "a") as f:
            f["davis/left/events"][...] = rows
        return [data, "--gt", gt, "--out", out], out
    if kind == "no fB":  # neither an attribute nor an MVSEC scene name: no silent guess
        data, gt = write_recording(tmp_path, rectified=True, name="rig", n=2000, focal_baseline=None)
        return [data, "--gt", gt, "--out", out], out
    if kind == "bad fB":
        return [data, "--gt", gt, "--out", out, "--focal-baseline", "-2"], out
    if kind == "gt without frames":
        with h5py.File(gt, "w") as f:
            f["davis/left/depth_image_rect"] = np.zeros((0, H, W), np.float32)
            f["davis/left/depth_image_rect_ts"] = np.zeros(0)
        return [data, "--gt", gt, "--out", out], out
    if kind == "raw without calib":
        raw, raw_gt = write_recording(tmp_path, name="raw", n=2000)
        return [raw, "--gt", raw_gt, "--out", out], out
    if kind == "missing folder":
        out = tmp_path / "no" / "such" / "out.h5"
        return [data, "--gt", gt, "--out", out], out
    if kind == "folder is a file":
        out = tmp_path / "c.h5" / "out.h5"
        (tmp_path / "c.h5").write_text("")
        return [data, "--gt", gt, "--out", out], out
    if kind == "unwritable /proc":
        return [data, "--gt", gt, "--out", "/proc/stereo_out.h5"], __import__("pathlib").Path("/proc/stereo_out.h5")
    if kind == "output is a folder":
        out = tmp_path / "taken"
        (out / "inside").mkdir(parents=True)
        return [data, "--gt", gt, "--out", out, "--overwrite"], out / "never"
    if kind == "truncated data file":
        data.write_bytes(data.read_bytes()[: data.stat().st_size // 2])
        return [data, "--gt", gt, "--out", out], out
    if kind == "negative workers":
        return [data, "--gt", gt, "--out", out, "--workers", "-1"], out
    if kind == "bad representation":
        return [data, "--gt", gt, "--out", out, "--representation", "frames"], out
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["missing file", "not hdf5", "missing datasets", "gt not overlapping", "unsorted",
                                  "outside", "no fB", "bad fB", "gt without frames", "raw without calib",
                                  "missing folder", "folder is a file",
                                  "unwritable /proc", "output is a folder", "negative workers", "truncated data file",
                                  "bad representation"])
def test_cli_bad_input(tmp_path, run_cli, kind):
    args, out = _bad(tmp_path, kind)
    code, _, err = run_cli("preprocess", *args)
    assert code != 0
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert not out.exists()
    assert not list(out.parent.glob(".*partial")) if out.parent.is_dir() and kind != "unwritable /proc" else True
    words = {"negative workers": "--workers", "no fB": "--focal-baseline", "gt without frames": "no GT depth frames",
             "output is a folder": "is a folder", "truncated data file": "cannot read"}
    assert words.get(kind, "") in err


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="root can write into a chmod read-only folder; /proc covers the unwritable case")
def test_cli_read_only_folder(tmp_path, run_cli):
    data, gt = write_recording(tmp_path, rectified=True, n=2000)
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        code, _, err = run_cli("preprocess", data, "--gt", gt, "--out", folder / "out.h5")
        assert code != 0 and "not writable" in err and "Traceback" not in err
        assert not list(folder.iterdir())
    finally:
        folder.chmod(0o700)


def test_stereo_cache_rejects_other_files(tmp_path):
    (tmp_path / "a.h5").write_text("x")
    with pytest.raises(ValueError, match="not a stereo cache"):
        StereoCache(tmp_path / "a.h5")
    with h5py.File(tmp_path / "b.h5", "w") as f:
        f["left"] = np.zeros((1, 1, 1, 1), np.float32)
    with pytest.raises(ValueError, match="not a stereo cache"):
        StereoCache(tmp_path / "b.h5")
    with pytest.raises(FileNotFoundError):
        StereoCache(tmp_path / "c.h5")



def test_focal_baseline_from_option_scene_name_or_attribute(tmp_path):
    """fB: --focal-baseline, else the files' attribute, else the MVSEC scene named by the data file."""
    data, gt = write_recording(tmp_path, rectified=True, name="rig", n=2000, focal_baseline=None)
    with pytest.raises(ValueError, match="--focal-baseline"):
        preprocess_recording(data, tmp_path / "a.h5", gt_path=gt)
    preprocess_recording(data, tmp_path / "a.h5", gt_path=gt, focal_baseline=30.0)
    outdoor, _ = write_recording(tmp_path, rectified=True, name="outdoor_day2", n=2000, focal_baseline=None)
    preprocess_recording(outdoor, tmp_path / "b.h5", gt_path=gt)  # the GT's own name names no scene
    with h5py.File(gt) as g:
        depth = g["davis/left/depth_image_rect"][2]
    for name, fb in (("a.h5", 30.0), ("b.h5", FOCAL_BASELINE["outdoor_day"])):
        with StereoCache(tmp_path / name) as cache:
            assert cache.attrs["focal_baseline"] == fb
            finite = np.isfinite(depth) & (depth > 0)
            np.testing.assert_allclose(cache[1].disparity[finite], (fb / depth[finite]).astype(np.float32), rtol=1e-6)
