"""stereo.visualize: colour maps, event pictures, error maps and the four-panel PNG."""

from __future__ import annotations

import math

import matplotlib
import numpy as np
import pytest
import torch

from stereo.visualize import (
    OFF_COLOR,
    ON_COLOR,
    colorize_disparity,
    error_map,
    event_frame_image,
    side_by_side_figure,
)

NAN = math.nan


def _cmap_rgb(name: str, fraction: float) -> list[int]:
    return [round(c * 255) for c in matplotlib.colormaps[name](fraction)[:3]]


def test_colorize_disparity_values():
    disp = np.array([[0.0, 24.0, 48.0], [60.0, NAN, -5.0]], dtype=np.float32)
    img = colorize_disparity(disp, max_disparity=48)
    assert img.shape == (2, 3, 3) and img.dtype == np.uint8
    assert img[0, 0].tolist() == _cmap_rgb("viridis", 0.0)
    assert img[0, 2].tolist() == _cmap_rgb("viridis", 1.0)
    assert img[0, 1].tolist() == _cmap_rgb("viridis", 128 / 255)  # 24/48 -> LUT entry round(127.5) = 128
    assert img[1, 0].tolist() == img[0, 2].tolist()  # saturates above max_disparity
    assert img[1, 2].tolist() == img[0, 0].tolist()  # and below 0
    assert img[1, 1].tolist() == [0, 0, 0]
    assert colorize_disparity(disp, max_disparity=48, invalid_color=(9, 8, 7))[1, 1].tolist() == [9, 8, 7]
    np.testing.assert_array_equal(colorize_disparity(torch.from_numpy(disp)[None], max_disparity=48), img)
    with pytest.raises(ValueError, match="vmax > vmin"):
        colorize_disparity(disp, max_disparity=0)


def test_error_map():
    pred = np.array([[1.0, 5.0, 2.0], [NAN, 3.0, 3.0]])
    gt = np.array([[1.0, 1.0, NAN], [2.0, 0.0, 5.0]])
    img = error_map(pred, gt, max_error=4.0)
    assert img.shape == (2, 3, 3) and img.dtype == np.uint8
    assert img[0, 0].tolist() == _cmap_rgb("magma", 0.0)  # error 0
    assert img[0, 1].tolist() == _cmap_rgb("magma", 1.0)  # error 4
    assert img[1, 0].tolist() == _cmap_rgb("magma", 128 / 255)  # NaN prediction counts as 0 -> error 2
    assert img[0, 2].tolist() == [255, 255, 255] and img[1, 1].tolist() == [255, 255, 255]  # no GT
    with pytest.raises(ValueError, match="differs"):
        error_map(pred, gt[:, :2])


def test_event_frame_image():
    x = np.array([0, 1, 1, 2, 2, 7])
    y = np.array([0, 0, 0, 1, 1, 0])
    p = np.array([1, -1, -1, 1, -1, 1])  # (0,0) ON, (0,1) OFF, (1,2) cancels; x=7 is outside
    img = event_frame_image(x, y, p, 2, 3)
    assert img.shape == (2, 3, 3) and img.dtype == np.uint8
    assert img[0, 0].tolist() == list(ON_COLOR) and img[0, 1].tolist() == list(OFF_COLOR)
    assert img[1, 2].tolist() not in ([255, 255, 255], list(ON_COLOR), list(OFF_COLOR))
    assert img[1, 0].tolist() == [255, 255, 255]
    assert event_frame_image(x, y, p, 2, 3, background="black")[1, 0].tolist() == [0, 0, 0]
    assert event_frame_image(x, y, np.array([1, 0, 0, 1, 0, 1]), 2, 3)[0, 1].tolist() == list(OFF_COLOR)


def test_side_by_side_figure_writes_png(tmp_path):
    rng = np.random.default_rng(0)
    h, w = 60, 80
    gt = np.full((h, w), 10.0)
    gt[:5] = NAN
    pred = gt + rng.normal(0, 0.5, (h, w))
    xs, ys, ps = rng.integers(0, w, 500), rng.integers(0, h, 500), rng.integers(0, 2, 500)
    events = event_frame_image(xs, ys, ps, h, w)
    path = side_by_side_figure(events, gt, pred, max_disparity=48, path=tmp_path / "fig.png", title="test")
    assert path == tmp_path / "fig.png"
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    import cv2

    picture = cv2.imread(str(path))
    assert picture is not None and picture.shape[0] > 2 * h and picture.shape[1] > 2 * w
    assert [p.name for p in tmp_path.iterdir()] == ["fig.png"]  # no partial file left behind
    side_by_side_figure(events[..., 0], gt, pred, max_disparity=48, path=tmp_path / "grey.png")  # grey input
    with pytest.raises(ValueError, match="one"):
        side_by_side_figure(events, gt, pred[:, :10], max_disparity=48, path=tmp_path / "bad.png")
    with pytest.raises(FileNotFoundError):
        side_by_side_figure(events, gt, pred, max_disparity=48, path=tmp_path / "no" / "fig.png")
    assert not (tmp_path / "bad.png").exists()
