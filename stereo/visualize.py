"""Pictures of event windows, disparity maps and their errors (RGB uint8 arrays and a PNG figure).

All images are RGB (H, W, 3) uint8; OpenCV writes BGR, so pass ``image[..., ::-1]`` to
``cv2.imwrite``. Colour maps come from matplotlib, so the arrays and the figure's colour bars agree:
disparity uses "viridis" (perceptually uniform; its dark end is purple, so black can mark pixels
without a value), errors use "magma" with white for pixels without ground truth. The figure is drawn
with the Agg canvas directly: no display and no pyplot global state.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from datasets.atomic import atomic_output
from stereo.metrics import to_numpy

DISPARITY_CMAP = "viridis"
ERROR_CMAP = "magma"
ON_COLOR = (220, 30, 30)
OFF_COLOR = (30, 60, 220)
MIXED_COLOR = (140, 40, 160)


def _lut(cmap: str) -> np.ndarray:
    """(256, 3) uint8 lookup table of a matplotlib colour map."""
    import matplotlib

    try:
        colormap = matplotlib.colormaps[cmap]
    except KeyError:
        raise ValueError(f"unknown colour map {cmap!r}") from None
    return np.rint(colormap(np.linspace(0.0, 1.0, 256))[:, :3] * 255).astype(np.uint8)


def colorize(
    values: Any,
    *,
    vmin: float,
    vmax: float,
    cmap: str,
    invalid_color: tuple[int, int, int] = (0, 0, 0),
    valid: Any = None,
) -> np.ndarray:
    """Map a scalar image to colours: ``vmin`` -> start of ``cmap``, ``vmax`` -> its end (clipped).

    Args:
        values: (H, W) scalars (numpy or torch).
        vmin: value at the start of the colour map.
        vmax: value at the end (> vmin).
        cmap: matplotlib colour map name.
        invalid_color: RGB of pixels that are non-finite or outside ``valid``.
        valid: optional (H, W) bool mask of pixels to colour.

    Returns:
        uint8 (H, W, 3) RGB image.
    """
    v = to_numpy(values).astype(np.float64)
    if v.ndim != 2:
        raise ValueError(f"expected an (H, W) image, got shape {v.shape}")
    if not vmax > vmin:
        raise ValueError(f"colour range must satisfy vmax > vmin, got vmin={vmin}, vmax={vmax}")
    ok = np.isfinite(v)
    if valid is not None:
        ok &= to_numpy(valid).astype(bool)
    index = np.rint(np.clip((np.where(ok, v, vmin) - vmin) / (vmax - vmin), 0.0, 1.0) * 255).astype(np.intp)
    image = _lut(cmap)[index]
    image[~ok] = np.asarray(invalid_color, dtype=np.uint8)
    return image


def colorize_disparity(
    disp: Any,
    *,
    max_disparity: float,
    invalid_color: tuple[int, int, int] = (0, 0, 0),
    cmap: str = DISPARITY_CMAP,
) -> np.ndarray:
    """Colour a disparity map: 0 px -> dark purple (far), ``max_disparity`` -> yellow (near).

    Args:
        disp: (H, W) disparity in px; NaN/inf are drawn in ``invalid_color``. (1, H, W) accepted.
        max_disparity: disparity at the top of the colour map, px (larger values saturate).
        invalid_color: RGB for pixels without a value (black by default).
        cmap: matplotlib colour map.

    Returns:
        uint8 (H, W, 3) RGB image.

    Example:
        >>> colorize_disparity([[0.0, 48.0, float("nan")]], max_disparity=48).tolist()
        [[[68, 1, 84], [253, 231, 37], [0, 0, 0]]]
    """
    d = to_numpy(disp)
    if d.ndim == 3 and d.shape[0] == 1:
        d = d[0]
    return colorize(d, vmin=0.0, vmax=float(max_disparity), cmap=cmap, invalid_color=invalid_color)


def error_map(
    pred: Any,
    gt: Any,
    *,
    max_error: float = 4.0,
    invalid_color: tuple[int, int, int] = (255, 255, 255),
    cmap: str = ERROR_CMAP,
) -> np.ndarray:
    """Colour ``|pred - gt|``: black for 0 px, bright for ``max_error`` px or more; white without GT.

    Args:
        pred: (H, W) predicted disparity, px (non-finite predictions count as 0 px, as in the metrics).
        gt: (H, W) ground-truth disparity, px; pixels that are not finite and > 0 have no GT.
        max_error: error at the top of the colour map, px.
        invalid_color: RGB for pixels without ground truth.
        cmap: matplotlib colour map.

    Returns:
        uint8 (H, W, 3) RGB image.
    """
    p, g = to_numpy(pred).astype(np.float64), to_numpy(gt).astype(np.float64)
    if p.shape != g.shape:
        raise ValueError(f"prediction shape {p.shape} differs from ground truth shape {g.shape}")
    p = np.where(np.isfinite(p), p, 0.0)
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(g) & (g > 0)
    return colorize(np.abs(p - np.where(valid, g, 0.0)), vmin=0.0, vmax=max_error, cmap=cmap,
                    invalid_color=invalid_color, valid=valid)


def event_frame_image(
    x: Any,
    y: Any,
    p: Any,
    height: int,
    width: int,
    *,
    background: str = "white",
) -> np.ndarray:
    """Draw an event window: pixels whose polarities sum above 0 red (ON), below 0 blue (OFF).

    Pixels with events that cancel out are purple; pixels without events show the background.

    Args:
        x: (N,) event columns (integer-valued; floats are rounded). Events outside are ignored.
        y: (N,) event rows.
        p: (N,) polarities, ``p > 0`` is ON.
        height: image height in px.
        width: image width in px.
        background: "white" or "black".

    Returns:
        uint8 (height, width, 3) RGB image.
    """
    if background not in ("white", "black"):
        raise ValueError(f"background must be 'white' or 'black', got {background!r}")
    xs = np.rint(to_numpy(x).reshape(-1)).astype(np.int64)
    ys = np.rint(to_numpy(y).reshape(-1)).astype(np.int64)
    ps = to_numpy(p).reshape(-1)
    if not (xs.shape == ys.shape == ps.shape):
        raise ValueError(f"x, y and p must have one length, got {xs.shape[0]}, {ys.shape[0]}, {ps.shape[0]}")
    inside = (xs >= 0) & (xs < width) & (ys >= 0) & (ys < height)
    flat = ys[inside] * width + xs[inside]
    size = height * width
    sign = np.where(ps[inside] > 0, 1.0, -1.0)
    net = np.bincount(flat, weights=sign, minlength=size).reshape(height, width)
    hit = np.bincount(flat, minlength=size).reshape(height, width) > 0
    image = np.full((height, width, 3), 255 if background == "white" else 0, dtype=np.uint8)
    image[hit & (net == 0)] = MIXED_COLOR
    image[net > 0] = ON_COLOR
    image[net < 0] = OFF_COLOR
    return image


def side_by_side_figure(
    events_img: Any,
    gt_disp: Any,
    pred_disp: Any,
    *,
    max_disparity: float,
    path: str | os.PathLike,
    title: str | None = None,
    max_error: float = 4.0,
    dpi: int = 100,
) -> Path:
    """Write a PNG with four labelled panels: events, GT disparity, predicted disparity, |error|.

    The two disparity panels share one colour bar (px), the error panel has its own; the error panel
    title gives the frame's mean disparity error and 1PA over pixels with ground truth. Written
    atomically.

    Args:
        events_img: (H, W, 3) uint8 RGB (e.g. :func:`event_frame_image`) or (H, W) grey image.
        gt_disp: (H, W) ground-truth disparity, px, NaN where unknown.
        pred_disp: (H, W) predicted disparity, px.
        max_disparity: top of the disparity colour scale, px.
        path: output PNG path (its folder must exist).
        title: optional figure title.
        max_error: top of the error colour scale, px.
        dpi: resolution; each panel is drawn at about its native size at 100 dpi.

    Returns:
        The path written.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    events = to_numpy(events_img)
    gt = to_numpy(gt_disp).astype(np.float64)
    pred = to_numpy(pred_disp).astype(np.float64)
    if gt.ndim != 2 or gt.shape != pred.shape or events.shape[:2] != gt.shape:
        raise ValueError(f"events image {events.shape}, GT {gt.shape} and prediction {pred.shape} "
                         "must share one (H, W) size")
    height, width = gt.shape
    panels = [
        ("left events", events if events.ndim == 3 else np.repeat(events[..., None], 3, axis=2)),
        ("ground-truth disparity", colorize_disparity(gt, max_disparity=max_disparity)),
        ("predicted disparity", colorize_disparity(pred, max_disparity=max_disparity)),
        (_error_title(pred, gt), error_map(pred, gt, max_error=max_error)),
    ]
    fig = Figure(figsize=(2 * width / 100 + 2.4, 2 * height / 100 + (1.2 if title else 0.8)), dpi=dpi,
                 layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, 2)
    for ax, (label, image) in zip(axes.flat, panels, strict=True):
        ax.imshow(image, interpolation="nearest")
        ax.set_title(label, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
    disparity_scale = ScalarMappable(Normalize(0.0, max_disparity), DISPARITY_CMAP)
    for ax in (axes[0, 1], axes[1, 0]):
        fig.colorbar(disparity_scale, ax=ax, label="disparity (px)", shrink=0.9)
    fig.colorbar(ScalarMappable(Normalize(0.0, max_error), ERROR_CMAP), ax=axes[1, 1],
                 label="|error| (px); white: no GT", shrink=0.9)
    legend = [Patch(color=np.asarray(c) / 255, label=n) for c, n in ((ON_COLOR, "ON"), (OFF_COLOR, "OFF"))]
    axes[0, 0].legend(handles=legend, loc="upper right", fontsize=8, framealpha=0.8)
    # An invisible colour bar keeps the events panel as wide as the other three.
    fig.colorbar(disparity_scale, ax=axes[0, 0], shrink=0.9).ax.set_visible(False)
    if title:
        fig.suptitle(title, fontsize=11)
    with atomic_output(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    return Path(path)


def _error_title(pred: np.ndarray, gt: np.ndarray) -> str:
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(gt) & (gt > 0)
    if not valid.any():
        return "|error|: no ground truth"
    err = np.abs(np.where(np.isfinite(pred), pred, 0.0)[valid] - gt[valid])
    return f"|error|: mean {err.mean():.2f} px, 1PA {100.0 * np.mean(err <= 1.0):.1f}%"
