"""stereo.baselines: event images, OpenCV block matching on random-dot pairs, row-wise hole filling."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from stereo.baselines import (
    baseline_disparity,
    bm_disparity,
    event_count_image,
    fill_holes_nearest_on_row,
    sgbm_disparity,
    tensor_event_image,
)

NAN = math.nan


def _slow_fill(disp: np.ndarray) -> np.ndarray:
    """Independent reference: scan outwards from each hole, pixel by pixel, then copy empty rows."""
    h, w = disp.shape
    out = disp.astype(np.float32).copy()
    valid = np.isfinite(disp)
    for i in range(h):
        if not valid[i].any():
            continue
        for j in range(w):
            if valid[i, j]:
                continue
            for step in range(1, w):
                cands = [disp[i, k] for k in (j - step, j + step) if 0 <= k < w and valid[i, k]]
                if cands:
                    out[i, j] = min(cands)
                    break
    filled_rows = out.copy()
    for i in range(h):
        if valid[i].any():
            continue
        for step in range(1, h):
            cands = [filled_rows[k] for k in (i - step, i + step) if 0 <= k < h and valid[k].any()]
            if cands:
                out[i] = np.min(np.stack(cands), axis=0)
                break
    return out


def test_fill_holes_hand_worked():
    disp = np.array([
        [NAN, 3.0, NAN, NAN, NAN, 7.0, NAN],   # x0 <- 3 (only right); x2 <- 3, x3 tie 3 vs 7 -> 3, x4 <- 7
        [NAN, NAN, NAN, NAN, NAN, NAN, NAN],   # empty row: rows 0 and 2 are equally near -> per-pixel min
        [1.0, NAN, 9.0, math.inf, NAN, NAN, 4.0],  # x1 tie 1|9 -> 1; x3 (inf) <- 9; x4 tie 9|4 -> 4; x5 <- 4
        [NAN, NAN, NAN, NAN, NAN, NAN, NAN],   # empty last row: nearest is row 2
    ], dtype=np.float32)
    expected_row0 = [3, 3, 3, 3, 7, 7, 7]
    expected_row2 = [1, 1, 9, 9, 4, 4, 4]
    expected = np.array([expected_row0, np.minimum(expected_row0, expected_row2), expected_row2,
                         expected_row2], dtype=np.float32)
    before = disp.copy()
    filled = fill_holes_nearest_on_row(disp)
    np.testing.assert_array_equal(filled, expected)
    np.testing.assert_array_equal(disp, before)  # input untouched
    assert filled.dtype == np.float32


@pytest.mark.parametrize("seed", range(5))
def test_fill_holes_matches_slow_reference(seed):
    rng = np.random.default_rng(seed)
    disp = rng.integers(0, 40, (9, 23)).astype(np.float32)  # integers make ties frequent
    disp[rng.random(disp.shape) < [0.5, 0.9, 0.98][seed % 3]] = NAN
    disp[rng.integers(0, 9)] = NAN  # at least one empty row
    np.testing.assert_array_equal(fill_holes_nearest_on_row(disp), _slow_fill(disp))
    np.testing.assert_array_equal(fill_holes_nearest_on_row(torch.from_numpy(disp)), _slow_fill(disp))


def test_fill_holes_edge_cases():
    assert np.isnan(fill_holes_nearest_on_row(np.full((3, 4), NAN))).all()
    full = np.arange(12, dtype=np.float32).reshape(3, 4)
    np.testing.assert_array_equal(fill_holes_nearest_on_row(full), full)
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        fill_holes_nearest_on_row(np.zeros(5))


def _random_dot_pair(rng, height, width, disparity, density):
    """Left/right images of a fronto-parallel random-dot plane: I_R(x) = I_L(x + d)."""
    wide = ((rng.random((height, width + disparity)) < density) * 255).astype(np.uint8)
    return wide[:, :width], wide[:, disparity:width + disparity]


@pytest.mark.parametrize("density", [0.5, 0.05])
@pytest.mark.parametrize("disparity", [5, 17, 33])
def test_sgbm_recovers_constant_disparity(density, disparity):
    left, right = _random_dot_pair(np.random.default_rng(disparity), 90, 150, disparity, density)
    disp = sgbm_disparity(left, right, max_disparity=48)
    assert disp.shape == left.shape and disp.dtype == np.float32
    region = fill_holes_nearest_on_row(disp)[:, 48:]  # SGBM has no estimate in the left 48-px band
    assert np.mean(np.abs(region - disparity) <= 0.5) > 0.95
    assert np.isnan(disp[:, :disparity]).all()  # nothing can match there


def test_bm_recovers_constant_disparity():
    left, right = _random_dot_pair(np.random.default_rng(1), 90, 150, 12, 0.2)
    disp = bm_disparity(left, right, max_disparity=32)
    valid = np.isfinite(disp)
    assert valid[:, 40:-10].mean() > 0.8
    assert np.mean(np.abs(disp[valid] - 12) <= 0.5) > 0.95


@pytest.mark.parametrize("method", [sgbm_disparity, bm_disparity])
def test_frames_narrower_than_the_disparity_range(method):
    """A 36-px-wide frame with a 48-px range (OpenCV alone fails to allocate): matched, the right shape."""
    left, right = _random_dot_pair(np.random.default_rng(3), 24, 36, 4, 0.3)
    disp = method(left, right, max_disparity=48)
    assert disp.shape == (24, 36)
    found = disp[np.isfinite(disp)]
    assert found.size > 0.25 * disp.size and np.median(found) == pytest.approx(4, abs=0.5)


def test_block_matching_rejects_bad_input():
    img = np.zeros((20, 30), np.uint8)
    with pytest.raises(ValueError, match="uint8"):
        sgbm_disparity(img.astype(np.float32), img)
    with pytest.raises(ValueError, match="one shape"):
        sgbm_disparity(img, img[:, :10])
    with pytest.raises(ValueError, match="block_size"):
        bm_disparity(img, img, block_size=4)
    with pytest.raises(ValueError, match="max_disparity"):
        sgbm_disparity(img, img, max_disparity=0)


def test_event_count_image():
    x = np.array([0, 0, 0, 1, 2, 5, -1])  # the last two events fall outside a 3 x 4 frame
    y = np.array([0, 0, 0, 0, 2, 1, 0])
    p = np.array([1, -1, 1, -1, 1, 1, 1])
    img = event_count_image(x, y, p, 3, 4, saturation_percentile=100)
    expected = np.zeros((3, 4), np.uint8)
    expected[0, 0], expected[0, 1], expected[2, 2] = 255, 85, 85  # counts 3, 1, 1 scaled by 255/3
    np.testing.assert_array_equal(img, expected)
    signed = event_count_image(x, y, p, 3, 4, mode="signed", saturation_percentile=100)
    # polarity sums 1, -1, 1 -> 128 +- 127
    assert signed[0, 0] == 255 and signed[0, 1] == 1 and signed[2, 2] == 255 and signed[1, 1] == 128
    # a hot pixel saturates instead of darkening the rest
    hot = event_count_image(np.r_[np.zeros(1000, int), np.arange(1, 4)], np.zeros(1003, int), np.ones(1003),
                            2, 4, saturation_percentile=50)
    assert hot[0, 0] == 255 and hot[0, 1] == 255
    assert event_count_image([], [], [], 3, 4).sum() == 0
    with pytest.raises(ValueError, match="mode"):
        event_count_image(x, y, p, 3, 4, mode="voxel")


def test_baseline_disparity_fills_holes_and_names():
    left, right = _random_dot_pair(np.random.default_rng(2), 60, 120, 7, 0.3)
    for method in ("sgbm", "bm"):
        raw = baseline_disparity(left, right, method=method, fill_holes=False)
        filled = baseline_disparity(left, right, method=method)
        assert np.isnan(raw).any() and not np.isnan(filled).any()
        np.testing.assert_array_equal(filled, fill_holes_nearest_on_row(raw))
    with pytest.raises(ValueError, match="unknown baseline"):
        baseline_disparity(left, right, method="raft")


def test_tensor_event_image_matches_count_image_on_counts():
    rng = np.random.default_rng(4)
    x, y, p = rng.integers(0, 30, 400), rng.integers(0, 20, 400), rng.choice([-1, 1], 400)
    counts = np.zeros((2, 20, 30))
    np.add.at(counts, (np.where(p > 0, 0, 1), y, x), 1.0)
    expected = event_count_image(x, y, p, 20, 30)
    np.testing.assert_array_equal(tensor_event_image(torch.from_numpy(-counts)), expected)
    with pytest.raises(ValueError, match=r"\(C, H, W\)"):
        tensor_event_image(np.zeros((1, 2, 3, 4)))
