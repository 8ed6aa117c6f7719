"""Accuracy of a stereo model and of classical matchers on a fixed held-out synthetic benchmark.

The benchmark is ``stereo synth`` recordings with seeds never used for training or tuning
(:data:`BENCH_SEEDS`: training uses 101-107, the SGBM settings were tuned on 11 and 23), written
once into a cache folder and reused. Every method sees the same windows (the GT timestamps of
each recording, ``(t - window, t]``), read and rectified as ``stereo infer`` reads them:

- the model: event tensors built exactly as ``stereo preprocess`` builds them, from the settings
  stored in its checkpoint;
- OpenCV StereoSGBM and StereoBM: on event images of the same tensors
  (:func:`stereo.baselines.tensor_event_image`, as ``stereo eval stereo --baseline``);
- iniVation's ``SemiDenseStereoMatcher`` (dv-processing, optional): on the window's events with its
  own default accumulators and SGBM settings;

and every classical output gets the same hole filling (nearest valid pixel on the row). Scores are
the MVSEC protocol on exact dense GT (per frame, then averaged over frames). Energy and firing
rates of the model are measured on the first ``energy_windows`` windows and averaged.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

BENCH_SEEDS = (301, 302)
_DV_FIXED_POINT = 16.0


def benchmark_recordings(cache_dir: str | Path, *, seeds: tuple[int, ...] = BENCH_SEEDS,
                         seconds: float = 1.0) -> list[tuple[Path, Path]]:
    """The benchmark recordings, synthesised into ``cache_dir`` the first time only.

    Returns:
        ``[(data.hdf5, gt.hdf5), ...]`` one pair per seed.
    """
    from datasets.synthetic import SynthConfig, synthesize_recording
    from datasets.synthetic.config import GENERATOR_VERSION

    folder = Path(cache_dir)
    folder.mkdir(parents=True, exist_ok=True)
    pairs = []
    for seed in seeds:
        prefix = folder / f"bench_v{GENERATOR_VERSION}_seed{seed}_{seconds:g}s"
        data, gt = Path(f"{prefix}_data.hdf5"), Path(f"{prefix}_gt.hdf5")
        if not (data.is_file() and gt.is_file()):
            data, gt = synthesize_recording(prefix, SynthConfig(seconds=seconds, seed=seed), overwrite=True,
                                            show_progress=False)
        pairs.append((data, gt))
    return pairs


def dv_available() -> bool:
    """Whether iniVation's dv-processing package can be imported."""
    try:
        import dv_processing  # noqa: F401
    except ImportError:
        return False
    return True


def dv_semidense_disparity(left, right, *, height: int, width: int) -> np.ndarray:
    """Disparity of one window from dv-processing's ``SemiDenseStereoMatcher`` (its defaults), NaN holes.

    Args:
        left, right: rectified :class:`datasets.events.Events` of the window.
        height, width: frame size in px.

    Returns:
        float32 (H, W) disparity in px, NaN where the matcher gave no estimate.
    """
    import dv_processing as dv

    stores = []
    for events in (left, right):
        store = dv.EventStore()
        # dv timestamps are int64 microseconds; only differences matter to the accumulator.
        stamps = np.rint((events.t - events.t[0]) * 1e6).astype(np.int64) if len(events.t) else []
        for x, y, t, p in zip(events.x.tolist(), events.y.tolist(), list(stamps), events.p.tolist(), strict=True):
            store.push_back(int(t), x, y, p > 0)
        stores.append(store)
    matcher = dv.SemiDenseStereoMatcher((width, height), (width, height))  # fresh: no state between windows
    raw = matcher.computeDisparity(stores[0], stores[1])
    disp = raw.astype(np.float32) / _DV_FIXED_POINT
    disp[raw < 0] = np.nan
    return disp


@dataclass
class MethodScore:
    """One method on the benchmark.

    Attributes:
        method: label.
        metrics: frame-averaged metrics (``stereo.metrics.METRIC_NAMES``, frame counts).
        seconds_per_window: wall time per window of the method alone (model: per window in batches).
        energy_mj_per_frame: model energy on neuromorphic hardware (None for classical methods).
        ann_equivalent_mj_per_frame: the same network charged MACs everywhere.
        mean_firing_rate: mean input firing rate of the spiking layers.
        notes: remarks.
    """

    method: str
    metrics: dict[str, float]
    seconds_per_window: float
    energy_mj_per_frame: float | None = None
    ann_equivalent_mj_per_frame: float | None = None
    mean_firing_rate: float | None = None
    notes: list[str] = field(default_factory=list)


def benchmark_windows(recordings: list[tuple[Path, Path]], window_ms: float, max_windows: int | None) -> Iterator:
    """``(source, window)`` for the windows every method is scored on: one per GT frame, ``(t - window_ms, t]``."""
    from stereo.recordings import iter_windows, open_recording, plan_windows

    count = 0
    for data, gt in recordings:
        with open_recording(data, gt=gt) as source:
            plan = plan_windows(source, window_ms=window_ms, every_ms=window_ms)
            for window in iter_windows(source, plan, window_ms=window_ms):
                if max_windows is not None and count >= max_windows:
                    return
                count += 1
                yield source, window


def evaluate_benchmark(model, payload: dict, recordings: list[tuple[Path, Path]], *, model_name: str = "model",
                       baselines: tuple[str, ...] = ("sgbm", "bm", "dv"), max_windows: int | None = None,
                       batch_size: int = 4, energy_windows: int = 2, device: str | torch.device = "cpu",
                       progress: Callable[[int], None] | None = None) -> list[MethodScore]:
    """Score the model and the classical baselines on the same benchmark windows.

    Args:
        model: a trained :class:`stereo.network.SpikingStereoNet` (eval mode).
        payload: its checkpoint payload (preprocessing settings in ``extra["data"]``).
        recordings: ``(data, gt)`` pairs (:func:`benchmark_recordings`).
        model_name: label of the model row.
        baselines: any of "sgbm", "bm", "dv" ("dv" is skipped with a note when dv-processing is absent).
        max_windows: stop after this many windows over all recordings (None: all).
        batch_size: windows per model forward pass.
        energy_windows: windows on which energy and firing rates are measured.
        device: torch device of the model.
        progress: called with 1 after each window.

    Returns:
        One :class:`MethodScore` per method, the model first.
    """
    from search.cost import energy_report
    from stereo.baselines import baseline_disparity, fill_holes_nearest_on_row, tensor_event_image
    from stereo.infer import checkpoint_settings
    from stereo.metrics import disparity_errors
    from stereo.protocol import GTMode, MetricAccumulator, prepare_ground_truth

    unknown = set(baselines) - {"sgbm", "bm", "dv"}
    if unknown:
        raise ValueError(f"unknown baseline(s) {', '.join(sorted(unknown))}; choose from sgbm, bm, dv")
    settings = checkpoint_settings(payload, in_channels=model.config.in_channels, source=model_name)
    max_disparity = model.config.max_disparity
    methods = [m for m in baselines if m != "dv" or dv_available()]
    accumulators = {name: MetricAccumulator() for name in ("model", *methods)}
    seconds = dict.fromkeys(accumulators, 0.0)
    energies: list = []
    pending: list[tuple[np.ndarray, np.ndarray, np.ndarray, float, bool]] = []
    gt_mode = GTMode()

    def flush() -> None:
        if not pending:
            return
        left = torch.from_numpy(np.stack([p[0] for p in pending])).to(device)
        right = torch.from_numpy(np.stack([p[1] for p in pending])).to(device)
        start = time.perf_counter()
        with torch.no_grad():
            pred = model(left, right).disparity[:, 0].float().cpu().numpy()
        seconds["model"] += time.perf_counter() - start
        if len(energies) < energy_windows:
            energies.append(energy_report(model, left[:1], right[:1], num_samples=1))
        for disp, (_, _, gt, fb, empty) in zip(pred, pending, strict=True):
            accumulators["model"].add(disparity_errors(np.full_like(disp, np.nan) if empty else disp, gt,
                                                       focal_baseline=fb))
        pending.clear()

    for source, window in benchmark_windows(recordings, settings.window_ms, max_windows):
        height, width = source.height, source.width
        fb = float(source.focal_baseline)
        gt = prepare_ground_truth(window.gt_disparity, gt_mode)
        empty = len(window.left.t) == 0 or len(window.right.t) == 0  # `stereo infer`: no estimate
        tensors = settings.window_tensors(window, height=height, width=width)
        pending.append((tensors[0], tensors[1], gt, fb, empty))
        for name in methods:
            start = time.perf_counter()
            if empty:
                disp = np.full((height, width), np.nan, np.float32)
            elif name == "dv":
                disp = fill_holes_nearest_on_row(dv_semidense_disparity(window.left, window.right, height=height,
                                                                        width=width))
            else:
                disp = baseline_disparity(tensor_event_image(tensors[0]), tensor_event_image(tensors[1]),
                                          method=name, max_disparity=max_disparity)
            seconds[name] += time.perf_counter() - start
            accumulators[name].add(disparity_errors(disp, gt, focal_baseline=fb))
        if len(pending) >= batch_size:
            flush()
        if progress is not None:
            progress(1)
    flush()

    frames = accumulators["model"].num_frames + accumulators["model"].num_skipped_frames
    if frames == 0:
        raise ValueError("the benchmark recordings hold no window with events and ground truth")
    labels = {"sgbm": "OpenCV StereoSGBM on event images (holes filled)",
              "bm": "OpenCV StereoBM on event images (holes filled)",
              "dv": "dv-processing SemiDenseStereoMatcher (holes filled)"}
    spiking_rates = [layer.input_rate for report in energies for layer in report.layers if layer.spiking_input]
    scores = [MethodScore(
        method=model_name, metrics=accumulators["model"].summary(), seconds_per_window=seconds["model"] / frames,
        energy_mj_per_frame=float(np.mean([r.total_mj for r in energies])),
        ann_equivalent_mj_per_frame=float(np.mean([r.ann_equivalent_mj for r in energies])),
        mean_firing_rate=float(np.mean(spiking_rates)) if spiking_rates else 0.0,
        notes=[f"energy and firing rates averaged over {len(energies)} windows"])]
    for name in methods:
        scores.append(MethodScore(method=labels[name], metrics=accumulators[name].summary(),
                                  seconds_per_window=seconds[name] / frames))
    if "dv" in baselines and "dv" not in methods:
        scores.append(MethodScore(method=labels["dv"], metrics={}, seconds_per_window=float("nan"),
                                  notes=["skipped: dv-processing is not installed (pip install dv-processing)"]))
    return scores
