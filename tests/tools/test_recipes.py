"""Dry runs of the reproduction recipes (every stage on synthetic data with tiny settings), the split
logic they rely on, subset caches, and resuming: a second run skips every finished stage."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from tools.recipe_mvsec import split_frames
from tools.recipe_steps import run_stereo, write_subset_cache


def test_mvsec_dry_run_end_to_end_then_resume(tmp_path, capsys):
    from tools.recipe_mvsec import run_recipe

    workdir = tmp_path / "mvsec"
    results = run_recipe(1, workdir=workdir, dry_run=True)
    split = workdir / "split1"
    assert (split / "search" / "genotype.json").is_file()
    assert (split / "train" / "best.pt").is_file()
    assert set(results) == {"test_ddes", "test_exact", "val_ddes", "val_exact"}
    for records in results.values():
        methods = [r["method"] for r in records]
        assert methods[0].startswith("spiking stereo") and "SGBM" in methods[1]
        assert records[0]["metrics"]["num_frames"] >= 1 and records[0]["energy_mj_per_frame"] > 0
    assert results["test_ddes"][0]["gt_mode"]["quantization"] == "ddes"
    # The test and validation caches hold disjoint frames of the test sequence (flying1 for split 1).
    with h5py.File(split / "val_indoor_flying1.h5") as val, h5py.File(split / "test_indoor_flying1.h5") as test:
        assert not set(val["frame_index"][:]) & set(test["frame_index"][:])
    table = (split / "results.md").read_text()
    assert "synthetic dry run" in table and "SpikeDHS (authors' log)" in table
    capsys.readouterr()
    run_recipe(1, workdir=workdir, dry_run=True)  # everything exists: no stage runs again
    assert "$ stereo" not in capsys.readouterr().out


def test_cifar_dry_run_end_to_end_then_resume(tmp_path, capsys):
    from tools.recipe_cifar import run_recipe

    metrics = run_recipe("cifar10", workdir=tmp_path / "cifar", dry_run=True)
    assert 0 <= metrics["top1"] <= 100 and metrics["energy_mj_per_sample"] > 0
    genotype = json.loads((tmp_path / "cifar" / "search" / "genotype.json").read_text())
    assert "classify" in genotype["cells"]
    assert "95.50" in (tmp_path / "cifar" / "results.md").read_text()
    capsys.readouterr()
    run_recipe("cifar10", workdir=tmp_path / "cifar", dry_run=True)
    assert "$ stereo" not in capsys.readouterr().out


def test_real_splits_have_the_ddes_sizes():
    for number, sizes in ((1, (3110, 200, 861)), (3, (2600, 200, 1343))):
        frames = split_frames(number, {}, dry_run=False)
        assert tuple(sum(len(v) for v in frames[s].values()) for s in ("train", "val", "test")) == sizes
    frames = split_frames(3, {}, dry_run=False)
    assert set(frames["train"]) == {"indoor_flying1", "indoor_flying2"} and set(frames["test"]) == {"indoor_flying3"}
    assert min(frames["train"]["indoor_flying1"]) == 80 and max(frames["train"]["indoor_flying1"]) == 1259


def test_dry_split_keeps_the_structure():
    available = {"indoor_flying1": list(range(2, 9)), "indoor_flying2": [2, 3], "indoor_flying3": [4, 5, 6]}
    frames = split_frames(3, available, dry_run=True)
    assert frames["train"] == {"indoor_flying1": list(range(2, 9)), "indoor_flying2": [2, 3]}
    val, test = frames["val"]["indoor_flying3"], frames["test"]["indoor_flying3"]
    assert len(val) == 1 and sorted(val + test) == [4, 5, 6]


def write_tiny_cache(path: Path, *, frames: int, channels: int = 2, height: int = 6, width: int = 8) -> Path:
    """A cache in the `stereo preprocess` format (datasets/cache.py) with random content."""
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as f:
        for name in ("left", "right"):
            f.create_dataset(name, data=rng.random((frames, channels, height, width), dtype=np.float32),
                             chunks=(1, channels, height, width), compression="lzf")
        f.create_dataset("disparity", data=rng.random((frames, height, width), dtype=np.float32) * 5,
                         chunks=(1, height, width))
        f.create_dataset("sparse_mask", data=rng.random((frames, height, width)) < 0.5, chunks=(1, height, width))
        f["timestamps"] = 1.5e9 + 0.05 * np.arange(frames)
        f["frame_index"] = np.arange(frames, dtype=np.int64)
        f["done"] = np.ones(frames, bool)
        f.attrs.update(format_version=1, representation="voxel", num_bins=channels, window_ms=50.0, height=height,
                       width=width, rectification="identity", focal_baseline=19.941772, source_data="t_data.hdf5",
                       source_data_size=0, source_gt="t_gt.hdf5", source_gt_size=0, created_by="stereo preprocess")
    return path


def test_subset_cache_copies_the_chosen_frames(tmp_path):
    from datasets.cache import StereoCache

    source = write_tiny_cache(tmp_path / "src.h5", frames=4)
    n = write_subset_cache(source, tmp_path / "sub.h5", [1, 3, 99])
    assert n == 2
    with StereoCache(source) as src, StereoCache(tmp_path / "sub.h5") as sub:
        assert list(sub.frame_index) == [1, 3] and sub.attrs == src.attrs
        np.testing.assert_array_equal(sub[1].left, src[3].left)
        np.testing.assert_array_equal(sub[0].disparity, src[1].disparity)
    with pytest.raises(ValueError, match="none of the"):
        write_subset_cache(source, tmp_path / "none.h5", [42])
    assert not (tmp_path / "none.h5").exists()


def test_failed_step_names_the_command(tmp_path):
    with pytest.raises(RuntimeError, match="stereo preprocess"):
        run_stereo("preprocess", tmp_path / "missing_data.hdf5", "--out", tmp_path / "x.h5")


def test_recipes_refuse_missing_data(tmp_path):
    from tools import recipe_cifar, recipe_mvsec

    with pytest.raises(ValueError, match="--mvsec-dir"):
        recipe_mvsec.run_recipe(1, workdir=tmp_path / "m")
    with pytest.raises(FileNotFoundError, match="indoor_flying1_data.hdf5"):
        recipe_mvsec.run_recipe(1, workdir=tmp_path / "m", mvsec_dir=tmp_path)
    with pytest.raises(ValueError, match="--data-root"):
        recipe_cifar.run_recipe("cifar10", workdir=tmp_path / "c")
    assert not Path(tmp_path / "m" / "caches").exists()
