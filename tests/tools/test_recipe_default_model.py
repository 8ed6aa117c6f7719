"""The default-model recipe end to end in its dry-run form (synth, preprocess, train, export)."""

import json

from tools.recipe_default_model import main


def test_dry_run_exports_a_model_that_infer_can_load(tmp_path):
    main(["--workdir", str(tmp_path / "w"), "--dry-run", "--jobs", "2"])
    export = tmp_path / "w" / "export"
    assert (export / "model.pt").is_file() and (export / "training_log.csv").is_file()
    assert (export / "training_log_from_scratch.csv").is_file()
    assert json.loads((export / "metrics.json").read_text())["epoch"] == 1

    from stereo.train import load_trained_model

    model, payload = load_trained_model(export / "model.pt")
    assert payload["extra"]["data"]["num_bins"] == 5 and model.config.timesteps == 1
    assert payload["config"]["init_from"] == str(tmp_path / "w" / "run" / "best.pt")  # the fine-tuning step


def test_parallel_data_equals_serial(tmp_path):
    from tools.recipe_default_model import make_data

    serial = make_data(tmp_path / "a", seconds=0.2, seeds=(101, 102, 107))
    parallel = make_data(tmp_path / "b", seconds=0.2, seeds=(101, 102, 107), jobs=3)
    assert [p.replace(str(tmp_path / "b"), "") for p in parallel[0]] == [p.replace(str(tmp_path / "a"), "")
                                                                         for p in serial[0]]
    for name in ("seed101_data.hdf5", "seed102_gt.hdf5", "seed107_data.hdf5"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
