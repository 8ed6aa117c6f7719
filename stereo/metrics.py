"""Per-frame stereo metrics of the MVSEC protocol, DDES ground-truth quantisation and sparse GT masks.

The metric of one frame is computed over its valid ground-truth pixels; a data set's score is the
average of the per-frame scores (see :mod:`stereo.protocol`), as DDES (Tulyakov et al., ICCV 2019)
and every later MVSEC paper do.

Design decisions (written once here; the functions point to them):

- **numpy core, torch accepted.** Metrics are evaluation, never differentiated, so the core works on
  numpy arrays in float64; torch tensors (any device) are detached and copied to the CPU first.
  A 260 x 346 frame is ~90 k values, so the copy costs little and CPU and CUDA results are identical.
- **Valid pixels** are those with finite ground truth ``gt > 0`` (and ``valid`` when given).
  Invalid ground truth is NaN (or +-inf); DDES stores it as 255 in its 7x PNGs, and converts that to
  inf before evaluating. Quantised GT of 0 px (a point at infinity) is therefore invalid here.
- **Predictions that are not an estimate** (NaN, inf) count as disparity 0 px, the DSEC "no estimate"
  value: a method cannot raise its score by abstaining on hard pixels.
- **Depth of a prediction of 0 px or less.** DDES converts with ``fB / (d + 1e-7)``, which turns a
  prediction of 0 into 2e8 m and lets one pixel dominate a frame's mean; StereoSpike regresses depth
  directly and never meets the case. We instead clamp the predicted disparity to
  ``min_disparity`` (default 1/7 px, the smallest nonzero disparity DDES's quantised GT can hold) before
  ``Z = fB / d``, so a zero prediction means "as far as the GT format can express" (139.6 m for
  indoor_flying): a finite, large error rather than inf. For every positive prediction above the
  clamp the result equals DDES's formula to within 1e-7 relative. The disparity metrics (nPA, mean
  disparity error) use the prediction unclamped.
- **Median** is numpy's (the mean of the two middle values for an even count); DDES uses torch's
  lower median. The two differ by at most half the gap between two neighbouring errors.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

#: DDES stores disparity multiplied by 7 in uint8 PNGs; 255 marks invalid pixels.
DDES_DISPARITY_MULTIPLIER = 7.0
DDES_INVALID_CODE = 255
#: Largest disparity representable in DDES's format: 254 / 7 = 36.2857 px.
DDES_MAX_DISPARITY = (DDES_INVALID_CODE - 1) / DDES_DISPARITY_MULTIPLIER
#: Default clamp of predicted disparity for the depth conversion (one DDES quantum).
DEFAULT_MIN_DISPARITY = 1.0 / DDES_DISPARITY_MULTIPLIER
#: DDES's sparse ground truth keeps pixels hit by the last 15,000 left events.
SPARSE_GT_EVENTS = 15000

METRIC_NAMES = (
    "one_pixel_accuracy",
    "two_pixel_accuracy",
    "three_pixel_accuracy",
    "mean_disparity_error",
    "mean_depth_error",
    "median_depth_error",
)
METRIC_UNITS = {
    "one_pixel_accuracy": "%",
    "two_pixel_accuracy": "%",
    "three_pixel_accuracy": "%",
    "mean_disparity_error": "px",
    "mean_depth_error": "m",
    "median_depth_error": "m",
}


@dataclass(frozen=True)
class FrameMetrics:
    """Metrics of one frame; all NaN (and ``num_valid_pixels == 0``) when the frame has no valid GT.

    Attributes:
        one_pixel_accuracy: % of valid pixels with ``|d_pred - d_gt| <= 1`` px.
        two_pixel_accuracy: the same with 2 px.
        three_pixel_accuracy: the same with 3 px.
        mean_disparity_error: mean ``|d_pred - d_gt|`` in px.
        mean_depth_error: mean ``|fB / d_pred - fB / d_gt|`` in metres.
        median_depth_error: median of the same, metres.
        num_valid_pixels: pixels the metrics were computed over.
    """

    one_pixel_accuracy: float
    two_pixel_accuracy: float
    three_pixel_accuracy: float
    mean_disparity_error: float
    mean_depth_error: float
    median_depth_error: float
    num_valid_pixels: int

    @property
    def is_empty(self) -> bool:
        """True when the frame had no valid ground-truth pixel (its metrics are NaN)."""
        return self.num_valid_pixels == 0

    def to_dict(self) -> dict[str, float]:
        """The metrics as a flat dict of floats (``num_valid_pixels`` included)."""
        return {key: float(value) for key, value in asdict(self).items()}

    @classmethod
    def empty(cls) -> FrameMetrics:
        """The metrics of a frame without a valid ground-truth pixel."""
        nan = math.nan
        return cls(nan, nan, nan, nan, nan, nan, 0)


def to_numpy(array: Any) -> np.ndarray:
    """Return a numpy view/copy of a numpy array, torch tensor (any device) or nested sequence."""
    if hasattr(array, "detach") and hasattr(array, "cpu"):  # torch.Tensor, without importing torch
        tensor = array.detach().cpu()
        if str(tensor.dtype) == "torch.bfloat16":  # numpy has no bfloat16 (AMP outputs)
            tensor = tensor.float()
        return tensor.numpy()
    return np.asarray(array)


def disparity_to_depth(disparity: Any, *, focal_baseline: float) -> np.ndarray:
    """Depth ``Z = fB / d`` in metres; NaN where ``d`` is not a positive finite number.

    (Kept here so the metrics do not depend on the data-set modules; ``focal_baseline`` is the
    rectified focal length times baseline in px*m, 19.941772 for MVSEC indoor_flying.)

    Args:
        disparity: (...) disparity in px.
        focal_baseline: fB in px*m.

    Returns:
        float64 (...) depth in metres.
    """
    d = to_numpy(disparity).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        depth = focal_baseline / d
    depth[~(np.isfinite(d) & (d > 0))] = np.nan
    return depth


def depth_to_disparity(depth: Any, *, focal_baseline: float) -> np.ndarray:
    """Disparity ``d = fB / Z`` in px; NaN where ``Z`` is not a positive finite number.

    Args:
        depth: (...) depth in metres (MVSEC marks missing depth with NaN).
        focal_baseline: fB in px*m.

    Returns:
        float64 (...) disparity in px.
    """
    return disparity_to_depth(depth, focal_baseline=focal_baseline)  # the same reciprocal map


def ddes_quantize(gt_disparity: Any) -> np.ndarray:
    """Quantise ground-truth disparity as DDES's converted MVSEC does: ``round(7 d) / 7``.

    A pixel becomes invalid (NaN) where ``d`` is NaN/inf or ``round(7 d) >= 255`` (DDES stores
    ``7 d`` in a uint8 PNG with 255 as the invalid code). With numpy's round-half-to-even, as DDES
    uses, the largest kept value is 254/7 = 36.2857 px and every ``d > 254.5 / 7 = 36.357`` px is
    dropped. Negative disparities (not produced by real depth) stay as they are and are invalid for
    the metrics anyway.

    Args:
        gt_disparity: (...) exact disparity in px, NaN invalid.

    Returns:
        float64 (...) quantised disparity in px, NaN invalid.

    Example:
        >>> ddes_quantize([1.0, 36.2, 36.3, 36.4, float("nan")]).round(4).tolist()
        [1.0, 36.1429, 36.2857, nan, nan]
    """
    d = to_numpy(gt_disparity).astype(np.float64)
    with np.errstate(invalid="ignore"):
        code = np.round(DDES_DISPARITY_MULTIPLIER * d)
        invalid = ~np.isfinite(code) | (code >= DDES_INVALID_CODE)
    quantised = code / DDES_DISPARITY_MULTIPLIER
    quantised[invalid] = np.nan
    return quantised


def sparse_gt_mask(x: Any, y: Any, height: int, width: int, *, last_n: int = SPARSE_GT_EVENTS) -> np.ndarray:
    """Pixels hit by the last ``last_n`` events of a window inside the image: DDES's sparse ground truth.

    Events outside the image are dropped before counting, as DDES counts events that are already
    rectified and cropped.

    Args:
        x: (N,) column of each left-camera event (rectified, integer-valued; floats are rounded),
            in time order.
        y: (N,) row of each event.
        height: image height in px.
        width: image width in px.
        last_n: number of most recent events that count (all when N <= last_n).

    Returns:
        bool (height, width) mask.
    """
    x = to_numpy(x).reshape(-1)
    y = to_numpy(y).reshape(-1)
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same length, got {x.shape[0]} and {y.shape[0]}")
    if last_n < 0:
        raise ValueError(f"last_n must be >= 0, got {last_n}")
    xs = np.rint(x).astype(np.int64)
    ys = np.rint(y).astype(np.int64)
    inside = (xs >= 0) & (xs < width) & (ys >= 0) & (ys < height)
    xs, ys = xs[inside], ys[inside]
    start = max(0, xs.shape[0] - last_n)
    mask = np.zeros((height, width), dtype=bool)
    mask[ys[start:], xs[start:]] = True
    return mask


def valid_gt_mask(gt_disparity: Any, valid: Any = None) -> np.ndarray:
    """bool mask of pixels that count: finite ``gt > 0``, and ``valid`` where given (same shape)."""
    gt = to_numpy(gt_disparity)
    with np.errstate(invalid="ignore"):
        mask = np.isfinite(gt) & (gt > 0)
    if valid is not None:
        extra = to_numpy(valid)
        if extra.shape != gt.shape:
            raise ValueError(f"valid mask shape {extra.shape} differs from ground truth shape {gt.shape}")
        mask &= extra.astype(bool)
    return mask


def disparity_errors(
    pred: Any,
    gt: Any,
    *,
    focal_baseline: float,
    valid: Any = None,
    min_disparity: float = DEFAULT_MIN_DISPARITY,
) -> FrameMetrics:
    """The MVSEC metrics of one frame.

    Over valid pixels (finite ``gt > 0`` and ``valid``), with ``e = |d_pred - d_gt|``:
    ``nPA = 100 - 100 * mean(e > n)`` (strictly greater: an error of exactly n px is correct),
    mean disparity error ``mean(e)``, and depth errors ``mean / median |fB / max(d_pred, d_min) -
    fB / d_gt|``. Non-finite predictions count as 0 px. See the module docstring for why.

    Args:
        pred: (H, W) predicted disparity in px (numpy or torch; (1, H, W) also accepted).
        gt: (H, W) ground-truth disparity in px, NaN (or inf, or <= 0) invalid.
        focal_baseline: fB in px*m used for the depth conversion.
        valid: optional (H, W) bool mask of pixels to evaluate (e.g. :func:`sparse_gt_mask`).
        min_disparity: clamp of the predicted disparity for the depth conversion only, px (> 0).

    Returns:
        FrameMetrics; all NaN with ``num_valid_pixels == 0`` when no pixel is valid.

    Example:
        >>> m = disparity_errors([[2.0, 3.5]], [[1.0, 3.0]], focal_baseline=6.0)
        >>> m.one_pixel_accuracy, m.mean_disparity_error, m.mean_depth_error
        (100.0, 0.75, 1.6428571428571428)
    """
    if min_disparity <= 0:
        raise ValueError(f"min_disparity must be > 0 px, got {min_disparity}")
    if focal_baseline <= 0:
        raise ValueError(f"focal_baseline must be > 0 px*m, got {focal_baseline}")
    pred = _as_frame(to_numpy(pred), "pred")
    gt = _as_frame(to_numpy(gt), "gt")
    if valid is not None:
        valid = _as_frame(to_numpy(valid), "valid")
    if pred.shape != gt.shape:
        raise ValueError(f"prediction shape {pred.shape} differs from ground truth shape {gt.shape}")
    mask = valid_gt_mask(gt, valid)
    count = int(mask.sum())
    if count == 0:
        return FrameMetrics.empty()
    d_gt = gt[mask].astype(np.float64)
    d_pred = pred[mask].astype(np.float64)
    d_pred[~np.isfinite(d_pred)] = 0.0
    err = np.abs(d_pred - d_gt)
    depth_err = np.abs(focal_baseline / np.maximum(d_pred, min_disparity) - focal_baseline / d_gt)
    return FrameMetrics(
        one_pixel_accuracy=100.0 - 100.0 * float(np.mean(err > 1.0)),
        two_pixel_accuracy=100.0 - 100.0 * float(np.mean(err > 2.0)),
        three_pixel_accuracy=100.0 - 100.0 * float(np.mean(err > 3.0)),
        mean_disparity_error=float(err.mean()),
        mean_depth_error=float(depth_err.mean()),
        median_depth_error=float(np.median(depth_err)),
        num_valid_pixels=count,
    )


def batch_disparity_errors(
    pred: Any,
    gt: Any,
    *,
    focal_baseline: float,
    valid: Any = None,
    min_disparity: float = DEFAULT_MIN_DISPARITY,
) -> list[FrameMetrics]:
    """:func:`disparity_errors` for each frame of a batch.

    Args:
        pred: (B, H, W) or (B, 1, H, W) predicted disparity, px.
        gt: same shape as ``pred``, ground-truth disparity, px, NaN invalid.
        focal_baseline: fB in px*m.
        valid: optional bool mask of the same shape.
        min_disparity: see :func:`disparity_errors`.

    Returns:
        One FrameMetrics per frame, in batch order.
    """
    pred = to_numpy(pred)
    gt = to_numpy(gt)
    if pred.ndim not in (3, 4) or pred.shape != gt.shape:
        raise ValueError(f"expected pred and gt of one shape (B, H, W) or (B, 1, H, W), "
                         f"got {pred.shape} and {gt.shape}")
    masks = [None] * pred.shape[0] if valid is None else to_numpy(valid)
    return [disparity_errors(p, g, focal_baseline=focal_baseline, valid=m, min_disparity=min_disparity)
            for p, g, m in zip(pred, gt, masks, strict=True)]


def _as_frame(array: np.ndarray, name: str) -> np.ndarray:
    """Accept (H, W) or (1, H, W); anything else is an error naming the argument."""
    if array.ndim == 3 and array.shape[0] == 1:
        array = array[0]
    if array.ndim != 2:
        raise ValueError(f"{name} must be one frame of shape (H, W) or (1, H, W), got shape {array.shape}")
    return array
