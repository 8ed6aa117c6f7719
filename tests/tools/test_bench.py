"""``stereo bench`` smoke test at tiny settings, the ANN peer, peak memory, the dv matcher and agreement
of the benchmark's scores with ``stereo eval stereo`` on the same windows."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from search.checkpoint import save_checkpoint
from search.named_genotypes import get_genotype
from stereo.network import SpikingStereoNet, StereoNetConfig
from stereo.train import CHECKPOINT_KIND
from tools.bench_accuracy import benchmark_recordings, dv_available, dv_semidense_disparity, evaluate_benchmark
from tools.bench_inference import PeakMemory, ann_peer, measure_throughput


def write_tiny_model(path: Path) -> Path:
    """An untrained, tiny stereo checkpoint in the `stereo train stereo` format (voxel, 5 bins, 50 ms)."""
    config = StereoNetConfig(in_channels=5, max_disparity=12, timesteps=1, feature_filter_multiplier=1,
                             matching_filter_multiplier=1)
    torch.manual_seed(0)
    genotype = get_genotype("spikedhs_mvsec")
    save_checkpoint(path, model=SpikingStereoNet(genotype, config), epoch=0, config={}, genotype=genotype.to_dict(),
                    kind=CHECKPOINT_KIND,
                    extra={"network": config.to_dict(),
                           "data": {"representation": "voxel", "num_bins": 5, "window_ms": 50.0, "height": 260,
                                    "width": 346, "focal_baseline": 19.941772}})
    return path


@pytest.fixture(scope="module")
def bench_files(tmp_path_factory) -> tuple[Path, list[tuple[Path, Path]]]:
    folder = tmp_path_factory.mktemp("bench")
    torch.set_num_threads(1)
    return write_tiny_model(folder / "tiny.pt"), benchmark_recordings(folder / "cache", seconds=0.2)


def test_bench_quick_writes_json_table_and_plots(bench_files, tmp_path, run_cli):
    model, recordings = bench_files
    cache = recordings[0][0].parent
    out = tmp_path / "out"
    code, stdout, err = run_cli("bench", "--quick", "--model", model, "--out", out, "--cache-dir", cache,
                                "--height", 24, "--width", 36, "--windows", 2, "--events", 20000, "--repeats", 1,
                                "--threads", 1, "--device", "cpu")
    assert code == 0, err
    result = json.loads((out / "bench.json").read_text())
    assert set(result) >= {"preprocess", "inference", "accuracy", "machine", "wall_seconds", "plots"}
    assert result["preprocess"]["max_abs_diff_to_numpy"] < 1e-4
    assert all(r > 0 for r in result["preprocess"]["events_per_s"].values() if r is not None)
    names = [r["name"] for r in result["inference"]]
    assert len(names) == 4 and sum("ANN peer" in n for n in names) == 2
    assert all(r["windows_per_s"] > 0 and (r["height"], r["width"]) == (24, 36) for r in result["inference"])
    scores = {s["method"]: s for s in result["accuracy"]["scores"]}
    assert any("StereoSGBM" in m for m in scores) and any("StereoBM" in m for m in scores)
    model_row = result["accuracy"]["scores"][0]
    assert model_row["metrics"]["num_frames"] == 2
    assert model_row["energy_mj_per_frame"] > 0 and 0 <= model_row["mean_firing_rate"] <= 1
    for name in ("bench.md", "accuracy_vs_energy.png", "throughput.png"):
        assert (out / name).is_file()
    assert (out / "throughput.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| method | 1PA (%) | 2PA (%)" in stdout and "ours is x faster" in stdout


def test_bench_accuracy_on_chosen_seeds(bench_files, tmp_path, run_cli):
    model, recordings = bench_files
    cache = recordings[0][0].parent
    out = tmp_path / "seeds"
    code, _, err = run_cli("bench", "--section", "accuracy", "--model", model, "--out", out, "--cache-dir", cache,
                           "--seconds", 0.2, "--windows", 2, "--threads", 1, "--device", "cpu", "--seed", 303)
    assert code == 0, err
    used = json.loads((out / "bench.json").read_text())["accuracy"]["recordings"]
    assert len(used) == 1 and "seed303_" in used[0]
    code, _, err = run_cli("bench", "--section", "accuracy", "--model", model, "--out", out, "--seconds", 0.1)
    assert code != 0 and "--seconds" in err and "Traceback" not in err
    refused = tmp_path / "refused"
    code, _, err = run_cli("bench", "--section", "accuracy", "--model", model, "--out", refused, "--seed", -5)
    assert code != 0 and "--seed" in err and "Traceback" not in err and not refused.exists()


def test_benchmark_scores_agree_with_stereo_eval_on_the_same_windows(bench_files, tmp_path):
    from datasets.cache import preprocess_recording
    from stereo.evaluate import evaluate_on_caches
    from stereo.train import load_trained_model

    model_path, recordings = bench_files
    data, gt = recordings[0]
    cache = tmp_path / "rec.h5"
    preprocess_recording(data, cache, gt_path=gt, representation="voxel", num_bins=5, window_ms=50.0)
    reference = {r["method"].split(" ")[0]: r["metrics"]
                 for r in evaluate_on_caches([str(cache)], checkpoint=str(model_path), baselines=("sgbm",))}
    model, payload = load_trained_model(model_path)
    scores = evaluate_benchmark(model, payload, [(data, gt)], baselines=("sgbm",), batch_size=2)
    ours = {"spiking": scores[0].metrics, "SGBM": scores[1].metrics}
    for method, metrics in reference.items():
        assert ours[method]["num_frames"] == metrics["num_frames"] > 0
        for key in ("one_pixel_accuracy", "mean_disparity_error", "mean_depth_error", "median_depth_error"):
            assert ours[method][key] == pytest.approx(metrics[key], rel=1e-4, abs=1e-5), (method, key)


def test_ann_peer_has_relu_neurons_one_step_and_the_same_layers():
    config = StereoNetConfig(in_channels=2, max_disparity=12, timesteps=3, feature_filter_multiplier=2,
                             matching_filter_multiplier=2)
    net = SpikingStereoNet(get_genotype("spikedhs_mvsec"), config)
    peer = ann_peer(net)
    assert peer.config.timesteps == 1 and not peer.config.neuron.spiking
    kinds = {type(m).__name__ for m in peer.modules()}
    assert "ReLU" in kinds and not any(k.endswith("Node") for k in kinds)
    assert {k: v.shape for k, v in peer.state_dict().items()} == {k: v.shape for k, v in net.state_dict().items()}
    # With the spiking net's weights, the peer's conv/BN pipeline gives a real-valued, finite disparity.
    peer.load_state_dict(net.state_dict())
    x = torch.rand(1, 2, 12, 18)
    out = peer(x, x).disparity
    assert out.shape == (1, 1, 12, 18) and torch.isfinite(out).all()
    result = measure_throughput(peer, name="peer", height=12, width=18, repeats=1, warmup=0)
    assert result.windows_per_s > 0 and result.timesteps == 1 and not result.spiking


def test_peak_memory_sees_a_large_allocation():
    if not Path("/proc/self/clear_refs").exists():
        pytest.skip("no /proc/self/clear_refs on this system")
    import mmap

    with PeakMemory("cpu") as peak:
        # Fresh anonymous pages (malloc could reuse freed, still resident heap memory), all touched.
        block = mmap.mmap(-1, 40_000_000)
        np.frombuffer(block, np.uint8)[:] = 1
        block.close()
    assert peak.megabytes is not None and peak.megabytes > 30


@pytest.mark.skipif(not dv_available(), reason="dv-processing not installed")
def test_dv_matcher_finds_a_known_shift():
    from datasets.events import Events

    rng = np.random.default_rng(0)
    height, width, shift = 60, 80, 6
    n = 4000
    x = rng.integers(shift, width, n)
    y = rng.integers(0, height, n)
    t = 1.5e9 + np.sort(rng.random(n)) * 0.05
    p = rng.choice([-1, 1], n)
    left = Events.from_arrays(x, y, t, p, width=width, height=height)
    right = Events.from_arrays(x - shift, y, t, p, width=width, height=height)
    disp = dv_semidense_disparity(left, right, height=height, width=width)
    valid = np.isfinite(disp)
    assert valid.mean() > 0.2
    assert math.isclose(float(np.median(disp[valid])), shift, abs_tol=0.5)


def test_bench_without_a_model_fails_cleanly(tmp_path, run_cli, monkeypatch):
    import stereo.infer

    def no_model():
        raise FileNotFoundError("no default model shipped; pass --model")

    monkeypatch.setattr(stereo.infer, "default_model_path", no_model)
    out = tmp_path / "out"
    code, _, err = run_cli("bench", "--quick", "--out", out, "--cache-dir", tmp_path / "cache")
    assert code != 0 and "Traceback" not in err
    assert err.strip().count("\n") == 0 and "--model" in err
    assert not out.exists()
    code, _, err = run_cli("bench", "--model", tmp_path / "missing.pt", "--out", out)
    assert code != 0 and "missing.pt" in err and not out.exists()
    code, _, err = run_cli("bench", "--quick", "--seconds", 0.1, "--out", out)
    assert code != 0 and "--seconds" in err and not out.exists()


def test_bench_cache_dir_or_out_that_is_a_file_is_refused(tmp_path, run_cli):
    (tmp_path / "file").write_text("x")
    for option in ("--cache-dir", "--out"):
        out = tmp_path / "out"
        args = ["--out", out, "--cache-dir", tmp_path / "cache"]
        args[args.index(option) + 1] = tmp_path / "file"
        code, _, err = run_cli("bench", "--section", "preprocess", "--quick", *args)
        assert code == 1 and "is a file, not a folder" in err and err.strip().count("\n") == 0
        assert not out.exists()
