"""`stereo search/train/eval classify` end to end on a tiny generated folder, and bad input."""

from __future__ import annotations

import json

import pytest
import torch

from datasets.classify import write_shapes_dataset

TINY_MODEL = ["--layers", "2", "--levels", "2", "--filter-multiplier", "2", "--timesteps", "2"]
TINY_DATA = ["--dataset", "folder", "--image-size", "8", "--batch-size", "4", "--no-progress"]


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    return write_shapes_dataset(tmp_path_factory.mktemp("data") / "shapes", num_classes=2, train_per_class=8,
                                val_per_class=3, image_size=8, seed=0)


@pytest.fixture(scope="module")
def searched(shapes, tmp_path_factory):
    """One finished tiny search: (exit code, stdout, stderr, run folder)."""
    from stereo.cli import main

    out = tmp_path_factory.mktemp("runs") / "search"
    args = ["search", "classify", *TINY_DATA, "--data-root", str(shapes), *TINY_MODEL, "--epochs", "2",
            "--warmup-epochs", "1", "--budget-mj", "1.0", "--out", str(out)]
    return _call(main, args) + (out,)


def _call(main, args):
    import contextlib
    import io

    stdout, stderr = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            main([str(a) for a in args])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return code, stdout.getvalue(), stderr.getvalue()


def test_search_writes_genotype_log_and_checkpoint(searched):
    code, out, err, run = searched
    assert code == 0, err
    assert "wrote" in out and "genotype.json" in out
    genotype = json.loads((run / "genotype.json").read_text())
    assert len(genotype["cells"]["classify"]) == 6 and len(genotype["paths"]["classify"]) == 2
    assert sorted(p.name for p in (run / "genotypes").iterdir()) == ["epoch_000.json", "epoch_001.json"]
    rows = (run / "log.csv").read_text().splitlines()
    assert len(rows) == 3 and "expected_mj" in rows[0] and "penalty" in rows[0]
    assert (run / "checkpoint.pt").is_file()


def test_train_then_eval_the_searched_genotype(searched, shapes, tmp_path, run_cli):
    run = searched[3]
    train_out = tmp_path / "train"
    code, out, err = run_cli("train", "classify", run / "genotype.json", *TINY_DATA, "--data-root", shapes,
                             "--filter-multiplier", "2", "--timesteps", "2", "--epochs", "1", "--no-cutout",
                             "--out", train_out)
    assert code == 0, err
    assert "top-1" in out
    code, _, err = run_cli("train", "classify", run / "genotype.json", *TINY_DATA, "--data-root", shapes,
                           "--filter-multiplier", "2", "--timesteps", "2", "--epochs", "1", "--no-cutout",
                           "--out", train_out, "--resume")
    assert code == 0, err  # a finished run resumes to nothing
    payload = torch.load(train_out / "best.pt", weights_only=True)
    assert payload["config"]["cutout"] is False and payload["config"]["auxiliary"] is True
    assert payload["genotype"] == json.loads((run / "genotype.json").read_text())
    assert payload["config"]["num_classes"] == 2 and payload["config"]["dataset"] == "folder"

    code, out, err = run_cli("eval", "classify", train_out / "best.pt", "--no-progress")
    assert code == 0, err
    assert "mJ/sample" in out and "| **total** |" in out
    metrics = json.loads((train_out / "metrics.json").read_text())
    assert metrics["num_images"] == 6
    assert 0 <= metrics["top1"] <= metrics["top5"] <= 100
    assert metrics["energy_mj_per_sample"] > 0 and 0 < metrics["mean_firing_rate"] < 1
    assert metrics["energy"]["layers"][0]["spiking_input"] is False  # the encoder reads real pixels


def test_search_resume_of_a_finished_run_and_refusal_to_overwrite(searched, shapes, run_cli):
    run = searched[3]
    common = ["search", "classify", *TINY_DATA, "--data-root", shapes, *TINY_MODEL, "--epochs", "2",
              "--warmup-epochs", "1", "--budget-mj", "1.0", "--out", run]
    code, _, err = run_cli(*common)
    assert code != 0 and "--resume" in err and "Traceback" not in err
    code, out, err = run_cli(*common, "--resume")
    assert code == 0, err
    code, _, err = run_cli(*common[:-2], "--lr", "0.3", "--out", run, "--resume")
    assert code != 0 and "lr: 0.1 (checkpoint) vs 0.3 (now)" in err


def _assert_clean_failure(code, out, err, *paths):
    assert code != 0
    assert "Traceback" not in err and "Traceback" not in out
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    for path in paths:
        assert not path.exists()
    return lines[0]


def test_missing_genotype_file(shapes, tmp_path, run_cli):
    result = run_cli("train", "classify", tmp_path / "nope.json", *TINY_DATA, "--data-root", shapes,
                     "--out", tmp_path / "t")
    assert "nope.json" in _assert_clean_failure(*result, tmp_path / "t")


@pytest.mark.parametrize("content", ["{not json", '{"cells": {"classify": [[0, 1]]}}', '{"paths": {}}',
                                     '{"cells": {"feature": [[1,1],[0,1],[3,2],[2,1],[7,1],[8,1]]}}'])
def test_malformed_genotype_file(shapes, tmp_path, run_cli, content):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    result = run_cli("train", "classify", bad, *TINY_DATA, "--data-root", shapes, "--out", tmp_path / "t")
    assert "bad.json" in _assert_clean_failure(*result, tmp_path / "t")


def test_wrong_dataset_layout(tmp_path, run_cli):
    flat = tmp_path / "flat"
    flat.mkdir()
    (flat / "image.png").write_bytes(b"")
    result = run_cli("search", "classify", *TINY_DATA, "--data-root", flat, *TINY_MODEL, "--out", tmp_path / "s")
    line = _assert_clean_failure(*result, tmp_path / "s")
    assert "class subfolders" in line and str(flat) in line


def test_missing_dataset(tmp_path, run_cli):
    result = run_cli("search", "classify", "--dataset", "cifar10", "--data-root", tmp_path / "none",
                     "--out", tmp_path / "s", "--no-progress")
    assert "cifar-10-batches-py" in _assert_clean_failure(*result, tmp_path / "s")


@pytest.mark.parametrize("budget", ["0", "-1", "1e-9"])
def test_impossible_budget(shapes, tmp_path, run_cli, budget):
    result = run_cli("search", "classify", *TINY_DATA, "--data-root", shapes, *TINY_MODEL, "--budget-mj", budget,
                     "--out", tmp_path / "s")
    assert "impossible budget" in _assert_clean_failure(*result, tmp_path / "s")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_gpu(shapes, tmp_path, run_cli):
    result = run_cli("search", "classify", *TINY_DATA, "--data-root", shapes, *TINY_MODEL, "--device", "cuda",
                     "--out", tmp_path / "s")
    assert "cuda" in _assert_clean_failure(*result, tmp_path / "s").lower()


def test_eval_rejects_missing_and_foreign_checkpoints(searched, tmp_path, run_cli):
    result = run_cli("eval", "classify", tmp_path / "none.pt", "--no-progress")
    assert "none.pt" in _assert_clean_failure(*result)
    result = run_cli("eval", "classify", searched[3] / "checkpoint.pt", "--no-progress",
                     "--metrics", tmp_path / "m.json")
    assert "stereo train classify" in _assert_clean_failure(*result, tmp_path / "m.json")


def test_boolean_flags_are_real_booleans(run_cli):
    code, out, _ = run_cli("train", "classify", "--help")
    assert code == 0 and "--no-cutout" in out and "--no-auxiliary" in out
    code, _, err = run_cli("train", "classify", "g.json", "--cutout", "False")
    assert code != 0  # a stray value is an error, never parsed as a truthy string


def test_real_cifar_images_data_path(shared_data, tmp_path, run_cli):
    """The 40 real CIFAR images (npz) go through search, retrain and eval (too few to learn from)."""
    data = ["--dataset", "npz", "--data-root", shared_data / "cifar", "--batch-size", "8", "--no-progress"]
    model = ["--filter-multiplier", "2", "--timesteps", "2"]
    code, _, err = run_cli("search", "classify", *data, *model, "--layers", "2", "--levels", "2", "--epochs", "1",
                           "--warmup-epochs", "0", "--out", tmp_path / "s")
    assert code == 0, err
    code, _, err = run_cli("train", "classify", tmp_path / "s" / "genotype.json", *data, *model, "--epochs", "1",
                           "--out", tmp_path / "t")
    assert code == 0, err
    code, out, err = run_cli("eval", "classify", tmp_path / "t" / "checkpoint.pt", "--no-progress")
    assert code == 0, err
    assert json.loads((tmp_path / "t" / "metrics.json").read_text())["num_images"] == 8
