"""`stereo infer`: outputs per window, agreement with `stereo eval stereo`, every recording kind, bad inputs."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import h5py
import numpy as np
import pytest
import torch

from datasets.dsec import read_disparity_png

FB = 19.941772


def write_tiny_checkpoint(path: Path, **data) -> Path:
    """A tiny untrained stereo checkpoint saved exactly as `stereo train stereo` saves one."""
    from search.checkpoint import save_checkpoint
    from search.named_genotypes import get_genotype
    from stereo.network import SpikingStereoNet, StereoNetConfig

    torch.manual_seed(0)
    cfg = StereoNetConfig(in_channels=5, max_disparity=12, timesteps=2, feature_filter_multiplier=2,
                          matching_filter_multiplier=2)
    genotype = get_genotype("spikedhs_mvsec")
    settings = {"representation": "voxel", "num_bins": 5, "window_ms": 50.0, "height": 260, "width": 346,
                "focal_baseline": FB, **data}
    model = SpikingStereoNet(genotype, cfg)
    for module in model.modules():
        # Untrained BN statistics keep every neuron silent and the output a constant 5.5 px; a small
        # running variance makes neurons fire, so that the output depends on the input.
        if isinstance(module, (torch.nn.BatchNorm2d, torch.nn.BatchNorm3d)):
            module.running_var.fill_(0.01)
    save_checkpoint(path, model=model, epoch=1, config={}, genotype=genotype.to_dict(), kind="train-stereo",
                    extra={"network": cfg.to_dict(), "data": settings})
    return path


def random_rows(n: int, *, t0: float, t1: float, width: int, height: int, seed: int) -> np.ndarray:
    """(n, 4) float64 MVSEC rows x, y, t, p sorted by t."""
    rng = np.random.default_rng(seed)
    return np.stack([rng.integers(0, width, n), rng.integers(0, height, n), np.sort(rng.uniform(t0, t1, n)),
                     rng.choice([-1.0, 1.0], n)], axis=1).astype(np.float64)


def write_mvsec(path: Path, cameras: dict[str, np.ndarray], *, rectified: bool = True) -> Path:
    with h5py.File(path, "w") as f:
        for cam, rows in cameras.items():
            f[f"davis/{cam}/events"] = rows
        f.attrs["rectified"] = rectified
        f.attrs["focal_baseline"] = FB
    return path


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    return write_tiny_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny.pt")


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> tuple[Path, Path]:
    from datasets.synthetic import SynthConfig, synthesize_recording

    return synthesize_recording(tmp_path_factory.mktemp("synth") / "s", SynthConfig(seconds=0.3, seed=3),
                                show_progress=False)


@pytest.fixture
def small_mvsec(tmp_path) -> Path:
    """40x30 recording, 0.4 s, with no event at all in (0.15, 0.3] s."""
    rows = {cam: random_rows(4000, t0=0.0, t1=0.4, width=40, height=30, seed=i)
            for i, cam in enumerate(("left", "right"))}
    rows = {cam: r[(r[:, 2] <= 0.15) | (r[:, 2] > 0.3)] for cam, r in rows.items()}
    return write_mvsec(tmp_path / "small_data.hdf5", rows)


def _one_line_error(code: int, err: str) -> None:
    assert code != 0
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("stereo: error:"), err


def test_gt_windows_and_metrics_agree_with_eval_stereo(synthetic, checkpoint, tmp_path, run_cli):
    from datasets.cache import StereoCache, preprocess_recording
    from stereo.evaluate import evaluate_on_caches

    data, gt = synthetic
    out = tmp_path / "out"
    code, stdout, err = run_cli("infer", data, "--gt", gt, "--model", checkpoint, "--out", out, "--device", "cpu",
                                "--batch-size", "3")
    assert code == 0, err
    assert "windows/s" in stdout and "1PA" in stdout and "mJ/frame" in stdout

    cache = preprocess_recording(data, tmp_path / "s.h5", gt_path=gt, representation="voxel", num_bins=5,
                                 window_ms=50.0).path
    record = evaluate_on_caches([str(cache)], checkpoint=str(checkpoint), batch_size=1)[0]
    metrics = json.loads((out / "metrics.json").read_text())
    for key in ("one_pixel_accuracy", "mean_disparity_error", "mean_depth_error", "median_depth_error"):
        assert metrics[key] == pytest.approx(record["metrics"][key], rel=1e-5, abs=1e-6), key
    with StereoCache(cache) as c:
        frames = len(c)
        stamps = np.loadtxt(out / "timestamps.txt", ndmin=1)
        np.testing.assert_allclose(stamps, c.timestamps, rtol=0, atol=1e-6)
        sample = c[0]
    assert metrics["num_frames"] == frames >= 4
    assert sorted(p.name for p in (out / "disparity").iterdir()) == [f"{k:06d}.png" for k in range(frames)]
    assert len(list((out / "colour").iterdir())) == frames
    # The PNG is round(256 d) of the network's prediction on the cached tensors.
    from stereo.train import load_trained_model

    model, _ = load_trained_model(checkpoint)
    with torch.no_grad():
        pred = model(torch.from_numpy(sample.left[None]), torch.from_numpy(sample.right[None])).disparity[0, 0].numpy()
    png = read_disparity_png(out / "disparity" / "000000.png")
    assert pred.std() > 0.05  # the model reacts to its input, so equal metrics mean equal tensors
    assert np.nanmax(np.abs(png - pred)) <= 1 / 512 + 1e-4
    colour = cv2.imread(str(out / "colour" / "000000.png"))
    assert colour.shape == (260, 346, 3)
    assert not list(tmp_path.glob(".out*"))

    # Energy per frame: the mean over a few windows, each measured on its own (eval: 4 spread
    # over the set; infer: the first window of each of the first 4 batches).
    from search.cost import energy_report
    from stereo.infer import infer_recording

    with StereoCache(cache) as c:
        def energy_of(k: int) -> float:
            return energy_report(model, torch.from_numpy(c[k].left[None]), torch.from_numpy(c[k].right[None]),
                                 num_samples=1).total_mj

        spread = sorted({int(i) for i in np.linspace(0, frames - 1, 4).round()})
        expected_eval = np.mean([energy_of(k) for k in spread])
        expected_infer = np.mean([energy_of(k) for k in range(0, frames, 3)[:4]])
        assert len({round(energy_of(k), 9) for k in spread}) > 1  # windows differ, so the choice matters
    assert record["energy_mj_per_frame"] == pytest.approx(expected_eval, rel=1e-5)
    report = infer_recording(data, tmp_path / "again", model_path=checkpoint, gt=gt, batch_size=3)
    assert report.energy_mj_per_frame == pytest.approx(expected_infer, rel=1e-5)


def test_every_ms_windows_empty_window_depth_and_video(small_mvsec, checkpoint, tmp_path, run_cli):
    out = tmp_path / "o"
    code, stdout, err = run_cli("infer", small_mvsec, "--model", checkpoint, "--out", out, "--width", "40",
                                "--height", "30", "--every-ms", "50", "--depth", "npy", "--video", out / "v.mp4",
                                "--device", "cpu")
    assert code == 0, err
    stamps = np.loadtxt(out / "timestamps.txt")
    with h5py.File(small_mvsec) as f:
        t = {c: f[f"davis/{c}/events"][:, 2] for c in ("left", "right")}
    t_lo, t_hi = max(v[0] for v in t.values()), min(v[-1] for v in t.values())
    expected = t_lo + 0.05 + 0.05 * np.arange(int(np.floor((t_hi - t_lo - 0.05) / 0.05 + 1e-9)) + 1)
    np.testing.assert_allclose(stamps, expected, atol=1e-6)
    assert "differ from the training frames" in stdout
    empty = [min(np.sum((v > end - 0.05) & (v <= end)) for v in t.values()) == 0 for end in stamps]
    assert 2 <= sum(empty) < len(stamps)  # the gap in (0.15, 0.3] s
    for k, is_empty in enumerate(empty):
        raw = cv2.imread(str(out / "disparity" / f"{k:06d}.png"), cv2.IMREAD_ANYDEPTH)
        depth = np.load(out / "depth" / f"{k:06d}.npy")
        assert raw.dtype == np.uint16 and raw.shape == (30, 40) and depth.dtype == np.float32
        if is_empty:  # a camera has no event in (t - 50 ms, t]: no estimate
            assert not raw.any() and np.isnan(depth).all()
        else:
            assert raw.all()
            d = raw.astype(np.float64) / 256
            np.testing.assert_allclose(depth, FB / d, rtol=2e-3)
    assert f"{sum(empty)} without events" in stdout
    video = cv2.VideoCapture(str(out / "v.mp4"))
    assert int(video.get(cv2.CAP_PROP_FRAME_COUNT)) == len(stamps)
    assert int(video.get(cv2.CAP_PROP_FRAME_WIDTH)) == 80
    video.release()


def test_depth_png_is_millimetres(small_mvsec, checkpoint, tmp_path):
    from stereo.infer import infer_recording

    report = infer_recording(small_mvsec, tmp_path / "o", model_path=checkpoint, width=40, height=30, depth="png",
                             every_ms=100)
    assert report.windows == 4 and report.empty_windows >= 1 and report.metrics is None
    d = read_disparity_png(tmp_path / "o" / "disparity" / "000000.png")
    mm = cv2.imread(str(tmp_path / "o" / "depth" / "000000.png"), cv2.IMREAD_ANYDEPTH)
    assert mm.dtype == np.uint16
    np.testing.assert_allclose(mm / 1000.0, np.minimum(FB / d, 65.535), rtol=3e-3, atol=1e-3)


def test_focal_baseline_option_overrides_and_is_required_for_gt(small_mvsec, checkpoint, tmp_path):
    from stereo.infer import infer_recording

    infer_recording(small_mvsec, tmp_path / "a", model_path=checkpoint, width=40, height=30, depth="npy", every_ms=100)
    infer_recording(small_mvsec, tmp_path / "b", model_path=checkpoint, width=40, height=30, depth="npy", every_ms=100,
                    focal_baseline=2 * FB)
    za, zb = (np.load(tmp_path / o / "depth" / "000000.npy") for o in "ab")
    finite = np.isfinite(za)
    assert finite.any()
    np.testing.assert_allclose(zb[finite], 2 * za[finite], rtol=1e-6)
    # GT depth cannot become disparity without fB: a recording that gives none is refused, not guessed.
    with h5py.File(small_mvsec, "a") as f:
        del f.attrs["focal_baseline"]
    gt = tmp_path / "small_gt.hdf5"
    with h5py.File(gt, "w") as f:
        f["davis/left/depth_image_rect"] = np.full((2, 30, 40), 2.0, np.float32)
        f["davis/left/depth_image_rect_ts"] = np.array([0.1, 0.35])
    with pytest.raises(ValueError, match="--focal-baseline"):
        infer_recording(small_mvsec, tmp_path / "c", model_path=checkpoint, gt=gt)
    report = infer_recording(small_mvsec, tmp_path / "c", model_path=checkpoint, gt=gt, focal_baseline=FB)
    assert report.windows == 2 and report.metrics is not None


def test_plain_files_one_npz_and_two_files(tmp_path, checkpoint):
    from stereo.infer import infer_recording

    def table(seed, n=3000):  # DVS recorder convention: int64 [t_us, x, y, p]
        rng = np.random.default_rng(seed)
        return np.stack([np.sort(rng.integers(0, 300_000, n)), rng.integers(0, 36, n), rng.integers(0, 24, n),
                         rng.integers(0, 2, n)], axis=1).astype(np.int64)

    left, right = table(0), table(1)
    right[5, 2] = 25  # one event below the 24-row frame: dropped and reported
    np.savez(tmp_path / "stereo.npz", left=left, right=right)
    one = infer_recording(tmp_path / "stereo.npz", tmp_path / "a", model_path=checkpoint, width=36, height=24)
    assert one.frame_size == (24, 36) and any("dropped 1 right events" in n for n in one.notes)
    np.savez(tmp_path / "l.npz", events=left)
    np.savez(tmp_path / "r.npz", events=right)
    two = infer_recording(tmp_path / "l.npz", tmp_path / "b", model_path=checkpoint, right=tmp_path / "r.npz",
                          width=36, height=24)
    assert one.windows == two.windows == len(list((tmp_path / "b" / "disparity").iterdir()))
    for k in range(one.windows):
        name = f"{k:06d}.png"
        assert (tmp_path / "a" / "disparity" / name).read_bytes() == (tmp_path / "b" / "disparity" / name).read_bytes()
    # Without --width/--height the size comes from the largest coordinates.
    guessed = infer_recording(tmp_path / "stereo.npz", tmp_path / "c", model_path=checkpoint)
    assert guessed.frame_size == (26, 36) and any("largest event coordinates" in n for n in guessed.notes)


def test_dsec_sequence_folder(tmp_path, checkpoint):
    import hdf5plugin

    from stereo.infer import infer_recording

    height, width = 24, 36
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    for i, cam in enumerate(("left", "right")):
        folder = tmp_path / "seq" / "events" / cam
        folder.mkdir(parents=True)
        rng = np.random.default_rng(i)
        n = 5000
        t_us = np.sort(rng.integers(0, 250_000, n))
        comp = hdf5plugin.Blosc(cname="zstd", clevel=1)
        with h5py.File(folder / "events.h5", "w") as f:
            f.create_dataset("events/x", data=rng.integers(0, width, n).astype(np.uint16), **comp)
            f.create_dataset("events/y", data=rng.integers(0, height, n).astype(np.uint16), **comp)
            f.create_dataset("events/t", data=t_us.astype(np.uint32), **comp)
            f.create_dataset("events/p", data=rng.integers(0, 2, n).astype(np.uint8), **comp)
            f["ms_to_idx"] = np.searchsorted(t_us, np.arange(int(t_us[-1] // 1000) + 2) * 1000).astype(np.uint64)
            f["t_offset"] = np.int64(1_600_000_000_000_000)
        with h5py.File(folder / "rectify_map.h5", "w") as f:
            f["rectify_map"] = np.stack([xs + 0.2, ys], axis=-1)
    report = infer_recording(tmp_path / "seq", tmp_path / "o", model_path=checkpoint, every_ms=50, depth="png")
    stamps = np.loadtxt(tmp_path / "o" / "timestamps.txt")
    assert report.windows == len(stamps) >= 3 and report.frame_size == (height, width)
    assert stamps[0] > 1.6e9 and np.allclose(np.diff(stamps), 0.05)
    assert any("training fB" in n for n in report.notes)
    (tmp_path / "seq" / "events" / "right" / "events.h5").unlink()
    with pytest.raises(FileNotFoundError, match="missing right-camera events"):
        infer_recording(tmp_path / "seq", tmp_path / "p", model_path=checkpoint)
    assert not (tmp_path / "p").exists()


def test_existing_output_needs_overwrite(small_mvsec, checkpoint, tmp_path, run_cli):
    out = tmp_path / "out"
    args = ("infer", small_mvsec, "--model", checkpoint, "--out", out, "--width", "40", "--height", "30",
            "--every-ms", "100")
    assert run_cli(*args)[0] == 0
    code, _, err = run_cli(*args)
    _one_line_error(code, err)
    assert "not empty" in err
    (out / "disparity" / "000000.png").unlink()  # an earlier output, changed: replaced as a whole
    code, _, err = run_cli(*args, "--overwrite")
    assert code == 0, err
    assert len(list((out / "disparity").iterdir())) == 4
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run_cli(*args[:5], empty, *args[6:])
    assert code == 0, err


def test_overwrite_never_deletes_anything_but_an_earlier_output(small_mvsec, checkpoint, tmp_path, run_cli):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    args = ("infer", small_mvsec, "--model", checkpoint, "--width", "40", "--height", "30", "--every-ms", "100",
            "--overwrite")
    code, _, err = run_cli(*args, "--out", out)
    _one_line_error(code, err)
    assert "keep.txt" in err and (out / "keep.txt").read_text() == "x"
    # The recording inside the folder to be replaced: refused, the recording stays.
    inside = out / small_mvsec.name
    inside.write_bytes(small_mvsec.read_bytes())
    (out / "keep.txt").unlink()
    code, _, err = run_cli(*args[:1], inside, *args[2:], "--out", out)
    _one_line_error(code, err)
    assert "would delete the input" in err and inside.exists()
    # Neither is "." taken apart, nor anything else that is not an infer output.
    code, _, err = run_cli(*args, "--out", tmp_path)
    _one_line_error(code, err)
    assert small_mvsec.exists() and inside.exists()


def _bad(tmp_path: Path, case: str, checkpoint: Path) -> list:
    """Arguments of a bad `stereo infer` call (the output folder is tmp_path / 'out')."""
    rows = random_rows(2000, t0=0.0, t1=0.3, width=40, height=30, seed=0)
    base = ["--out", tmp_path / "out", "--width", "40", "--height", "30", "--model", checkpoint]
    if case == "a cache instead of a recording":
        from datasets.cache import preprocess_recording

        data = write_mvsec(tmp_path / "a_data.hdf5", {"left": rows, "right": rows})
        gt = tmp_path / "a_gt.hdf5"
        with h5py.File(gt, "w") as f:
            f["davis/left/depth_image_rect"] = np.full((2, 30, 40), 2.0, np.float32)
            f["davis/left/depth_image_rect_ts"] = np.array([0.1, 0.2])
        cache = preprocess_recording(data, tmp_path / "a.h5", gt_path=gt).path
        return ["infer", cache, *base]
    if case == "video in a missing folder":
        data = write_mvsec(tmp_path / "a_data.hdf5", {"left": rows, "right": rows})
        return ["infer", data, *base, "--video", tmp_path / "no" / "v.mp4"]
    if case == "huge frame size":
        np.savez(tmp_path / "a.npz", left=rows[:, [2, 0, 1, 3]], right=rows[:, [2, 0, 1, 3]])
        return ["infer", tmp_path / "a.npz", *base[:2], "--width", "100000", "--height", "100000", *base[6:]]
    if case == "missing right camera (MVSEC)":
        return ["infer", write_mvsec(tmp_path / "a_data.hdf5", {"left": rows}), *base]
    if case == "missing right camera (npz)":
        np.savez(tmp_path / "a.npz", left=rows[:, [2, 0, 1, 3]])
        return ["infer", tmp_path / "a.npz", *base]
    if case == "empty right camera":
        return ["infer", write_mvsec(tmp_path / "a_data.hdf5", {"left": rows, "right": rows[:0]}), *base]
    if case == "truncated HDF5":
        path = write_mvsec(tmp_path / "a_data.hdf5", {"left": rows, "right": rows})
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
        return ["infer", path, *base]
    if case == "unsorted events mid-way":
        bad = rows.copy()
        bad[-50:, 2] = 0.01
        return ["infer", write_mvsec(tmp_path / "a_data.hdf5", {"left": rows, "right": bad}), *base]
    if case == "raw MVSEC without calib":
        return ["infer", write_mvsec(tmp_path / "a_data.hdf5", {"left": rows, "right": rows}, rectified=False), *base]
    if case == "shorter than one window":
        short = rows[rows[:, 2] < 0.03]
        return ["infer", write_mvsec(tmp_path / "a_data.hdf5", {"left": short, "right": short}), *base]
    data = write_mvsec(tmp_path / "a_data.hdf5", {"left": rows, "right": rows})
    if case == "checkpoint that is not ours":
        torch.save({"state": torch.zeros(3)}, tmp_path / "other.pt")
        return ["infer", data, *base[:-1], tmp_path / "other.pt"]
    if case == "text file as checkpoint":
        (tmp_path / "notes.pt").write_text("hello")
        return ["infer", data, *base[:-1], tmp_path / "notes.pt"]
    if case == "unknown representation":
        return ["infer", data, *base[:-1], write_tiny_checkpoint(tmp_path / "ts.pt", representation="time_surface")]
    if case == "missing recording":
        return ["infer", tmp_path / "none_data.hdf5", *base]
    if case == "bad depth format":
        return ["infer", data, *base, "--depth", "tiff"]
    if case == "missing output parent":
        return ["infer", data, "--out", tmp_path / "no" / "out", "--model", checkpoint]
    raise AssertionError(case)


BAD_CASES = ["a cache instead of a recording", "video in a missing folder", "huge frame size",
             "missing right camera (MVSEC)", "missing right camera (npz)", "empty right camera",
             "truncated HDF5",
             "unsorted events mid-way", "raw MVSEC without calib", "shorter than one window",
             "checkpoint that is not ours", "text file as checkpoint", "unknown representation", "missing recording",
             "bad depth format", "missing output parent"]


@pytest.mark.parametrize("case", BAD_CASES)
def test_bad_inputs_are_one_line_errors_and_leave_nothing(tmp_path, checkpoint, run_cli, case):
    args = _bad(tmp_path, case, checkpoint)
    before = {p.name for p in tmp_path.iterdir()}
    code, _, err = run_cli(*args)
    _one_line_error(code, err)
    assert {p.name for p in tmp_path.iterdir()} == before  # no output, no hidden partial folder
    if "right camera" in case:
        assert "right" in err
    words = {"a cache instead of a recording": "preprocessed cache", "video in a missing folder": "does not exist",
             "huge frame size": "8192"}
    assert words.get(case, "") in err


def test_default_model_missing_is_a_clear_error(monkeypatch, tmp_path, small_mvsec, run_cli):
    import importlib.resources

    from stereo import infer

    monkeypatch.setattr(importlib.resources, "files", lambda package: tmp_path / "no_package")
    with pytest.raises(FileNotFoundError, match="no default model shipped; pass --model"):
        infer.default_model_path()
    code, _, err = run_cli("infer", small_mvsec, "--out", tmp_path / "o", "--width", "40", "--height", "30")
    _one_line_error(code, err)
    assert "pass --model" in err


def test_checkpoint_settings_checks():
    from stereo.infer import checkpoint_settings

    payload = {"extra": {"data": {"representation": "sbt", "num_bins": 5, "window_ms": 25.0, "height": 10,
                                  "width": 12}}}
    s = checkpoint_settings(payload, in_channels=5, source="m.pt")
    assert (s.representation, s.num_bins, s.window_ms, s.focal_baseline) == ("sbt", 5, 25.0, None)
    with pytest.raises(ValueError, match="channels"):
        checkpoint_settings(payload, in_channels=3, source="m.pt")
    with pytest.raises(ValueError, match="does not record the preprocessing"):
        checkpoint_settings({"extra": {}}, in_channels=5, source="m.pt")


def test_windows_follow_chunk_boundaries_exactly(small_mvsec):
    """Chunked reading gives the same windows as reading each window on its own."""
    from stereo import recordings

    with recordings.open_recording(small_mvsec, width=40, height=30) as source:
        plan = recordings.plan_windows(source, window_ms=50, every_ms=20)
        chunked = list(recordings.iter_windows(source, plan, window_ms=50, max_windows=3))
        assert [w.index for w in chunked] == list(range(len(plan.ends)))
        for w in chunked:
            alone = source.read("left", w.t_end - 0.05, w.t_end)
            np.testing.assert_array_equal(w.left.t, alone.t)
            np.testing.assert_array_equal(w.left.x, alone.x)


def test_raw_mvsec_is_rectified_with_calib(tmp_path, checkpoint):
    """A raw file with maps that shift the right camera by 2 px equals a rectified file shifted by hand."""
    from stereo.infer import infer_recording

    rows = {cam: random_rows(3000, t0=0.0, t1=0.2, width=40, height=30, seed=i)
            for i, cam in enumerate(("left", "right"))}
    ys, xs = np.mgrid[0:30, 0:40].astype(np.float32)
    np.savez(tmp_path / "maps.npz", left_x_map=xs, left_y_map=ys, right_x_map=xs + 2.2, right_y_map=ys)
    raw = write_mvsec(tmp_path / "raw_data.hdf5", rows, rectified=False)
    shifted = rows["right"].copy()
    shifted[:, 0] += 2
    by_hand = write_mvsec(tmp_path / "rect_data.hdf5", {"left": rows["left"], "right": shifted[shifted[:, 0] < 40]})
    a = infer_recording(raw, tmp_path / "a", model_path=checkpoint, calib=tmp_path / "maps.npz", width=40, height=30)
    b = infer_recording(by_hand, tmp_path / "b", model_path=checkpoint, width=40, height=30)
    assert a.windows == b.windows >= 2
    for k in range(a.windows):
        name = f"{k:06d}.png"
        assert (tmp_path / "a" / "disparity" / name).read_bytes() == (tmp_path / "b" / "disparity" / name).read_bytes()
    # Without the shift the maps would give other outputs: the comparison above can fail.
    unshifted = write_mvsec(tmp_path / "plain_data.hdf5", rows)
    infer_recording(unshifted, tmp_path / "d", model_path=checkpoint, width=40, height=30)
    assert (tmp_path / "a" / "disparity" / "000000.png").read_bytes() != (
        tmp_path / "d" / "disparity" / "000000.png").read_bytes()


def test_near_events_keeps_estimates_only_next_to_left_events(tmp_path, checkpoint):
    from stereo.infer import infer_recording, near_events_mask

    # Hand-worked mask: one event at (row 2, col 3), radius 1 -> the 3x3 block around it.
    tensor = np.zeros((2, 5, 6), np.float32)
    tensor[1, 2, 3] = -0.5
    expected = np.zeros((5, 6), bool)
    expected[1:4, 2:5] = True
    assert np.array_equal(near_events_mask(tensor, 1), expected)
    assert np.array_equal(near_events_mask(tensor, 0), tensor[1] != 0)
    for radius in (5, 6, 100_000):  # as far as the frame or beyond (no 200,001^2 kernel): everything
        assert near_events_mask(tensor, radius).all()
    assert np.array_equal(near_events_mask(tensor, 4), np.ones((5, 6), bool))
    assert not near_events_mask(np.zeros((2, 5, 6), np.float32), 100_000).any()

    # Left events only in columns 0..9 of a 40-wide frame; right events everywhere.
    left = random_rows(3000, t0=0.0, t1=0.2, width=10, height=30, seed=1)
    right = random_rows(3000, t0=0.0, t1=0.2, width=40, height=30, seed=2)
    recording = write_mvsec(tmp_path / "half_data.hdf5", {"left": left, "right": right})
    dense = infer_recording(recording, tmp_path / "dense", model_path=checkpoint, width=40, height=30)
    semi = infer_recording(recording, tmp_path / "semi", model_path=checkpoint, width=40, height=30,
                           near_events_px=2)
    assert dense.windows == semi.windows > 0
    for k in range(semi.windows):
        d = read_disparity_png(tmp_path / "dense" / "disparity" / f"{k:06d}.png")
        s = read_disparity_png(tmp_path / "semi" / "disparity" / f"{k:06d}.png")
        assert np.isfinite(d).all()
        assert np.isnan(s[:, 12:]).all()  # beyond column 9 + 2 px: no estimate
        kept = np.isfinite(s)
        assert kept[:, :10].mean() > 0.9 and np.array_equal(s[kept], d[kept])
    with pytest.raises(ValueError, match="--near-events"):
        infer_recording(recording, tmp_path / "bad", model_path=checkpoint, width=40, height=30, near_events_px=-1)
