"""Rectification maps (MVSEC txt, npz, fisheye yaml) and lookup tables."""

from __future__ import annotations

import numpy as np
import pytest

from datasets.events import Events
from datasets.rectify import (
    identity,
    load_rectification,
    lut_from_maps,
    maps_from_yaml,
    read_camera_yaml,
    read_mvsec_maps,
    read_npz_maps,
    rectify_events,
    write_mvsec_maps,
)


def test_yaml_maps_match_shared_npz(shared_data):
    calib = shared_data / "mvsec_calib"
    computed = maps_from_yaml(calib / "mvsec_indoor_flying_left.yaml")
    reference = read_npz_maps(calib / "mvsec_indoor_flying_rect_maps.npz")
    for cam in ("left", "right"):
        for got, ref in zip(computed[cam], reference[cam], strict=True):
            both = np.isfinite(got) & np.isfinite(ref)
            assert both.mean() > 0.99
            assert np.abs(got[both] - ref[both]).max() < 0.01


def test_yaml_parsing(shared_data):
    cal = read_camera_yaml(shared_data / "mvsec_calib" / "mvsec_indoor_flying_right.yaml")
    assert (cal["width"], cal["height"]) == (346, 260)
    assert cal["P"][0, 3] == pytest.approx(-19.941771812941038)
    assert cal["K"][0, 0] == pytest.approx(226.0181418548734) and cal["D"].shape == (4,)


def test_camchain_yaml(tmp_path, shared_data):
    calib = shared_data / "mvsec_calib"
    sections = []
    for i, cam in enumerate(("left", "right")):
        c = read_camera_yaml(calib / f"mvsec_indoor_flying_{cam}.yaml")
        k = c["K"]
        rows = "\n".join(f"  - [{', '.join(repr(float(v)) for v in r)}]" for r in c["R"])
        prows = "\n".join(f"  - [{', '.join(repr(float(v)) for v in r)}]" for r in c["P"])
        sections.append(
            f"cam{i}:\n  camera_model: pinhole\n  distortion_coeffs: [{', '.join(repr(float(v)) for v in c['D'])}]\n"
            f"  distortion_model: equidistant\n"
            f"  intrinsics: [{float(k[0, 0])!r}, {float(k[1, 1])!r}, {float(k[0, 2])!r}, {float(k[1, 2])!r}]\n"
            f"  rectification_matrix:\n{rows}\n  projection_matrix:\n{prows}\n  resolution: [346, 260]\n")
    path = tmp_path / "camchain-imucam-indoor_flying.yaml"
    path.write_text("".join(sections))
    maps = maps_from_yaml(path)
    ref = read_npz_maps(calib / "mvsec_indoor_flying_rect_maps.npz")
    both = np.isfinite(maps["right"][0]) & np.isfinite(ref["right"][0])
    assert np.abs(maps["right"][0][both] - ref["right"][0][both]).max() < 0.01


def test_mvsec_txt_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    maps = {c: (rng.uniform(-5, 15, (4, 6)).astype(np.float32), rng.uniform(-5, 10, (4, 6)).astype(np.float32))
            for c in ("left", "right")}
    write_mvsec_maps(tmp_path, "indoor_flying", maps)
    assert (tmp_path / "indoor_flying_left_x_map.txt").read_text().count("\n") == 4
    back = read_mvsec_maps(tmp_path)
    for c in maps:
        for a, b in zip(maps[c], back[c], strict=True):
            np.testing.assert_allclose(a, b, atol=1e-6)
    rect = load_rectification(tmp_path)
    assert np.array_equal(rect.left, lut_from_maps(*maps["left"]))


def test_lut_rounds_and_drops_outside():
    x_map = np.array([[0.4, 0.6, 2.49, np.nan]])
    y_map = np.array([[0.0, 0.0, 0.0, 0.0]])
    assert lut_from_maps(x_map, y_map).tolist() == [0, 1, 2, -1]
    assert lut_from_maps(np.array([[-0.6, 3.6]]), np.zeros((1, 2))).tolist() == [-1, -1]
    assert lut_from_maps(np.array([[1.0]]), np.array([[0.7]])).tolist() == [-1]  # row 1 does not exist


def test_rectify_events_gather():
    x_map = np.array([[1.0, 0.0, 5.0]])
    rect = load_rectification_from(x_map)
    ev = Events.from_arrays([0, 1, 2, 0], [0, 0, 0, 0], [0.0, 1.0, 2.0, 3.0], [1, -1, 1, 1], width=3, height=1)
    out = rectify_events(ev, rect, "left")
    assert out.x.tolist() == [1, 0, 1] and out.t.tolist() == [0.0, 1.0, 3.0] and out.p.tolist() == [1, -1, 1]
    assert ev.x.tolist() == [0, 1, 2, 0]
    with pytest.raises(ValueError, match="outside"):
        rectify_events(Events.from_arrays([3], [0], [0.0], [1]), rect, "left")
    ident = rectify_events(ev, identity(1, 3), "right")
    assert ident.x.tolist() == ev.x.tolist()


def load_rectification_from(x_map):
    from datasets.rectify import Rectification

    lut = lut_from_maps(x_map, np.zeros_like(x_map))
    return Rectification(lut, lut, x_map.shape[0], x_map.shape[1], "test")


def test_bad_calibration_inputs(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_rectification(tmp_path / "nope.npz")
    with pytest.raises(FileNotFoundError, match="map"):
        load_rectification(tmp_path)
    bad = tmp_path / "x.npz"
    np.savez(bad, left_x_map=np.zeros((2, 2)))
    with pytest.raises(ValueError, match="missing"):
        load_rectification(bad)


def test_packed_lut_matches_the_index_lut():
    from datasets.rectify import packed_lut

    rng = np.random.default_rng(0)
    height, width = 7, 11
    lut = rng.integers(-1, height * width, height * width).astype(np.int32)
    packed = packed_lut(lut, width, height)
    kept = lut >= 0
    assert np.array_equal(packed < 0, ~kept)
    assert np.array_equal((packed[kept] >> 16) * width + (packed[kept] & 0xFFFF), lut[kept])
