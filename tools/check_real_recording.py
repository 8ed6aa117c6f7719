"""Plausibility check of ``stereo infer`` on a real stereo recording that has no ground truth.

Without GT one model-free estimate remains: in a window, the horizontal shift that best aligns the
right event-count image with the left one is the disparity of whatever made most of the events (a
single dominant object such as the swinging DVS128 pendulum). The check runs ``stereo infer`` with
semi-dense output (``--near-events``), then for every ``--every``-th window with enough events
compares that shift with the median predicted disparity on the left event pixels, prints both per
window and their agreement, and writes a picture (left events above the semi-dense disparity).

It is only meaningful for scenes with one dominant depth; the shift search assumes rectified
cameras (``d = x_left - x_right >= 0``) and ignores small vertical offsets.

Reproduce (the README figure):
    python -m tools.check_real_recording ../shared/data/real_events/dvs128_stereo_pendulum_30cm.npz \\
        --out /tmp/pendulum_check --width 128 --height 128 --near-events 2 --figure docs/dvs128_pendulum_infer.png
"""

from __future__ import annotations

import argparse
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np


def count_image(x: np.ndarray, y: np.ndarray, height: int, width: int) -> np.ndarray:
    """float64 (height, width) events per pixel; events outside the frame are dropped."""
    x, y = np.asarray(x, np.int64), np.asarray(y, np.int64)
    keep = (x >= 0) & (x < width) & (y >= 0) & (y < height)
    return np.bincount(y[keep] * width + x[keep], minlength=height * width).reshape(height, width).astype(float)


def dominant_shift(left: np.ndarray, right: np.ndarray, max_shift: int) -> int:
    """The shift ``d`` in ``0..max_shift`` px maximising the normalised correlation of
    ``left[:, d:]`` with ``right[:, :W-d]`` (a left pixel at column x matches right column x-d).

    Args:
        left, right: (H, W) event-count images of one window.
        max_shift: largest shift tried, px (< W).

    Returns:
        The best shift in px (0 when either image is empty).
    """
    width = left.shape[1]
    best, best_score = 0, -np.inf
    for d in range(min(max_shift, width - 1) + 1):
        a, b = left[:, d:], right[:, :width - d]
        norm = np.sqrt((a * a).sum() * (b * b).sum())
        score = (a * b).sum() / norm if norm > 0 else -np.inf
        if score > best_score:
            best, best_score = d, score
    return best


@dataclass(frozen=True)
class WindowCheck:
    index: int
    t_end: float
    left_events: int
    shift_px: int
    predicted_px: float  # median prediction on left event pixels (NaN when none kept)


def check_windows(left_events, right_events, out_dir: Path, *, height: int, width: int, window_s: float,
                  every: int, min_events: int, max_shift: int) -> list[WindowCheck]:
    """Compare the dominant shift with the predictions of an infer output folder, window by window."""
    from datasets.dsec import read_disparity_png

    ends = np.loadtxt(out_dir / "timestamps.txt", ndmin=1)
    rows = []
    for k in range(0, len(ends), every):
        images = []
        for ev in (left_events, right_events):
            lo, hi = np.searchsorted(ev.t, [ends[k] - window_s, ends[k]], side="right")
            images.append(count_image(ev.x[lo:hi], ev.y[lo:hi], height, width))
        if min(images[0].sum(), images[1].sum()) < min_events:
            continue
        disparity = read_disparity_png(out_dir / "disparity" / f"{k:06d}.png")
        on_events = disparity[(images[0] > 0) & np.isfinite(disparity)]
        predicted = float(np.median(on_events)) if on_events.size else float("nan")
        rows.append(WindowCheck(k, float(ends[k]), int(images[0].sum()),
                                dominant_shift(images[0], images[1], max_shift), predicted))
    return rows


def write_figure(path: Path, left_events, out_dir: Path, rows: list[WindowCheck], *, height: int, width: int,
                 window_s: float, max_disparity: float, panels: int = 4, scale: int = 2) -> Path:
    """Left events (top) above the colour-mapped semi-dense disparity (bottom) for ``panels``
    windows spread over the recording, each captioned with the shift and the median prediction."""
    import cv2

    from datasets.atomic import atomic_output
    from datasets.dsec import read_disparity_png
    from stereo.visualize import colorize_disparity, event_frame_image

    chosen = [rows[int(i)] for i in np.linspace(0, len(rows) - 1, min(panels, len(rows)))]
    columns = []
    for row in chosen:
        lo, hi = np.searchsorted(left_events.t, [row.t_end - window_s, row.t_end], side="right")
        events = event_frame_image(left_events.x[lo:hi], left_events.y[lo:hi], left_events.p[lo:hi], height, width)
        disparity = read_disparity_png(out_dir / "disparity" / f"{row.index:06d}.png")
        colour = colorize_disparity(disparity, max_disparity=max_disparity)  # black: no estimate
        column = np.concatenate([events, colour], axis=0)
        column = cv2.resize(column, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
        caption = np.full((22, column.shape[1], 3), 255, np.uint8)
        cv2.putText(caption, f"shift {row.shift_px} / net {row.predicted_px:.1f} px", (4, 16),
                    cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
        columns.append(np.concatenate([caption, column], axis=0))
        columns.append(np.full((columns[-1].shape[0], 4, 3), 255, np.uint8))
    image = np.concatenate(columns[:-1], axis=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    encoded, png = cv2.imencode(".png", np.ascontiguousarray(image[..., ::-1]))
    if not encoded:
        raise OSError(f"could not encode {path}")
    with atomic_output(path) as tmp:
        tmp.write_bytes(png.tobytes())
    return path


def main(argv: list[str] | None = None) -> list[WindowCheck]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recording", type=Path, help="plain stereo event file (npz/h5 with left and right)")
    parser.add_argument("--out", type=Path, required=True, help="infer output folder (replaced)")
    parser.add_argument("--model", type=Path, default=None, help="stereo checkpoint (default: the shipped model)")
    parser.add_argument("--width", type=int, default=None)
    parser.add_argument("--height", type=int, default=None)
    parser.add_argument("--near-events", type=int, default=2, help="semi-dense radius, px (see stereo infer)")
    parser.add_argument("--every", type=int, default=5, help="check every N-th window")
    parser.add_argument("--min-events", type=int, default=200, help="skip windows with fewer events per camera")
    parser.add_argument("--figure", type=Path, default=None, help="also write the picture here (PNG)")
    args = parser.parse_args(argv)

    from datasets.files import read_event_file
    from stereo.infer import infer_recording

    shutil.rmtree(args.out, ignore_errors=True)
    report = infer_recording(args.recording, args.out, model_path=args.model, width=args.width, height=args.height,
                             near_events_px=args.near_events)
    print(f"stereo infer: {report.summary_line()}")
    height, width = report.frame_size
    left, right = (read_event_file(args.recording, camera=cam) for cam in ("left", "right"))
    from stereo.infer import default_model_path
    from stereo.train import load_trained_model

    model, payload = load_trained_model(args.model or default_model_path())
    window_s = float(payload["extra"]["data"]["window_ms"]) / 1000.0
    max_disparity = int(model.config.max_disparity)
    rows = check_windows(left, right, args.out, height=height, width=width, window_s=window_s, every=args.every,
                         min_events=args.min_events, max_shift=max_disparity - 1)
    print("| window | t_end (s) | left events | dominant shift (px) | network, median on events (px) |")
    print("|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r.index} | {r.t_end:.2f} | {r.left_events} | {r.shift_px} | {r.predicted_px:.1f} |")
    shift = np.array([r.shift_px for r in rows], float)
    pred = np.array([r.predicted_px for r in rows], float)
    ok = np.isfinite(pred)
    if ok.sum() >= 2:
        diff = np.abs(shift[ok] - pred[ok])
        print(f"{ok.sum()} windows: mean |shift - network| {diff.mean():.2f} px, median {np.median(diff):.2f} px, "
              f"within 3 px {np.mean(diff <= 3) * 100:.0f} %, Pearson r {np.corrcoef(shift[ok], pred[ok])[0, 1]:.2f}")
    if args.figure is not None and rows:
        figure = write_figure(args.figure, left, args.out, rows, height=height, width=width, window_s=window_s,
                              max_disparity=max_disparity)
        print(f"wrote {figure}")
    return rows


if __name__ == "__main__":
    main()
