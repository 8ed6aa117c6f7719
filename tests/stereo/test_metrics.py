"""stereo.metrics against a hand-worked frame and an independent per-pixel implementation."""

from __future__ import annotations

import math
import statistics

import numpy as np
import pytest
import torch

from stereo.metrics import (
    DDES_MAX_DISPARITY,
    DEFAULT_MIN_DISPARITY,
    FrameMetrics,
    batch_disparity_errors,
    ddes_quantize,
    depth_to_disparity,
    disparity_errors,
    disparity_to_depth,
    sparse_gt_mask,
)

NAN, INF = math.nan, math.inf


def test_hand_worked_3x3():
    # fB = 20. Valid GT: finite and > 0, so (0,2) NaN, (1,1) 0 and (2,2) inf drop out: 6 pixels.
    gt = np.array([[1.0, 2.0, NAN], [4.0, 0.0, 8.0], [10.0, 5.0, INF]])
    pred = np.array([[1.5, 4.0, 3.0], [3.0, 1.0, 8.0], [0.0, 6.5, 2.0]])
    m = disparity_errors(pred, gt, focal_baseline=20.0)
    # |e| on the valid pixels: 0.5, 2, 1, 0, 10, 1.5
    # > 1 px: 2, 10, 1.5 (the error of exactly 1 is correct) -> 3/6 -> 1PA = 50 %
    # > 2 px: 10 only (2 is not > 2) -> 2PA = 3PA = 100 - 100/6
    # mean disparity error = 15 / 6 = 2.5 px
    assert m.num_valid_pixels == 6
    assert m.one_pixel_accuracy == pytest.approx(50.0)
    assert m.two_pixel_accuracy == pytest.approx(100 - 100 / 6)
    assert m.three_pixel_accuracy == pytest.approx(100 - 100 / 6)
    assert m.mean_disparity_error == pytest.approx(2.5)
    # depth errors |20/pred - 20/gt| (pred 0 clamped to 1/7 px -> 140 m):
    #   |13.333 - 20| = 20/3, |5 - 10| = 5, |6.667 - 5| = 5/3, |2.5 - 2.5| = 0,
    #   |140 - 2| = 138, |3.0769 - 4| = 12/13
    # mean = (20/3 + 5 + 5/3 + 0 + 138 + 12/13) / 6; median = (5/3 + 5) / 2 = 10/3
    assert m.mean_depth_error == pytest.approx((20 / 3 + 5 + 5 / 3 + 138 + 12 / 13) / 6)
    assert m.median_depth_error == pytest.approx(10 / 3)


def test_error_of_exactly_n_px_is_correct():
    gt = np.full((1, 4), 10.0)
    pred = np.array([[11.0, 9.0, 12.0, 13.0 + 1e-9]])  # errors 1, 1, 2, 3+
    m = disparity_errors(pred, gt, focal_baseline=20.0)
    assert m.one_pixel_accuracy == pytest.approx(50.0)
    assert m.two_pixel_accuracy == pytest.approx(75.0)
    assert m.three_pixel_accuracy == pytest.approx(75.0)


def _reference(pred, gt, valid, fb, min_disp):
    """Straightforward per-pixel loops, written independently of the vectorised code."""
    errs, depth_errs = [], []
    for i in range(gt.shape[0]):
        for j in range(gt.shape[1]):
            g = float(gt[i, j])
            if math.isnan(g) or math.isinf(g) or g <= 0 or (valid is not None and not valid[i, j]):
                continue
            p = float(pred[i, j])
            if math.isnan(p) or math.isinf(p):
                p = 0.0
            errs.append(abs(p - g))
            depth_errs.append(abs(fb / max(p, min_disp) - fb / g))
    if not errs:
        return None
    n = len(errs)
    return {
        "one_pixel_accuracy": 100 * sum(e <= 1 for e in errs) / n,
        "two_pixel_accuracy": 100 * sum(e <= 2 for e in errs) / n,
        "three_pixel_accuracy": 100 * sum(e <= 3 for e in errs) / n,
        "mean_disparity_error": sum(errs) / n,
        "mean_depth_error": sum(depth_errs) / n,
        "median_depth_error": statistics.median(depth_errs),
        "num_valid_pixels": n,
    }


def _random_frame(rng, h=13, w=17):
    gt = rng.uniform(0.5, 40.0, (h, w))
    gt[rng.random((h, w)) < 0.3] = NAN
    gt[rng.random((h, w)) < 0.05] = 0.0
    gt[rng.random((h, w)) < 0.05] = INF
    pred = gt + rng.normal(0, 1.5, (h, w))
    pred[np.isnan(pred) | np.isinf(pred)] = rng.uniform(0, 40, 1)
    pred[rng.random((h, w)) < 0.1] = 0.0
    pred[rng.random((h, w)) < 0.05] = -rng.uniform(0, 3)
    pred[rng.random((h, w)) < 0.05] = NAN
    return pred, gt


@pytest.mark.parametrize("seed", range(6))
def test_random_frames_match_reference(seed):
    rng = np.random.default_rng(seed)
    pred, gt = _random_frame(rng)
    valid = rng.random(gt.shape) < 0.8 if seed % 2 else None
    pred_before, gt_before = pred.copy(), gt.copy()
    m = disparity_errors(pred, gt, focal_baseline=19.941772, valid=valid)
    np.testing.assert_array_equal(pred, pred_before)  # the caller's arrays are not modified
    np.testing.assert_array_equal(gt, gt_before)
    ref = _reference(pred, gt, valid, 19.941772, DEFAULT_MIN_DISPARITY)
    assert ref is not None
    for key, value in ref.items():
        assert getattr(m, key) == pytest.approx(value, rel=1e-12, abs=1e-12), key
    assert math.isfinite(m.mean_depth_error)


def test_min_disparity_option_changes_only_depth():
    rng = np.random.default_rng(7)
    pred, gt = _random_frame(rng)
    a = disparity_errors(pred, gt, focal_baseline=20.0)
    b = disparity_errors(pred, gt, focal_baseline=20.0, min_disparity=1.0)
    ref = _reference(pred, gt, None, 20.0, 1.0)
    assert b.mean_depth_error == pytest.approx(ref["mean_depth_error"])
    assert a.mean_depth_error > b.mean_depth_error
    assert a.mean_disparity_error == b.mean_disparity_error


def test_frame_without_valid_pixel_is_nan():
    gt = np.array([[NAN, 0.0], [INF, -3.0]])
    m = disparity_errors(np.ones((2, 2)), gt, focal_baseline=20.0)
    assert m.is_empty and m.num_valid_pixels == 0
    assert all(math.isnan(m.to_dict()[k]) for k in ("one_pixel_accuracy", "mean_depth_error"))
    valid_but_masked = disparity_errors(np.ones((2, 2)), np.ones((2, 2)), focal_baseline=20.0,
                                        valid=np.zeros((2, 2), bool))
    assert valid_but_masked.is_empty and FrameMetrics.empty().is_empty


def test_torch_and_numpy_agree_and_shapes():
    rng = np.random.default_rng(3)
    pred, gt = _random_frame(rng, 20, 30)
    pred32, gt32 = pred.astype(np.float32), gt.astype(np.float32)
    a = disparity_errors(pred32, gt32, focal_baseline=19.94)
    b = disparity_errors(torch.from_numpy(pred32)[None], torch.from_numpy(gt32)[None], focal_baseline=19.94)
    assert a == b
    batch = batch_disparity_errors(torch.from_numpy(np.stack([pred32, pred32]))[:, None],
                                   torch.from_numpy(np.stack([gt32, gt32]))[:, None], focal_baseline=19.94)
    assert batch == [a, a]
    half = disparity_errors(torch.from_numpy(pred32).bfloat16().requires_grad_(), gt32, focal_baseline=19.94)
    assert half.num_valid_pixels == a.num_valid_pixels
    with pytest.raises(ValueError, match="differs"):
        disparity_errors(pred[:, :5], gt, focal_baseline=19.94)
    with pytest.raises(ValueError, match="pred must be one frame"):
        disparity_errors(pred[None, None], gt, focal_baseline=19.94)
    with pytest.raises(ValueError, match="min_disparity"):
        disparity_errors(pred, gt, focal_baseline=19.94, min_disparity=0.0)


def test_ddes_quantize_values():
    q = ddes_quantize(np.array([0.0, 1.0, 1.07, 1.08, 36.2, 36.3, 36.35, 36.36, 36.4, 50.0, NAN, INF, -1.0]))
    # 7d: 0, 7, 7.49 -> 7, 7.56 -> 8, 253.4 -> 253, 254.1 -> 254, 254.45 -> 254, 254.52 -> 255 (invalid)
    expected = [0.0, 1.0, 1.0, 8 / 7, 253 / 7, 254 / 7, 254 / 7, NAN, NAN, NAN, NAN, NAN, -1.0]
    np.testing.assert_allclose(q, expected, equal_nan=True)
    assert DDES_MAX_DISPARITY == pytest.approx(36.2857, abs=1e-4)
    # numpy rounds halves to even, as DDES's conversion does: 7d = 254.5 -> 254 (kept), 253.5 -> 254
    np.testing.assert_allclose(ddes_quantize([254.5 / 7, 253.5 / 7, 0.5 / 7]), [254 / 7, 254 / 7, 0.0])
    assert ddes_quantize(torch.tensor([2.0]))[0] == 2.0


def test_depth_disparity_conversions():
    depth = np.array([1.0, 2.0, NAN, 0.0, -1.0])
    d = depth_to_disparity(depth, focal_baseline=19.941772)
    np.testing.assert_allclose(d, [19.941772, 9.970886, NAN, NAN, NAN], equal_nan=True)
    np.testing.assert_allclose(disparity_to_depth(d, focal_baseline=19.941772), [1.0, 2.0, NAN, NAN, NAN],
                               equal_nan=True)


def test_sparse_gt_mask_keeps_last_events():
    x = np.array([0, 1, 2, 3, 3, 9], dtype=np.int64)
    y = np.array([0, 0, 1, 2, 2, 0], dtype=np.int64)  # the last event is out of a width-4 frame
    mask = sparse_gt_mask(x, y, 3, 4, last_n=4)
    expected = np.zeros((3, 4), bool)
    # (9, 0) is outside the frame and does not count: the last 4 inside are (1,0), (2,1), (3,2), (3,2)
    expected[0, 1] = expected[1, 2] = expected[2, 3] = True
    np.testing.assert_array_equal(mask, expected)
    assert sparse_gt_mask(x, y, 3, 4).sum() == 4  # all events when fewer than 15,000
    assert sparse_gt_mask(x, y, 3, 4, last_n=0).sum() == 0
    with pytest.raises(ValueError, match="same length"):
        sparse_gt_mask(x, y[:2], 3, 4)
