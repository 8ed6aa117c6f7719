"""The synthetic stereo event generator: file layout, determinism, geometry, event model, CLI."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from datasets.synthetic import (
    CENTER_Y_PX,
    FOCAL_BASELINE,
    FOCAL_PX,
    IMAGE_HEIGHT,
    IMAGE_WIDTH,
    SynthConfig,
    synthesize_recording,
)
from datasets.synthetic.esim import EventSensor
from datasets.synthetic.render import Renderer
from datasets.synthetic.scene import Scene, SurfaceBuilder, Trajectory, make_scene
from datasets.synthetic.textures import TEXTURE_KINDS, build_atlas, make_texture
from datasets.synthetic.writer import RecordingWriter

SHAPE = (IMAGE_HEIGHT, IMAGE_WIDTH)


@pytest.fixture(scope="module")
def recording(tmp_path_factory):
    """A 0.25 s recording (seed 3): (data path, gt path)."""
    prefix = tmp_path_factory.mktemp("synth") / "rec"
    return synthesize_recording(prefix, SynthConfig(seconds=0.25, seed=3), show_progress=False)


def _read_all(path) -> dict[str, np.ndarray]:
    out = {}
    with h5py.File(path, "r") as handle:
        handle.visititems(lambda name, obj: out.__setitem__(name, obj[...]) if isinstance(obj, h5py.Dataset) else None)
    return out


# ---------------------------------------------------------------------------------------------
# File layout


def test_data_file_has_the_mvsec_layout(recording):
    data_path, _ = recording
    assert data_path.name == "rec_data.hdf5"
    with h5py.File(data_path, "r") as f:
        assert f.attrs["rectified"] and f.attrs["synthetic"]
        assert f.attrs["seed"] == 3
        assert f.attrs["focal_baseline"] == pytest.approx(19.941772)
        assert "generator_version" in f.attrs
        for camera in ("left", "right"):
            events = f[f"davis/{camera}/events"]
            assert events.dtype == np.float64 and events.ndim == 2 and events.shape[1] == 4
            ev = events[...]
            assert len(ev) > 1000
            x, y, t, p = ev.T
            assert np.all(x == np.round(x)) and np.all(y == np.round(y))
            assert x.min() >= 0 and x.max() <= IMAGE_WIDTH - 1 and y.min() >= 0 and y.max() <= IMAGE_HEIGHT - 1
            assert np.all(np.diff(t) >= 0)
            assert 1.4e9 < t[0] < 1.6e9
            assert set(np.unique(p)) == {-1.0, 1.0}
            images = f[f"davis/{camera}/image_raw"]
            ts = f[f"davis/{camera}/image_raw_ts"][...]
            inds = f[f"davis/{camera}/image_raw_event_inds"][...]
            assert images.dtype == np.uint8 and images.shape[1:] == SHAPE
            assert len(images) == len(ts) == len(inds) == 8  # 30 Hz over 0..0.25 s
            assert ts.dtype == np.float64 and np.all(np.diff(ts) > 0)
            assert inds.dtype == np.int64
            expected = np.minimum(np.searchsorted(t, ts, side="left"), len(t) - 1)
            np.testing.assert_array_equal(inds, expected)


def test_gt_file_has_the_mvsec_layout_and_valid_times(recording):
    data_path, gt_path = recording
    with h5py.File(data_path, "r") as f:
        t_left = f["davis/left/events"][:, 2]
        t_right = f["davis/right/events"][:, 2]
    with h5py.File(gt_path, "r") as g:
        depth = g["davis/left/depth_image_rect"][...]
        ts = g["davis/left/depth_image_rect_ts"][...]
        assert depth.dtype == np.float32 and depth.shape[1:] == SHAPE
        assert ts.dtype == np.float64
        np.testing.assert_array_equal(g["davis/left/depth_image_raw"][...], depth)
        np.testing.assert_array_equal(g["davis/left/depth_image_raw_ts"][...], ts)
        assert g["davis/right/depth_image_rect"].shape == depth.shape
        np.testing.assert_array_equal(g["davis/right/depth_image_rect_ts"][...], ts)
    assert len(ts) == 4  # 20 Hz from 0.1 s to 0.25 s
    np.testing.assert_allclose(np.diff(ts), 0.05, atol=1e-6)
    for t in (t_left, t_right):
        assert ts[0] >= t[0] + 0.05 and ts[-1] <= t[-1]
    finite = depth[np.isfinite(depth)]
    assert 0.0 < np.isnan(depth).mean() < 0.9
    assert finite.min() >= 0.6 and finite.max() <= 8.0


def test_writer_indexes_frames_and_trims_depth_outside_the_event_range(tmp_path):
    writer = RecordingWriter(tmp_path / "d.h5", tmp_path / "g.h5", height=2, width=3, attrs={"seed": 1},
                             flush_events=2)  # flushes after nearly every block
    image, depth = np.zeros((2, 3), np.uint8), np.ones((2, 3), np.float32)
    times = {"left": [0.01, 0.02, 0.05, 0.10, 0.10, 0.12, 0.2], "right": [0.015, 0.2]}
    for camera in ("left", "right"):
        writer.add_image(camera, 0.0, image)  # before any event
        writer.add_depth(camera, 0.05, depth)  # dropped: no 50 ms of events before it
    for block in ([0.01, 0.02], [0.05, 0.10, 0.10]):  # two events at the frame time 0.10
        writer.add_events("left", np.array([[0, 0, t, 1.0] for t in block]))
    writer.add_events("right", np.array([[1, 1, 0.015, -1.0]]))
    for camera in ("left", "right"):
        writer.add_image(camera, 0.10, image)
        writer.add_depth(camera, 0.10, depth)
    writer.add_events("left", np.array([[2, 1, 0.12, -1.0], [2, 1, 0.2, -1.0]]))
    writer.add_events("right", np.array([[1, 1, 0.2, -1.0]]))
    for camera in ("left", "right"):
        writer.add_depth(camera, 0.3, depth)  # dropped: after the last event
    writer.close()
    with h5py.File(tmp_path / "d.h5", "r") as f, h5py.File(tmp_path / "g.h5", "r") as g:
        np.testing.assert_array_equal(f["davis/left/events"][:, 2], times["left"])
        np.testing.assert_array_equal(f["davis/left/image_raw_event_inds"][...], [0, 3])
        np.testing.assert_array_equal(f["davis/right/image_raw_event_inds"][...], [0, 1])
        np.testing.assert_array_equal(g["davis/left/depth_image_rect_ts"][...], [0.10])
        assert g["davis/left/depth_image_rect"].shape == (1, 2, 3)
        assert g["davis/left/depth_image_raw"].shape == (1, 2, 3)
        assert f.attrs["seed"] == 1


# ---------------------------------------------------------------------------------------------
# Determinism


def test_same_seed_gives_identical_files_and_another_seed_differs(recording, tmp_path):
    data_path, gt_path = recording
    again = synthesize_recording(tmp_path / "again", SynthConfig(seconds=0.25, seed=3), show_progress=False)
    for first, second in zip((data_path, gt_path), again, strict=True):
        a, b = _read_all(first), _read_all(second)
        assert a.keys() == b.keys()
        for key in a:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    other = synthesize_recording(tmp_path / "other", SynthConfig(seconds=0.15, seed=4), show_progress=False)
    with h5py.File(data_path, "r") as f, h5py.File(other[0], "r") as g:
        assert not np.array_equal(f["davis/left/image_raw"][0], g["davis/left/image_raw"][0])


def test_scenes_vary_with_the_seed():
    summaries = [make_scene(np.random.default_rng(seed)).summary for seed in range(4)]
    assert len({str(s["objects"]) for s in summaries}) == 4
    assert len({s["far_wall_m"] for s in summaries}) == 4


# ---------------------------------------------------------------------------------------------
# Stereo geometry


def _plane_scene(kind: str, depth_m: float) -> Scene:
    builder = SurfaceBuilder(np.random.default_rng(1))
    builder.add([0, 0, depth_m], [1, 0, 0], [0, 1, 0], texture_id=builder.texture(256, kind),
                texel_m=0.7 * depth_m / FOCAL_PX, gain=1.0)
    surfaces, atlas = builder.build()
    return Scene(surfaces, atlas, Trajectory.still(), background=0.05)


@pytest.mark.parametrize("kind", TEXTURE_KINDS)
def test_right_view_of_a_fronto_parallel_plane_is_the_left_shifted_by_the_disparity(kind):
    depth_m = 2.0
    renderer = Renderer(_plane_scene(kind, depth_m))
    left, right = renderer.render(0.0, "left"), renderer.render(0.0, "right")
    np.testing.assert_allclose(left.depth, depth_m, rtol=1e-6)
    disparity = FOCAL_BASELINE / depth_m  # x_right = x_left - d
    xs = np.arange(IMAGE_WIDTH, dtype=float)
    valid = xs + disparity + 1 <= IMAGE_WIDTH - 1

    def mismatch(shift: float) -> float:
        return float(np.mean([np.abs(right.intensity[y, valid] - np.interp(xs[valid] + shift, xs, left.intensity[y]))
                              for y in range(0, IMAGE_HEIGHT, 4)]))

    assert mismatch(disparity) < 0.003
    assert mismatch(disparity + 1.0) > 3 * mismatch(disparity)


def test_floor_depth_matches_the_pinhole_formula():
    height_m = 1.2
    builder = SurfaceBuilder(np.random.default_rng(2))
    builder.add([0, height_m, 0], [1, 0, 0], [0, 0, 1], texture_id=builder.texture(64), texel_m=0.005, gain=1.0)
    surfaces, atlas = builder.build()
    view = Renderer(Scene(surfaces, atlas, Trajectory.still(), background=0.05)).render(0.0)
    rows = np.arange(IMAGE_HEIGHT, dtype=float)[:, None].repeat(IMAGE_WIDTH, axis=1)
    below = rows > CENTER_Y_PX  # rays below the horizon hit the floor at Z = h f / (y - cy)
    np.testing.assert_allclose(view.depth[below], (height_m * FOCAL_PX / (rows - CENTER_Y_PX))[below], rtol=1e-5)
    assert np.all(np.isinf(view.depth[~below])) and np.all(view.surface[~below] == -1)


def test_recorded_frames_agree_through_the_gt_disparity(recording):
    """Left image at x equals right image at x - fB/Z(x) where the left depth is known."""
    data_path, gt_path = recording
    with h5py.File(data_path, "r") as f, h5py.File(gt_path, "r") as g:
        depth_ts = g["davis/left/depth_image_rect_ts"][...]
        image_ts = f["davis/left/image_raw_ts"][...]
        k, j = next((k, int(np.flatnonzero(image_ts == t)[0])) for k, t in enumerate(depth_ts) if t in image_ts)
        depth = g["davis/left/depth_image_rect"][k]
        right_depth = g["davis/right/depth_image_rect"][k]
        left = f["davis/left/image_raw"][j].astype(float)
        right = f["davis/right/image_raw"][j].astype(float)
    ys, xs = np.nonzero(np.isfinite(depth))
    disparity = FOCAL_BASELINE / depth[ys, xs]
    assert disparity.max() <= FOCAL_BASELINE / 0.6

    def errors(extra_px: float) -> tuple[np.ndarray, np.ndarray]:
        xr = xs - disparity - extra_px
        inside = xr >= 0
        x0 = np.floor(xr[inside]).astype(int)
        frac = xr[inside] - x0
        x1 = np.minimum(x0 + 1, IMAGE_WIDTH - 1)
        y = ys[inside]
        warped = right[y, x0] * (1 - frac) + right[y, x1] * frac
        return np.abs(warped - left[y, xs[inside]]), (x0, x1, y, frac)

    err, (x0, x1, y, frac) = errors(0.0)
    assert np.median(err) <= 2.0 and np.mean(err <= 6) > 0.85  # occlusions and edges may differ
    assert np.median(errors(2.0)[0]) > 2 * max(np.median(err), 0.5)
    # The right depth seen through the disparity is the left depth (except at occlusions).
    warped_depth = right_depth[y, np.where(frac < 0.5, x0, x1)]
    same = np.abs(warped_depth - depth[y, xs[xs - disparity >= 0]]) < 0.05 * depth[y, xs[xs - disparity >= 0]]
    assert np.mean(same) > 0.85


# ---------------------------------------------------------------------------------------------
# Event model (hand-worked)


def _pixel(value: float) -> np.ndarray:
    return np.full((1, 1), value)


def test_a_one_pixel_ramp_gives_the_hand_computed_events():
    sensor = EventSensor(_pixel(0.0), np.random.default_rng(0), contrast_threshold=0.3)
    up = sensor.step(_pixel(1.0), 1.0)  # levels 0.3, 0.6, 0.9 passed at t = 0.3, 0.6, 0.9
    np.testing.assert_allclose(up, [[0, 0, 0.3, 1], [0, 0, 0.6, 1], [0, 0, 0.9, 1]], atol=1e-12)
    down = sensor.step(_pixel(0.0), 2.0)  # reference 0.9 -> 0.6, 0.3, 0.0 at t = 1.4, 1.7, 2.0
    np.testing.assert_allclose(down, [[0, 0, 1.4, -1], [0, 0, 1.7, -1], [0, 0, 2.0, -1]], atol=1e-12)
    assert len(sensor.step(_pixel(0.2), 3.0)) == 0  # less than one threshold


def test_ramp_split_over_several_renders_gives_the_same_events():
    whole = EventSensor(_pixel(0.0), np.random.default_rng(0), contrast_threshold=0.3).step(_pixel(1.0), 1.0)
    sensor = EventSensor(_pixel(0.0), np.random.default_rng(0), contrast_threshold=0.3)
    parts = np.concatenate([sensor.step(_pixel(v), v) for v in (0.25, 0.5, 0.75, 1.0)])
    np.testing.assert_allclose(parts, whole, atol=1e-12)


def test_large_jump_between_renders_gives_several_events_with_interpolated_times():
    sensor = EventSensor(np.zeros((2, 2)), np.random.default_rng(0), contrast_threshold=0.25)
    target = np.array([[0.0, 0.6], [-1.1, 0.24]])  # 2 ON at (x=1, y=0); 4 OFF at (x=0, y=1)
    events = sensor.step(target, 0.01)
    on = events[events[:, 3] > 0]
    off = events[events[:, 3] < 0]
    np.testing.assert_allclose(on[:, :3], [[1, 0, 0.01 * 0.25 / 0.6], [1, 0, 0.01 * 0.5 / 0.6]])
    np.testing.assert_allclose(off[:, 2], 0.01 * np.array([0.25, 0.5, 0.75, 1.0]) / 1.1)
    assert np.all(off[:, :2] == [0, 1])
    np.testing.assert_allclose(sensor.log_ref, [[0.0, 0.5], [-1.0, 0.0]])


def test_refractory_period_drops_events_but_keeps_the_reference_moving():
    sensor = EventSensor(_pixel(0.0), np.random.default_rng(0), contrast_threshold=0.3, refractory_s=0.35)
    events = sensor.step(_pixel(1.0), 1.0)  # 0.6 is only 0.3 s after 0.3: dropped
    np.testing.assert_allclose(events[:, 2], [0.3, 0.9])
    np.testing.assert_allclose(sensor.log_ref, 0.9)


def test_noise_events_have_the_expected_rate_and_stay_inside_the_interval():
    sensor = EventSensor(np.zeros((50, 50)), np.random.default_rng(5), contrast_threshold=0.3, noise_rate_hz=10.0)
    events = sensor.step(np.zeros((50, 50)), 1.0)
    assert abs(len(events) - 25_000) < 5 * np.sqrt(25_000)
    assert events[:, 2].min() > 0.0 and events[:, 2].max() <= 1.0 and np.all(np.diff(events[:, 2]) >= 0)
    assert abs(np.mean(events[:, 3])) < 0.05


def test_time_must_increase():
    sensor = EventSensor(_pixel(0.0), np.random.default_rng(0), contrast_threshold=0.3)
    with pytest.raises(ValueError, match="time must increase"):
        sensor.step(_pixel(1.0), 0.0)


# ---------------------------------------------------------------------------------------------
# Textures and config


@pytest.mark.parametrize("kind", TEXTURE_KINDS)
def test_textures_are_tileable_albedos(kind):
    texture = make_texture(np.random.default_rng(0), 128, kind)
    assert texture.dtype == np.float32 and texture.shape == (128, 128)
    assert texture.min() >= 0.03 and texture.max() <= 1.0 and texture.std() > 0.02
    # Periodic: the step across the tile seam is no larger than steps inside the tile.
    inner = np.abs(np.diff(texture, axis=1)).max()
    assert np.abs(texture[:, 0] - texture[:, -1]).max() <= inner + 1e-6


def test_atlas_levels_are_2x2_box_filtered():
    texture = np.random.default_rng(0).random((8, 8)).astype(np.float32)
    atlas = build_atlas([texture])
    assert atlas.num_levels.tolist() == [3] and atlas.sizes[0].tolist() == [8, 4, 2]
    level1 = atlas.data[atlas.offsets[0, 1]:atlas.offsets[0, 1] + 16].reshape(4, 4)
    np.testing.assert_allclose(level1, texture.reshape(4, 2, 4, 2).mean(axis=(1, 3)), rtol=1e-6)


@pytest.mark.parametrize("field, value", [("seconds", 0.0), ("seconds", -1.0), ("seconds", float("nan")),
                                          ("seed", -1), ("contrast_threshold", 0.0), ("noise_rate_hz", -1.0)])
def test_config_rejects_bad_values(field, value):
    with pytest.raises(ValueError, match=field):
        SynthConfig(**{field: value})


def test_too_short_a_recording_is_refused(tmp_path):
    with pytest.raises(ValueError, match="at least 0.1"):
        synthesize_recording(tmp_path / "s", SynthConfig(seconds=0.05), show_progress=False)
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------------------------------------
# Command line


def test_cli_writes_both_files_and_refuses_to_overwrite(run_cli, tmp_path):
    code, out, err = run_cli("synth", str(tmp_path / "s"), "--seconds", "0.2")
    assert code == 0, err
    assert "s_data.hdf5" in out and "s_gt.hdf5" in out
    data_path, gt_path = tmp_path / "s_data.hdf5", tmp_path / "s_gt.hdf5"
    with h5py.File(gt_path, "r") as g:
        assert len(g["davis/left/depth_image_rect"]) == 3
    before = data_path.stat().st_mtime_ns
    code, _, err = run_cli("synth", str(tmp_path / "s"), "--seconds", "0.2")
    assert code != 0 and "already exists" in err and "--overwrite" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert data_path.stat().st_mtime_ns == before
    code, _, err = run_cli("synth", str(tmp_path / "s"), "--seconds", "0.1", "--seed", "2", "--overwrite")
    assert code == 0, err
    with h5py.File(data_path, "r") as f:
        assert f.attrs["seed"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s_data.hdf5", "s_gt.hdf5"]


def test_cli_depth_range_reaches_the_ground_truth(run_cli, tmp_path):
    code, _, err = run_cli("synth", str(tmp_path / "s"), "--seconds", "0.2", "--max-depth", "2.5")
    assert code == 0, err
    with h5py.File(tmp_path / "s_gt.hdf5", "r") as g:
        depth = g["davis/left/depth_image_rect"][:]
    finite = depth[np.isfinite(depth)]
    assert finite.size and finite.max() <= 2.5 and finite.min() >= 0.6  # default --min-depth 0.6


@pytest.mark.parametrize("args, message", [
    (("s", "--seconds", "0.2", "--min-depth", "3", "--max-depth", "2"), "min_depth_m must be smaller"),
    (("missing/s", "--seconds", "0.2"), "does not exist"),
    (("s", "--seconds", "0"), "seconds"),
    (("s", "--seconds", "-1"), "seconds"),
    (("s", "--seconds", "0.05"), "at least 0.1"),
])
def test_cli_bad_inputs_fail_cleanly(run_cli, tmp_path, args, message):
    code, _, err = run_cli("synth", str(tmp_path / args[0]), *args[1:])
    assert code != 0
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []
