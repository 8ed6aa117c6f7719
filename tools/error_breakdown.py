"""Where a stereo model loses to OpenCV SGBM: errors by distance to the nearest event and by true disparity.

On the held-out benchmark of ``stereo bench`` (seeds 301 and 302; the same windows, event tensors,
SGBM settings and hole filling) every valid pixel of every window falls into one region (on a
left event, within ``--near-px`` of one, farther) and one range of true disparity. For each
method and group the tool prints pixels, 1PA (error <= 1 px, as the MVSEC metrics count it),
mean |error| and the signed bias ``mean(pred - gt)`` in px, and writes them as JSON.

Pixels are pooled over windows here (the protocol averages per frame first), so the "all" row
can differ from ``stereo bench`` by a fraction of a point.

Reproduce (the README tables):
    python -m tools.error_breakdown --seconds 2           # shipped model, the 2 s recordings of the accuracy table
    python -m tools.error_breakdown                       # 0.5 s recordings as `stereo bench --quick`
    python -m tools.error_breakdown --model runs/x/best.pt --seconds 1 --out breakdown.json
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass

import numpy as np

DISPARITY_EDGES = (0.0, 5.0, 10.0, 20.0, 30.0, math.inf)


@dataclass
class GroupErrors:
    """Running sums of one (method, group) cell."""

    pixels: int = 0
    within_one_px: int = 0
    abs_error_sum: float = 0.0
    signed_error_sum: float = 0.0

    def add(self, signed_error: np.ndarray) -> None:
        """Add the signed errors ``pred - gt`` (px) of some pixels."""
        self.pixels += int(signed_error.size)
        self.within_one_px += int(np.count_nonzero(np.abs(signed_error) <= 1.0))
        self.abs_error_sum += float(np.abs(signed_error).sum())
        self.signed_error_sum += float(signed_error.sum())

    def summary(self) -> dict[str, float]:
        """``pixels``, ``one_pixel_accuracy`` (%), ``mean_error_px``, ``bias_px`` (NaN for an empty group)."""
        n = self.pixels
        return {"pixels": n,
                "one_pixel_accuracy": 100.0 * self.within_one_px / n if n else math.nan,
                "mean_error_px": self.abs_error_sum / n if n else math.nan,
                "bias_px": self.signed_error_sum / n if n else math.nan}


def _range_label(low: float, high: float) -> str:
    return f"gt {low:g}+ px" if math.isinf(high) else f"gt {low:g}-{high:g} px"


class ErrorBreakdown:
    """Accumulates per-group errors of several methods over windows.

    Groups: ``"all"``, the regions ``"on an event"``, ``"1-r px from one"``, ``"farther"``
    (Chebyshev distance to the nearest pixel with a left event), and one group per interval
    ``[low, high)`` of :data:`DISPARITY_EDGES`.

    Args:
        near_px: r, the outer radius of the middle region (>= 1).
    """

    def __init__(self, near_px: int = 2) -> None:
        if near_px < 1:
            raise ValueError(f"near_px must be >= 1, got {near_px}")
        self.near_px = near_px
        self.regions = ("on an event", f"1-{near_px} px from one", "farther")
        self.ranges = tuple(_range_label(lo, hi)
                            for lo, hi in zip(DISPARITY_EDGES[:-1], DISPARITY_EDGES[1:], strict=True))
        self.groups = ("all", *self.regions, *self.ranges)
        self.cells: dict[str, dict[str, GroupErrors]] = {}

    def add(self, method: str, pred: np.ndarray, gt: np.ndarray, on_event: np.ndarray, near_event: np.ndarray) -> None:
        """Add one window of one method.

        Args:
            method: label of the method.
            pred: (H, W) predicted disparity px; non-finite counts as 0 px (as in :mod:`stereo.metrics`).
            gt: (H, W) true disparity px; pixels with non-finite or non-positive GT are skipped.
            on_event: (H, W) bool, pixels with a left event.
            near_event: (H, W) bool, pixels within ``near_px`` of one (a superset of ``on_event``).
        """
        if not (pred.shape == gt.shape == on_event.shape == near_event.shape):
            raise ValueError(f"shapes differ: pred {pred.shape}, gt {gt.shape}, masks {on_event.shape}, "
                             f"{near_event.shape}")
        cells = self.cells.setdefault(method, {group: GroupErrors() for group in self.groups})
        valid = np.isfinite(gt) & (gt > 0)
        signed = np.where(np.isfinite(pred), pred, 0.0) - np.where(valid, gt, 0.0)
        masks = {"all": valid, self.regions[0]: valid & on_event, self.regions[1]: valid & near_event & ~on_event,
                 self.regions[2]: valid & ~near_event}
        for label, low, high in zip(self.ranges, DISPARITY_EDGES[:-1], DISPARITY_EDGES[1:], strict=True):
            masks[label] = valid & (gt >= low) & (gt < high)
        for group, mask in masks.items():
            cells[group].add(signed[mask])

    def summary(self) -> dict[str, dict[str, dict[str, float]]]:
        """``{method: {group: GroupErrors.summary()}}``."""
        return {method: {group: cell.summary() for group, cell in cells.items()}
                for method, cells in self.cells.items()}

    def to_markdown(self) -> str:
        """One row per group, one column block (1PA %, mean px, bias px) per method."""
        methods = list(self.cells)
        summary = self.summary()
        header = "| pixels | share (%) |" + "".join(f" {m}: 1PA (%) | mean (px) | bias (px) |" for m in methods)
        lines = ["| group " + header, "|---|---:|---:|" + "---:|---:|---:|" * len(methods)]
        total = summary[methods[0]]["all"]["pixels"] if methods else 0
        for group in self.groups:
            first = summary[methods[0]][group]
            if not first["pixels"]:
                continue  # e.g. no true disparity above 30 px in the benchmark
            row = f"| {group} | {first['pixels']:,} | {100.0 * first['pixels'] / max(total, 1):.1f} |"
            for method in methods:
                cell = summary[method][group]
                row += f" {cell['one_pixel_accuracy']:.1f} | {cell['mean_error_px']:.2f} | {cell['bias_px']:+.2f} |"
            lines.append(row)
        return "\n".join(lines)


def breakdown_on_benchmark(model, payload: dict, recordings, *, near_px: int = 2, max_windows: int | None = None,
                           model_name: str = "model") -> ErrorBreakdown:
    """Run the model and SGBM on the benchmark windows (as :func:`tools.bench_accuracy.evaluate_benchmark`).

    Windows without events in either view are skipped (``stereo infer`` gives no estimate there).
    """
    import torch

    from stereo.baselines import baseline_disparity, tensor_event_image
    from stereo.infer import checkpoint_settings, near_events_mask
    from stereo.protocol import GTMode, prepare_ground_truth
    from tools.bench_accuracy import benchmark_windows

    settings = checkpoint_settings(payload, in_channels=model.config.in_channels, source=model_name)
    result = ErrorBreakdown(near_px)
    for source, window in benchmark_windows(recordings, settings.window_ms, max_windows):
        if len(window.left.t) == 0 or len(window.right.t) == 0:
            continue
        gt = prepare_ground_truth(window.gt_disparity, GTMode())
        left, right = settings.window_tensors(window, height=source.height, width=source.width)
        with torch.no_grad():
            pred = model(torch.from_numpy(left)[None], torch.from_numpy(right)[None]).disparity[0, 0].numpy()
        sgbm = baseline_disparity(tensor_event_image(left), tensor_event_image(right), method="sgbm",
                                  max_disparity=model.config.max_disparity)
        on_event, near_event = near_events_mask(left, 0), near_events_mask(left, near_px)
        result.add(model_name, pred, gt, on_event, near_event)
        result.add("SGBM", sgbm, gt, on_event, near_event)
    if not result.cells:
        raise ValueError("the benchmark recordings hold no window with events in both views")
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="stereo checkpoint (default: the shipped model)")
    parser.add_argument("--seconds", type=float, default=0.5, help="length of each benchmark recording, s "
                                                                   "(0.5 = the recordings of `stereo bench --quick`)")
    parser.add_argument("--windows", type=int, default=None, help="stop after this many windows (default: all)")
    parser.add_argument("--near-px", type=int, default=2, help="outer radius of the 'near an event' region, px")
    parser.add_argument("--cache-dir", default=None, help="benchmark recordings folder (default: stereo bench's)")
    parser.add_argument("--out", default=None, help="also write the breakdown as JSON here")
    args = parser.parse_args(argv)
    try:
        from stereo.protocol import write_results_json
        from tools.bench import default_cache_dir, load_model
        from tools.bench_accuracy import benchmark_recordings

        if args.near_px < 1:
            raise ValueError(f"--near-px must be >= 1, got {args.near_px}")
        path, model, payload = load_model(args.model)
        recordings = benchmark_recordings(args.cache_dir or default_cache_dir(), seconds=args.seconds)
        result = breakdown_on_benchmark(model, payload, recordings, near_px=args.near_px, max_windows=args.windows)
        print(result.to_markdown())
        if args.out:
            write_results_json(args.out, {"model": str(path), "seconds": args.seconds, "near_px": args.near_px,
                                          "pooled_over_pixels": True, "groups": result.summary()})
            print(f"wrote {args.out}")
    except (ValueError, FileNotFoundError, PermissionError) as exc:
        sys.exit(f"error: {exc}")
    print(f"reproduce: python -m tools.error_breakdown --seconds {args.seconds:g} --near-px {args.near_px}"
          + (f" --model {args.model}" if args.model else ""))


if __name__ == "__main__":
    main()
