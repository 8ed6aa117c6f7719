"""Classical stereo baselines on event images: OpenCV StereoSGBM / StereoBM and row-wise hole filling.

The spiking network is compared with block matching run on images made from the same event windows
(:func:`event_count_image`). Block matchers leave holes (no texture, failed uniqueness or left-right
checks, the left border); :func:`fill_holes_nearest_on_row` fills them so that the baseline, like the
network, predicts every pixel and the comparison is fair.

Conventions: disparity is float32 in px with the left image as the reference (``x_right = x_left - d``),
NaN marks pixels without an estimate.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from stereo.metrics import to_numpy

#: StereoSGBM / StereoBM return fixed-point disparity with 4 fractional bits.
_CV_DISPARITY_SCALE = 16.0


def event_count_image(
    x: Any,
    y: Any,
    p: Any,
    height: int,
    width: int,
    *,
    mode: str = "count",
    saturation_percentile: float = 99.0,
) -> np.ndarray:
    """An 8-bit image of one event window for block matching.

    ``mode="count"``: the number of events per pixel (both polarities), scaled so that the
    ``saturation_percentile`` of the non-zero counts maps to 255 (a few hot pixels must not push every
    other pixel to black). ``mode="signed"``: the sum of polarities, mid-grey 128 where it is zero,
    brighter for ON and darker for OFF, scaled the same way on its absolute value; it keeps the edge
    polarity, which disambiguates some matches.

    Args:
        x: (N,) event columns (rectified, integer-valued; floats are rounded).
        y: (N,) event rows.
        p: (N,) polarities; ``p > 0`` is ON (MVSEC uses -1/+1, others 0/1).
        height: image height in px.
        width: image width in px.
        mode: "count" or "signed".
        saturation_percentile: percentile of the non-zero values that maps to full scale.

    Returns:
        uint8 (height, width) image; all zero (or all 128 when signed) for an empty window.
        Events outside the image are ignored.
    """
    if mode not in ("count", "signed"):
        raise ValueError(f"unknown event image mode {mode!r}; choose 'count' or 'signed'")
    if not 0 < saturation_percentile <= 100:
        raise ValueError(f"saturation_percentile must be in (0, 100], got {saturation_percentile}")
    x = np.rint(to_numpy(x).reshape(-1)).astype(np.int64)
    y = np.rint(to_numpy(y).reshape(-1)).astype(np.int64)
    p = to_numpy(p).reshape(-1)
    if not (x.shape == y.shape == p.shape):
        raise ValueError(f"x, y and p must have one length, got {x.shape[0]}, {y.shape[0]}, {p.shape[0]}")
    inside = (x >= 0) & (x < width) & (y >= 0) & (y < height)
    flat = y[inside] * width + x[inside]
    if mode == "count":
        values = np.bincount(flat, minlength=height * width).astype(np.float64)
    else:
        sign = np.where(p[inside] > 0, 1.0, -1.0)
        values = np.bincount(flat, weights=sign, minlength=height * width)
    values = values.reshape(height, width)
    nonzero = np.abs(values[values != 0])
    scale = float(np.percentile(nonzero, saturation_percentile)) if nonzero.size else 1.0
    if mode == "count":
        image = np.clip(values / scale * 255.0, 0, 255)
    else:
        image = np.clip(128.0 + values / scale * 127.0, 0, 255)
    return np.rint(image).astype(np.uint8)


def tensor_event_image(tensor: Any, *, saturation_percentile: float = 99.0) -> np.ndarray:
    """An 8-bit matching image from a cached event tensor (voxel grid, SBT or counts).

    The image is the sum over channels of the absolute values, scaled like :func:`event_count_image`
    ("count" mode). For a count tensor this is the event count; for SBT the number of active time bins;
    for a voxel grid the summed event weight. It lets the baselines run on the windows of a
    ``stereo preprocess`` cache.

    Args:
        tensor: (C, H, W) or (H, W) event tensor (numpy or torch).
        saturation_percentile: percentile of the non-zero values that maps to 255.

    Returns:
        uint8 (H, W) image.
    """
    values = np.abs(to_numpy(tensor).astype(np.float64))
    if values.ndim == 3:
        values = values.sum(axis=0)
    if values.ndim != 2:
        raise ValueError(f"event tensor must have shape (C, H, W) or (H, W), got {values.shape}")
    if not 0 < saturation_percentile <= 100:
        raise ValueError(f"saturation_percentile must be in (0, 100], got {saturation_percentile}")
    nonzero = values[values > 0]
    scale = float(np.percentile(nonzero, saturation_percentile)) if nonzero.size else 1.0
    return np.rint(np.clip(values / scale * 255.0, 0, 255)).astype(np.uint8)


def sgbm_disparity(
    left_img: np.ndarray,
    right_img: np.ndarray,
    *,
    max_disparity: int = 48,
    block_size: int = 9,
    uniqueness_ratio: int = 15,
    speckle_window_size: int = 200,
    speckle_range: int = 2,
    disp12_max_diff: int = 1,
) -> np.ndarray:
    """Semi-global block matching (OpenCV StereoSGBM, 3-way mode) of a rectified pair.

    Smoothness penalties follow OpenCV's recommendation for one channel, ``P1 = 8 * block_size**2`` and
    ``P2 = 32 * block_size**2``. The defaults (9 x 9 block, uniqueness 15 %, speckle window 200 px) were
    picked on event-count images of two synthetic recordings (``stereo synth --seconds 1 --seed 11``
    and ``--seed 23``, 38 windows, holes filled): over block sizes 5-11, uniqueness 0-15, P2 16-96 x
    block area, speckle windows 0-200 and a Gaussian pre-blur, 1PA varied only between 81 % and 84 %;
    these settings were among the best on both 1PA and mean depth error.

    Args:
        left_img: (H, W) uint8 left image (e.g. :func:`event_count_image`).
        right_img: (H, W) uint8 right image.
        max_disparity: disparities searched are 0 .. max_disparity - 1 (rounded up to a multiple
            of 16 for OpenCV; estimates at or above ``max_disparity`` are dropped).
        block_size: odd matching block size in px.
        uniqueness_ratio: margin in % by which the best cost must beat the second best.
        speckle_window_size: largest connected region (px) treated as speckle; 0 disables.
        speckle_range: largest disparity variation inside a connected region, px.
        disp12_max_diff: largest left-right consistency difference, px; negative disables.

    Returns:
        float32 (H, W) disparity in px; NaN where SGBM gives no estimate.
    """
    import cv2

    left, right = _check_pair(left_img, right_img)
    num_disparities = _num_disparities(max_disparity)
    if block_size < 1 or block_size % 2 == 0:
        raise ValueError(f"block_size must be a positive odd number, got {block_size}")
    matcher = cv2.StereoSGBM_create(
        minDisparity=0,
        numDisparities=num_disparities,
        blockSize=block_size,
        P1=8 * block_size**2,
        P2=32 * block_size**2,
        disp12MaxDiff=disp12_max_diff,
        uniquenessRatio=uniqueness_ratio,
        speckleWindowSize=speckle_window_size,
        speckleRange=speckle_range,
        mode=cv2.StereoSGBM_MODE_SGBM_3WAY,
    )
    return _from_fixed_point(_compute(matcher, left, right, num_disparities + block_size), max_disparity)


def bm_disparity(
    left_img: np.ndarray,
    right_img: np.ndarray,
    *,
    max_disparity: int = 48,
    block_size: int = 15,
    texture_threshold: int = 5,
    uniqueness_ratio: int = 5,
    speckle_window_size: int = 50,
    speckle_range: int = 2,
) -> np.ndarray:
    """Local block matching (OpenCV StereoBM) of a rectified pair.

    StereoBM has no smoothness term, so it needs a larger block than SGBM on sparse event images
    (15 px: 1PA 75 % against 69 % with 7 px on the recordings named in :func:`sgbm_disparity`);
    ``texture_threshold`` rejects blocks with almost no events (left as holes).

    Args:
        left_img: (H, W) uint8 left image.
        right_img: (H, W) uint8 right image.
        max_disparity: see :func:`sgbm_disparity`.
        block_size: odd block size, 5 .. 255 px.
        texture_threshold: minimum summed texture of a block for it to be matched.
        uniqueness_ratio: margin in % by which the best cost must beat the second best.
        speckle_window_size: largest connected region (px) treated as speckle; 0 disables.
        speckle_range: largest disparity variation inside a connected region, px.

    Returns:
        float32 (H, W) disparity in px; NaN where BM gives no estimate.
    """
    import cv2

    left, right = _check_pair(left_img, right_img)
    num_disparities = _num_disparities(max_disparity)
    if block_size < 5 or block_size % 2 == 0:
        raise ValueError(f"block_size must be an odd number >= 5 for StereoBM, got {block_size}")
    matcher = cv2.StereoBM_create(numDisparities=num_disparities, blockSize=block_size)
    matcher.setTextureThreshold(texture_threshold)
    matcher.setUniquenessRatio(uniqueness_ratio)
    matcher.setSpeckleWindowSize(speckle_window_size)
    matcher.setSpeckleRange(speckle_range)
    return _from_fixed_point(_compute(matcher, left, right, num_disparities + block_size), max_disparity)


def baseline_disparity(
    left_img: np.ndarray,
    right_img: np.ndarray,
    *,
    method: str = "sgbm",
    max_disparity: int = 48,
    fill_holes: bool = True,
) -> np.ndarray:
    """Run one of :data:`BASELINES` on a pair of event images, holes filled by default.

    Args:
        left_img: (H, W) uint8 left image.
        right_img: (H, W) uint8 right image.
        method: "sgbm" or "bm" (default parameters of each).
        max_disparity: disparity range, px.
        fill_holes: fill missing estimates with :func:`fill_holes_nearest_on_row` (as the protocol
            requires for a fair comparison).

    Returns:
        float32 (H, W) disparity in px (NaN only where nothing could be filled).
    """
    if method not in BASELINES:
        raise ValueError(f"unknown baseline {method!r}; choose one of {sorted(BASELINES)}")
    disp = BASELINES[method](left_img, right_img, max_disparity=max_disparity)
    return fill_holes_nearest_on_row(disp) if fill_holes else disp


def fill_holes_nearest_on_row(disp: Any) -> np.ndarray:
    """Fill pixels without an estimate from the nearest valid pixel on the same row.

    For an invalid pixel (NaN or inf) the nearest valid pixel to its left and to its right are found;
    the closer one gives the value. On a tie the smaller disparity wins: holes in stereo are mostly
    occlusions, which belong to the farther surface. A row without any valid pixel is copied from the
    nearest row that has one after filling (the smaller disparity per pixel on a tie); an image without
    any valid pixel stays all NaN.

    Args:
        disp: (H, W) disparity in px, NaN/inf invalid (numpy or torch).

    Returns:
        float32 (H, W) filled copy (the input is not modified).

    Example:
        >>> nan = float("nan")
        >>> fill_holes_nearest_on_row([[nan, 2.0, nan, nan, 5.0, nan], [nan] * 6]).tolist()
        [[2.0, 2.0, 2.0, 5.0, 5.0, 5.0], [2.0, 2.0, 2.0, 5.0, 5.0, 5.0]]
    """
    out = np.array(to_numpy(disp), dtype=np.float32)  # a copy
    if out.ndim != 2:
        raise ValueError(f"disparity must have shape (H, W), got {out.shape}")
    height, width = out.shape
    valid = np.isfinite(out)
    out[~valid] = np.nan
    if valid.all() or not valid.any():
        return out
    cols = np.arange(width)
    left_idx = np.maximum.accumulate(np.where(valid, cols, -1), axis=1)
    right_idx = np.minimum.accumulate(np.where(valid, cols, width)[:, ::-1], axis=1)[:, ::-1]
    has_left, has_right = left_idx >= 0, right_idx < width
    rows = np.arange(height)[:, None]
    left_val = np.where(has_left, out[rows, np.clip(left_idx, 0, width - 1)], np.nan)
    right_val = np.where(has_right, out[rows, np.clip(right_idx, 0, width - 1)], np.nan)
    left_dist = np.where(has_left, cols - left_idx, width + 1)
    right_dist = np.where(has_right, right_idx - cols, width + 1)
    nearest = np.where(left_dist < right_dist, left_val,
                       np.where(right_dist < left_dist, right_val, np.fmin(left_val, right_val)))
    out = np.where(valid, out, nearest).astype(np.float32)
    row_ok = valid.any(axis=1)
    if not row_ok.all():
        idx = np.arange(height)
        above = np.maximum.accumulate(np.where(row_ok, idx, -1))
        below = np.minimum.accumulate(np.where(row_ok, idx, height)[::-1])[::-1]
        dist_above = np.where(above >= 0, idx - above, height + 1)
        dist_below = np.where(below < height, below - idx, height + 1)
        rows_above = out[np.clip(above, 0, height - 1)]
        rows_below = out[np.clip(below, 0, height - 1)]
        fallback = np.where((dist_above < dist_below)[:, None], rows_above,
                            np.where((dist_below < dist_above)[:, None], rows_below,
                                     np.fmin(rows_above, rows_below)))
        out[~row_ok] = fallback[~row_ok]
    return out


#: Baselines by name; each takes (left_img, right_img, *, max_disparity) and returns NaN for holes.
BASELINES = {"sgbm": sgbm_disparity, "bm": bm_disparity}


def _check_pair(left_img: Any, right_img: Any) -> tuple[np.ndarray, np.ndarray]:
    left, right = to_numpy(left_img), to_numpy(right_img)
    if left.shape != right.shape or left.ndim != 2:
        raise ValueError(f"left and right images must be (H, W) of one shape, "
                         f"got {left.shape} and {right.shape}")
    if left.dtype != np.uint8 or right.dtype != np.uint8:
        raise ValueError(f"block matching needs uint8 images, got {left.dtype} and {right.dtype}")
    return np.ascontiguousarray(left), np.ascontiguousarray(right)


def _compute(matcher, left: np.ndarray, right: np.ndarray, reach: int) -> np.ndarray:
    """``matcher.compute`` on frames of any width: OpenCV fails on frames narrower than the
    disparity range plus the block, so those get zero columns on the left, cut off afterwards
    (frames wide enough are matched as they are, so their results do not change)."""
    pad = reach if left.shape[1] <= reach else 0
    if pad:
        left, right = (np.pad(img, ((0, 0), (pad, 0))) for img in (left, right))
    return matcher.compute(left, right)[:, pad:]


def _num_disparities(max_disparity: int) -> int:
    if max_disparity < 1:
        raise ValueError(f"max_disparity must be >= 1 px, got {max_disparity}")
    return int(-(-max_disparity // 16) * 16)


def _from_fixed_point(raw: np.ndarray, max_disparity: int) -> np.ndarray:
    disp = raw.astype(np.float32) / _CV_DISPARITY_SCALE
    disp[(raw < 0) | (disp >= max_disparity)] = np.nan
    return disp
