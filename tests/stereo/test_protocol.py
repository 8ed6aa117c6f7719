"""stereo.protocol: GT modes, averaging over frames, result files and the Markdown table."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from stereo.metrics import disparity_errors
from stereo.protocol import (
    PUBLISHED_SPLIT1,
    PUBLISHED_SPLIT3,
    GTMode,
    MetricAccumulator,
    ResultRow,
    markdown_table,
    prepare_ground_truth,
    results_record,
    row_from_summary,
    write_results_json,
)

NAN = math.nan


def test_averages_over_frames_not_pixels():
    # Frame A: 4 valid pixels, all exact -> 1PA 100, mean disparity error 0.
    # Frame B: 1 valid pixel, error 3 px -> 1PA 0, mean disparity error 3.
    # Over frames: 1PA 50, MDE 1.5. Pooled over the 5 pixels it would be 80 and 0.6.
    gt_a = np.full((2, 2), 10.0)
    gt_b = np.array([[10.0, NAN], [NAN, NAN]])
    acc = MetricAccumulator()
    acc.add(disparity_errors(gt_a.copy(), gt_a, focal_baseline=20.0))
    acc.add(disparity_errors(np.full((2, 2), 13.0), gt_b, focal_baseline=20.0))
    acc.add(disparity_errors(np.ones((2, 2)), np.full((2, 2), NAN), focal_baseline=20.0))  # skipped
    s = acc.summary()
    assert s["one_pixel_accuracy"] == pytest.approx(50.0)
    assert s["mean_disparity_error"] == pytest.approx(1.5)
    # depth: frame A 0; frame B |20/13 - 2| = 6/13 -> mean over frames 3/13
    assert s["mean_depth_error"] == pytest.approx(3 / 13)
    assert s["median_depth_error"] == pytest.approx(3 / 13)
    assert s["num_frames"] == 2.0 and s["num_skipped_frames"] == 1.0
    assert all(isinstance(v, float) for v in s.values())


def test_prefix_merge_and_state():
    rng = np.random.default_rng(0)
    frames = [disparity_errors(rng.uniform(1, 30, (4, 5)), rng.uniform(1, 30, (4, 5)), focal_baseline=19.94)
              for _ in range(6)]
    whole = MetricAccumulator(prefix="mvsec-split1-test")
    part1, part2 = MetricAccumulator(), MetricAccumulator()
    for i, frame in enumerate(frames):
        whole.add(frame)
        (part1 if i % 2 else part2).add(frame.to_dict())
    part1.merge(part2)
    restored = MetricAccumulator(prefix="mvsec-split1-test")
    restored.load_state(json.loads(json.dumps(part1.state())))
    s = whole.summary()
    assert set(s) == {f"mvsec-split1-test/{k}" for k in part1.summary()}
    for key, value in part1.summary().items():
        assert s[f"mvsec-split1-test/{key}"] == pytest.approx(value)
    assert restored.summary() == pytest.approx(s)
    assert s["mvsec-split1-test/mean_disparity_error"] == pytest.approx(
        np.mean([f.mean_disparity_error for f in frames]))


def test_empty_accumulator_is_nan_and_bad_input_raises():
    s = MetricAccumulator().summary()
    assert math.isnan(s["one_pixel_accuracy"]) and s["num_frames"] == 0.0
    with pytest.raises(KeyError, match="lack"):
        MetricAccumulator().add({"one_pixel_accuracy": 1.0})


def test_gt_modes():
    gt = np.array([[1.07, 36.3], [40.0, NAN]])
    sparse = np.array([[True, False], [True, True]])
    exact_dense = prepare_ground_truth(gt, GTMode())
    np.testing.assert_array_equal(exact_dense, gt)
    assert exact_dense is not gt
    ddes_dense = prepare_ground_truth(gt, GTMode("ddes", "dense"))
    np.testing.assert_allclose(ddes_dense, [[1.0, 254 / 7], [NAN, NAN]], equal_nan=True)
    ddes_sparse = prepare_ground_truth(gt, GTMode("ddes", "sparse"), sparse_mask=sparse)
    np.testing.assert_allclose(ddes_sparse, [[1.0, NAN], [NAN, NAN]], equal_nan=True)
    with pytest.raises(ValueError, match="sparse mask"):
        prepare_ground_truth(gt, GTMode(density="sparse"))
    with pytest.raises(ValueError, match="quantization"):
        GTMode("ddes7")
    with pytest.raises(ValueError, match="density"):
        GTMode(density="semi")
    assert GTMode("ddes", "sparse").describe() == "DDES-quantised sparse GT (last 15000 left events)"
    assert GTMode().describe() == "exact dense GT"


def test_write_results_json(tmp_path):
    acc = MetricAccumulator()
    acc.add(disparity_errors(np.full((2, 2), 3.0), np.full((2, 2), 2.0), focal_baseline=20.0))
    record = results_record(method="sgbm", metrics=acc.summary(), gt_mode=GTMode("ddes"),
                            focal_baseline=20.0, extra={"count": np.int64(3), "bad": float("nan")})
    path = tmp_path / "results.json"
    write_results_json(path, record)
    loaded = json.loads(path.read_text())
    assert loaded["metrics"]["one_pixel_accuracy"] == 100.0
    assert loaded["metrics"]["mean_depth_error"] == pytest.approx(10 - 20 / 3)
    assert loaded["gt_mode"]["quantization"] == "ddes"
    assert loaded["gt_mode"]["description"] == "DDES-quantised dense GT"
    assert loaded["units"]["mean_depth_error"] == "m"
    assert loaded["count"] == 3 and loaded["bad"] is None
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]  # no partial file left
    with pytest.raises(FileNotFoundError, match="output folder"):
        write_results_json(tmp_path / "missing" / "r.json", record)


def test_markdown_table_contents():
    acc = MetricAccumulator(prefix="syn")
    acc.add(disparity_errors(np.array([[2.0, 2.5]]), np.array([[2.0, 2.0]]), focal_baseline=20.0))
    ours = row_from_summary("ours", acc.summary(), prefix="syn", energy_mj=0.0123, note="synthetic | test")
    table = markdown_table([ours, *PUBLISHED_SPLIT1])
    lines = table.splitlines()
    assert lines[0] == ("| method | 1PA (%) | mean depth err (cm) | median depth err (cm) "
                        "| mean disp err (px) | energy (mJ) | notes |")
    assert lines[1] == "|---|---|---|---|---|---|---|"
    # depth errors 0 and |8 - 10| = 2 m -> mean 100 cm, median 100 cm; disp 0.25 px
    assert lines[2] == "| ours | 100.0 | 100.0 | 100.0 | 0.25 | 0.0123 | synthetic \\| test |"
    assert len(lines) == 2 + 1 + len(PUBLISHED_SPLIT1)
    ddes = next(line for line in lines if line.startswith("| DDES"))
    assert "~89.8 (unconfirmed)" in ddes and "| 16.7 |" in ddes and "~0.59 (unconfirmed)" in ddes
    spikedhs = next(line for line in lines if line.startswith("| SpikeDHS"))
    assert "| 91.5 | 15.2 | - | 0.53 | 6.7 |" in spikedhs
    dtc = next(line for line in lines if line.startswith("| DTC-PDS"))
    assert "| 93.9 | 12.9 | 5.2 | 0.47 | - |" in dtc
    assert all("published" in row.note for row in (*PUBLISHED_SPLIT1, *PUBLISHED_SPLIT3))
    split3 = markdown_table(PUBLISHED_SPLIT3)
    assert "| 27.8 |" in split3 and "| 18.4 |" in split3 and "| 14.6 |" in split3
    assert markdown_table([ResultRow("nothing")]).splitlines()[-1] == "| nothing | - | - | - | - | - |  |"
