"""The MVSEC evaluation protocol around the per-frame metrics: GT modes, averaging, reports.

A data set's score is the mean over frames of the per-frame metrics of :mod:`stereo.metrics`
(frames without a valid ground-truth pixel are skipped and counted). Ground truth comes in four
modes: exact or DDES-quantised disparity, dense (every valid pixel) or sparse (pixels hit by the
last 15,000 left events). Every result records its mode, and :func:`markdown_table` renders rows in
the layout of DESIGN.md's reference table next to the published numbers.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from datasets.atomic import atomic_output
from stereo.metrics import METRIC_NAMES, METRIC_UNITS, SPARSE_GT_EVENTS, FrameMetrics, ddes_quantize, to_numpy

QUANTIZATIONS = ("exact", "ddes")
DENSITIES = ("dense", "sparse")


@dataclass(frozen=True)
class GTMode:
    """How ground-truth disparity is prepared for scoring.

    Attributes:
        quantization: "exact" (disparity from depth as is) or "ddes" (``round(7 d) / 7``, invalid
            above 36.29 px, as DDES and the papers after it evaluate).
        density: "dense" (every valid pixel) or "sparse" (pixels hit by the last ``sparse_events``
            left events of the window).
        sparse_events: the event count of the sparse mode.
    """

    quantization: str = "exact"
    density: str = "dense"
    sparse_events: int = SPARSE_GT_EVENTS

    def __post_init__(self) -> None:
        if self.quantization not in QUANTIZATIONS:
            raise ValueError(f"unknown GT quantization {self.quantization!r}; choose one of {QUANTIZATIONS}")
        if self.density not in DENSITIES:
            raise ValueError(f"unknown GT density {self.density!r}; choose one of {DENSITIES}")
        if self.sparse_events <= 0:
            raise ValueError(f"sparse_events must be > 0, got {self.sparse_events}")

    def describe(self) -> str:
        """One phrase for reports, e.g. ``'DDES-quantised sparse GT (last 15000 left events)'``."""
        kind = "DDES-quantised" if self.quantization == "ddes" else "exact"
        if self.density == "sparse":
            return f"{kind} sparse GT (last {self.sparse_events} left events)"
        return f"{kind} dense GT"

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for result files (includes the description)."""
        return {**dataclasses.asdict(self), "description": self.describe()}


def prepare_ground_truth(gt_disparity: Any, mode: GTMode, *, sparse_mask: Any = None) -> np.ndarray:
    """Ground-truth disparity as scored under ``mode``; NaN marks pixels that do not count.

    Args:
        gt_disparity: (H, W) exact disparity in px, NaN invalid (numpy or torch).
        mode: the GT mode.
        sparse_mask: (H, W) bool, pixels hit by the last ``mode.sparse_events`` left events
            (:func:`stereo.metrics.sparse_gt_mask`, or a cache's ``sparse_mask``); required when
            ``mode.density == "sparse"``.

    Returns:
        float64 (H, W) disparity in px, NaN where invalid.
    """
    gt = to_numpy(gt_disparity).astype(np.float64)  # a copy: the caller's array stays as it is
    if mode.quantization == "ddes":
        gt = ddes_quantize(gt)
    if mode.density == "sparse":
        if sparse_mask is None:
            raise ValueError("sparse GT mode needs the sparse mask (pixels hit by the last left events); "
                             "none was given")
        mask = to_numpy(sparse_mask).astype(bool)
        if mask.shape != gt.shape:
            raise ValueError(f"sparse mask shape {mask.shape} differs from ground truth shape {gt.shape}")
        gt[~mask] = np.nan
    return gt


class MetricAccumulator:
    """Averages per-frame metrics over frames (not over pixels), skipping frames without valid GT.

    Example:
        >>> from stereo.metrics import disparity_errors
        >>> acc = MetricAccumulator(prefix="syn")
        >>> acc.add(disparity_errors([[1.0, 5.0]], [[1.0, 2.0]], focal_baseline=20.0))
        >>> acc.add(disparity_errors([[1.0]], [[float("nan")]], focal_baseline=20.0))
        >>> s = acc.summary()
        >>> s["syn/one_pixel_accuracy"], s["syn/num_frames"], s["syn/num_skipped_frames"]
        (50.0, 1.0, 1.0)
    """

    def __init__(self, *, prefix: str | None = None) -> None:
        self.prefix = prefix
        self._values: dict[str, list[float]] = {name: [] for name in METRIC_NAMES}
        self._num_skipped = 0

    @property
    def num_frames(self) -> int:
        """Frames that entered the averages (they had at least one valid GT pixel)."""
        return len(self._values[METRIC_NAMES[0]])

    @property
    def num_skipped_frames(self) -> int:
        """Frames without a valid GT pixel, left out of the averages."""
        return self._num_skipped

    def add(self, metrics: FrameMetrics | Mapping[str, float]) -> None:
        """Add one frame's metrics; a frame whose metrics are NaN counts as skipped."""
        values = metrics.to_dict() if isinstance(metrics, FrameMetrics) else dict(metrics)
        missing = [name for name in METRIC_NAMES if name not in values]
        if missing:
            raise KeyError(f"frame metrics lack {missing}")
        if any(math.isnan(float(values[name])) for name in METRIC_NAMES):
            self._num_skipped += 1
            return
        for name in METRIC_NAMES:
            self._values[name].append(float(values[name]))

    def merge(self, other: MetricAccumulator) -> None:
        """Add all frames of another accumulator (e.g. gathered from another process)."""
        self.load_state(other.state(), add=True)

    def state(self) -> dict[str, Any]:
        """Picklable/JSON-able state (per-frame values and the skipped count)."""
        return {"values": {k: list(v) for k, v in self._values.items()}, "num_skipped": self._num_skipped}

    def load_state(self, state: Mapping[str, Any], *, add: bool = False) -> None:
        """Replace (or with ``add=True`` extend) the state with one from :meth:`state`."""
        if not add:
            self._values = {name: [] for name in METRIC_NAMES}
            self._num_skipped = 0
        for name in METRIC_NAMES:
            self._values[name].extend(float(v) for v in state["values"][name])
        self._num_skipped += int(state["num_skipped"])

    def means(self) -> dict[str, float]:
        """Mean of each metric over the counted frames (NaN when there are none), unprefixed."""
        return {name: (math.fsum(v) / len(v) if v else math.nan) for name, v in self._values.items()}

    def summary(self) -> dict[str, float]:
        """Flat dict of floats: the means, ``num_frames`` and ``num_skipped_frames``.

        Keys are ``'<prefix>/<name>'`` when a prefix was given (e.g.
        ``'mvsec-split1-test/one_pixel_accuracy'``), else the bare names of :data:`METRIC_NAMES`
        (the keys of ``stereo infer``'s ``metrics.json``: %, px, m, m).
        """
        flat = {**self.means(), "num_frames": float(self.num_frames),
                "num_skipped_frames": float(self.num_skipped_frames)}
        if self.prefix:
            return {f"{self.prefix}/{key}": value for key, value in flat.items()}
        return flat


def results_record(
    *,
    method: str,
    metrics: Mapping[str, float],
    gt_mode: GTMode,
    focal_baseline: float,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The dict an evaluation writes: method, metrics (with units), GT mode and fB, plus ``extra``."""
    return {
        "method": method,
        "metrics": dict(metrics),
        "units": dict(METRIC_UNITS),
        "gt_mode": gt_mode.to_dict(),
        "focal_baseline": focal_baseline,
        **(dict(extra) if extra else {}),
    }


def write_results_json(path: str | os.PathLike, results: Any) -> None:
    """Write ``results`` as indented JSON atomically; NaN/inf become null, numpy/dataclass values plain.

    Raises:
        FileNotFoundError / PermissionError: the output folder is missing or not writable.
    """
    text = json.dumps(_jsonable(results), indent=2, allow_nan=False) + "\n"
    with atomic_output(path) as tmp:
        tmp.write_text(text)


def _jsonable(value: Any) -> Any:
    """Recursively turn numpy scalars/arrays, dataclasses, tuples and non-finite floats into JSON."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return value


@dataclass(frozen=True)
class ResultRow:
    """One row of the results table; ``None`` renders as "-".

    Attributes:
        method: name shown in the first column.
        one_pixel_accuracy: %.
        mean_depth_error: metres (rendered in cm).
        median_depth_error: metres (rendered in cm).
        mean_disparity_error: px.
        energy_mj: energy per frame, mJ.
        note: data set, split, GT mode, source.
        unconfirmed: names of fields whose published value could not be checked.
    """

    method: str
    one_pixel_accuracy: float | None = None
    mean_depth_error: float | None = None
    median_depth_error: float | None = None
    mean_disparity_error: float | None = None
    energy_mj: float | None = None
    note: str = ""
    unconfirmed: tuple[str, ...] = ()


def row_from_summary(
    method: str,
    summary: Mapping[str, float],
    *,
    prefix: str | None = None,
    energy_mj: float | None = None,
    note: str = "",
) -> ResultRow:
    """A table row from :meth:`MetricAccumulator.summary` (with the same ``prefix``)."""
    key = (lambda name: f"{prefix}/{name}") if prefix else (lambda name: name)

    def get(name: str) -> float | None:
        value = summary.get(key(name))
        return None if value is None or math.isnan(value) else float(value)

    return ResultRow(method, get("one_pixel_accuracy"), get("mean_depth_error"), get("median_depth_error"),
                     get("mean_disparity_error"), energy_mj, note)


#: Published MVSEC indoor_flying split 1 numbers (DESIGN.md section 5), not measured here.
PUBLISHED_SPLIT1: tuple[ResultRow, ...] = (
    ResultRow("DDES (ICCV 2019, ANN)", 89.8, 0.167, None, 0.59, None,
              "published; split 1 test", ("one_pixel_accuracy", "mean_disparity_error")),
    ResultRow("StereoSpike (2022, SNN)", None, 0.165, None, None, None,
              "published; split 1 test; v2 preprint 18.5 cm; energy: firing rates only"),
    ResultRow("SpikeDHS (authors' log)", 91.5, 0.152, None, 0.53, 6.7,
              "published; split 1 validation (authors' released log); energy from the paper"),
    ResultRow("DTC-PDS (ANN)", 93.9, 0.129, 0.052, 0.47, None, "published; split 1 validation"),
    ResultRow("best event-only ANNs 2024", None, 0.121, None, None, None,
              "published; split 1 test; range 12.1-13.9 cm across methods"),
)
#: Published split 3 mean depth errors (DESIGN.md section 5).
PUBLISHED_SPLIT3: tuple[ResultRow, ...] = (
    ResultRow("DDES (ICCV 2019, ANN)", mean_depth_error=0.278, note="published; split 3 test"),
    ResultRow("StereoSpike (2022, SNN)", mean_depth_error=0.184, note="published; split 3 test"),
    ResultRow("best event-only ANNs 2024", mean_depth_error=0.146,
              note="published; split 3 test; range 14.6-15.6 cm across methods"),
)

_COLUMNS = (
    # header, field, scale, format
    ("1PA (%)", "one_pixel_accuracy", 1.0, "{:.1f}"),
    ("mean depth err (cm)", "mean_depth_error", 100.0, "{:.1f}"),
    ("median depth err (cm)", "median_depth_error", 100.0, "{:.1f}"),
    ("mean disp err (px)", "mean_disparity_error", 1.0, "{:.2f}"),
    ("energy (mJ)", "energy_mj", 1.0, "{:.3g}"),
)


def markdown_table(rows: Iterable[ResultRow]) -> str:
    """Render rows as a Markdown table in the layout of DESIGN.md's reference table.

    Columns: method | 1PA (%) | mean depth err (cm) | median depth err (cm) | mean disp err (px) |
    energy (mJ) | notes. Missing values print "-", unconfirmed published values "~x (unconfirmed)".

    Example:
        >>> table = markdown_table([ResultRow("ours", 91.0, 0.15, 0.05, 0.5, 1.2, "synthetic")])
        >>> print(table.splitlines()[-1])
        | ours | 91.0 | 15.0 | 5.0 | 0.50 | 1.2 | synthetic |
    """
    header = ["method", *(c[0] for c in _COLUMNS), "notes"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for row in rows:
        cells = [_escape(row.method)]
        for _, field, scale, fmt in _COLUMNS:
            value = getattr(row, field)
            if value is None or not math.isfinite(value):
                cells.append("-")
                continue
            text = fmt.format(value * scale)
            cells.append(f"~{text} (unconfirmed)" if field in row.unconfirmed else text)
        cells.append(_escape(row.note))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
