"""tools/error_breakdown: per-region and per-disparity errors against a hand-worked frame and stereo.metrics."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from test_bench import write_tiny_model

from stereo.metrics import disparity_errors
from tools.bench_accuracy import benchmark_recordings
from tools.error_breakdown import ErrorBreakdown, breakdown_on_benchmark, main


def test_hand_worked_frame():
    gt = np.array([[1.0, 2.0, np.nan, 12.0, 6.0]])
    pred = np.array([[1.5, 4.0, 3.0, np.nan, 6.0]])  # NaN prediction counts as 0 px
    on_event = np.array([[True, False, False, False, False]])
    near = np.array([[True, True, True, False, False]])
    breakdown = ErrorBreakdown(near_px=1)
    breakdown.add("m", pred, gt, on_event, near)
    cells = breakdown.summary()["m"]
    # signed errors of the valid pixels: +0.5 (event), +2 (near), -12 (far), 0 (far)
    assert cells["all"] == {"pixels": 4, "one_pixel_accuracy": 50.0, "mean_error_px": 14.5 / 4, "bias_px": -9.5 / 4}
    assert cells["on an event"]["pixels"] == 1 and cells["on an event"]["bias_px"] == 0.5
    assert cells["1-1 px from one"] == {"pixels": 1, "one_pixel_accuracy": 0.0, "mean_error_px": 2.0, "bias_px": 2.0}
    assert cells["farther"]["pixels"] == 2 and cells["farther"]["one_pixel_accuracy"] == 50.0
    assert cells["gt 0-5 px"]["pixels"] == 2 and cells["gt 5-10 px"]["bias_px"] == 0.0
    assert cells["gt 10-20 px"]["mean_error_px"] == 12.0
    assert cells["gt 30+ px"]["pixels"] == 0 and math.isnan(cells["gt 30+ px"]["one_pixel_accuracy"])
    table = breakdown.to_markdown()
    assert "| on an event | 1 | 25.0 | 100.0 | 0.50 | +0.50 |" in table and "gt 30+" not in table


def test_all_pixels_agree_with_the_mvsec_metrics():
    rng = np.random.default_rng(0)
    gt = rng.uniform(0.5, 40, (30, 40))
    gt[rng.random(gt.shape) < 0.2] = np.nan
    pred = gt + rng.normal(0, 2, gt.shape)
    events = rng.random(gt.shape) < 0.1
    breakdown = ErrorBreakdown()
    breakdown.add("m", pred, gt, events, events)
    cells = breakdown.summary()["m"]
    reference = disparity_errors(pred, gt, focal_baseline=20.0)
    assert cells["all"]["one_pixel_accuracy"] == pytest.approx(reference.one_pixel_accuracy)
    assert cells["all"]["mean_error_px"] == pytest.approx(reference.mean_disparity_error)
    regions = sum(cells[g]["pixels"] for g in breakdown.regions)
    ranges = sum(cells[g]["pixels"] for g in breakdown.ranges)
    assert regions == ranges == cells["all"]["pixels"]


def test_bad_shapes_and_radius_are_refused():
    with pytest.raises(ValueError, match="near_px"):
        ErrorBreakdown(near_px=0)
    with pytest.raises(ValueError, match="shapes differ"):
        ErrorBreakdown().add("m", np.zeros((2, 2)), np.zeros((2, 3)), np.zeros((2, 2), bool), np.zeros((2, 2), bool))


def test_on_the_benchmark_and_from_the_command_line(tmp_path, capsys):
    torch.set_num_threads(1)
    model_path = write_tiny_model(tmp_path / "tiny.pt")
    recordings = benchmark_recordings(tmp_path / "cache", seconds=0.1)
    from tools.bench import load_model

    _, model, payload = load_model(str(model_path))
    result = breakdown_on_benchmark(model, payload, recordings, max_windows=1)
    assert set(result.cells) == {"model", "SGBM"}
    assert result.summary()["SGBM"]["all"]["pixels"] == result.summary()["model"]["all"]["pixels"] > 0

    out = tmp_path / "breakdown.json"
    main(["--model", str(model_path), "--cache-dir", str(tmp_path / "cache"), "--seconds", "0.1", "--windows", "1",
          "--out", str(out)])
    assert "| group | pixels |" in capsys.readouterr().out
    assert json.loads(out.read_text())["groups"]["model"]["all"]["pixels"] > 0
    with pytest.raises(SystemExit, match="no such|not found"):
        main(["--model", str(tmp_path / "missing.pt")])
