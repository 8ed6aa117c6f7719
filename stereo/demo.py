"""``stereo demo``: a new synthetic scene, the default model on it, the SGBM baseline, and a picture."""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

DEMO_SEED = 2026  # never used to make training data (the default model's recipe uses seeds 101-119)


@dataclass
class DemoReport:
    """What the demo measured and wrote.

    Attributes:
        model_metrics: frame-averaged metrics of the spiking model (%, px, m, m).
        baseline_metrics: the same for OpenCV SGBM on event images, holes filled.
        picture: PNG with events, GT, prediction and error of one window.
        infer_dir: the ``stereo infer`` output folder.
        seconds: wall time of the whole demo.
        energy_mj: the model's energy per frame (mJ), as ``stereo infer`` reports it.
    """

    model_metrics: dict
    baseline_metrics: dict
    picture: Path
    infer_dir: Path
    seconds: float
    energy_mj: float | None = None


def run_demo(out_dir: str | os.PathLike, *, seconds: float = 1.0, seed: int = DEMO_SEED,
             model_path: str | os.PathLike | None = None, overwrite: bool = False,
             device: str = "cpu") -> DemoReport:
    """Synthesise a scene, run ``stereo infer`` on it with GT, score SGBM on the same windows, draw one window.

    Args:
        out_dir: folder for the recording, the cache, the infer output and ``demo.png``.
        seconds: length of the scene.
        seed: scene seed (default: one never used for training).
        model_path: a checkpoint; None = the shipped default model.
        overwrite: reuse a non-empty ``out_dir``.
        device: torch device for the model.
    """
    from datasets.atomic import check_output_folder
    from datasets.synthetic import SynthConfig
    from datasets.synthetic.recording import FIRST_DEPTH_TIME_S
    from stereo.infer import default_model_path
    from stereo.train import load_trained_model

    started = time.monotonic()
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(f"{out} exists and is not empty (pass --overwrite to reuse it)")
    # Everything that can be refused is refused before the first file is written.
    config = SynthConfig(seconds=seconds, seed=seed)
    if seconds < FIRST_DEPTH_TIME_S:
        raise ValueError(f"--seconds must be at least {FIRST_DEPTH_TIME_S}, got {seconds}")
    load_trained_model(model_path if model_path is not None else default_model_path())
    check_output_folder(out)
    created = not out.exists()
    out.mkdir(exist_ok=True)
    try:
        return _run(out, config, model_path=model_path, device=device, started=started)
    except BaseException:
        if created:  # a failed demo leaves no folder that would block the next run
            shutil.rmtree(out, ignore_errors=True)
        raise


def _run(out: Path, config, *, model_path, device: str, started: float) -> DemoReport:
    """The demo's work in ``out``, which exists: synthesis, infer, SGBM, picture."""
    from datasets.cache import StereoCache, preprocess_recording
    from datasets.dsec import read_disparity_png
    from datasets.synthetic import synthesize_recording
    from stereo.baselines import tensor_event_image
    from stereo.evaluate import evaluate_on_caches
    from stereo.infer import infer_recording
    from stereo.visualize import side_by_side_figure

    seed = config.seed
    data_path, gt_path = synthesize_recording(out / "scene", config, overwrite=True)
    infer_dir = out / "infer"
    report = infer_recording(data_path, infer_dir, gt=gt_path, model_path=model_path, overwrite=True, device=device)
    model_metrics = json.loads((infer_dir / "metrics.json").read_text())

    cache = out / "scene.h5"
    preprocess_recording(data_path, cache, gt_path=gt_path, overwrite=True)
    baseline = evaluate_on_caches([str(cache)], checkpoint=None, baselines=("sgbm",))[0]["metrics"]

    with StereoCache(cache) as frames:
        k = len(frames) // 2
        sample = frames[k]
    pngs = sorted((infer_dir / "disparity").glob("*.png"))
    prediction = read_disparity_png(pngs[k])
    picture = side_by_side_figure(
        tensor_event_image(sample.left), sample.disparity, np.nan_to_num(prediction, nan=0.0),
        max_disparity=float(np.nanmax(sample.disparity)) if np.isfinite(sample.disparity).any() else 48.0,
        path=out / "demo.png", title=f"stereo demo: seed {seed}, window {k} (t = {sample.timestamp:.3f} s)",
    )
    return DemoReport(model_metrics=model_metrics, baseline_metrics=baseline, picture=picture, infer_dir=infer_dir,
                      seconds=time.monotonic() - started, energy_mj=report.energy_mj_per_frame)
