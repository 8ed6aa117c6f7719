"""The default-model recipe end to end in its dry-run form (synth, preprocess, train, export)."""

import json
from pathlib import Path

import pytest
import torch

from tools.recipe_default_model import main


def test_dry_run_exports_a_model_that_infer_can_load(tmp_path):
    main(["--workdir", str(tmp_path / "w"), "--dry-run", "--jobs", "2"])
    export = tmp_path / "w" / "export"
    assert (export / "model.pt").is_file() and (export / "training_log.csv").is_file()
    assert (export / "training_log_from_scratch.csv").is_file() and not (export / "training_log_finetune.csv").exists()
    assert json.loads((export / "metrics.json").read_text())["epoch"] == 1
    # the configs of both steps travel with the model
    assert json.loads((export / "run_config.json").read_text())["config"]["freeze"] == ["feature", "matching"]
    assert json.loads((export / "run_config_from_scratch.json").read_text())["config"].get("init_from") is None

    from stereo.train import load_trained_model

    model, payload = load_trained_model(export / "model.pt")
    assert payload["extra"]["data"]["num_bins"] == 5 and model.config.timesteps == 1
    assert model.config.cost_volume == "coincidence" and model.config.cost_upsampling == "aligned"
    # the exported model is step 3's: a head trained on the frozen network of step 2's last epoch
    assert payload["config"]["init_from"] == str(tmp_path / "w" / "run" / "last.pt")
    assert payload["config"]["freeze"] == ["feature", "matching"] and model.refine is not None
    backbone = torch.load(tmp_path / "w" / "run" / "last.pt", weights_only=False)["model"]
    assert all(torch.equal(model.state_dict()[k], v) for k, v in backbone.items())


def test_refine_from_trains_only_a_head_on_the_given_model(tmp_path):
    main(["--workdir", str(tmp_path / "w"), "--dry-run", "--jobs", "2"])
    backbone = tmp_path / "w" / "run" / "last.pt"
    main(["--workdir", str(tmp_path / "v"), "--dry-run", "--jobs", "2", "--refine-from", str(backbone),
          "--export-dir", str(tmp_path / "head")])
    assert not (tmp_path / "v" / "run").exists() and not (tmp_path / "v" / "export").exists()
    assert not (tmp_path / "head" / "training_log_from_scratch.csv").exists()
    from stereo.train import load_trained_model

    model, payload = load_trained_model(tmp_path / "head" / "model.pt")
    assert payload["config"]["init_from"] == str(backbone) and model.refine is not None


def test_parallel_data_equals_serial(tmp_path):
    from tools.recipe_default_model import make_data

    serial = make_data(tmp_path / "a", seconds=0.2, seeds=(101, 102, 107))
    parallel = make_data(tmp_path / "b", seconds=0.2, seeds=(101, 102, 107), jobs=3)
    assert [p.replace(str(tmp_path / "b"), "") for p in parallel[0]] == [p.replace(str(tmp_path / "a"), "")
                                                                         for p in serial[0]]
    for name in ("seed101_data.hdf5", "seed102_gt.hdf5", "seed107_data.hdf5"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_export_with_missing_inputs_changes_nothing(tmp_path):
    from tools.recipe_default_model import export

    run, out = tmp_path / "refine", tmp_path / "out"
    run.mkdir()
    out.mkdir()
    (run / "last.pt").write_bytes(b"not read")
    (out / "model.pt").write_bytes(b"old")
    with pytest.raises(SystemExit, match="log.csv"):
        export(run, out, checkpoint="last.pt", logs={"training_log_from_scratch.csv": tmp_path / "run" / "log.csv"})
    assert (out / "model.pt").read_bytes() == b"old" and sorted(p.name for p in out.iterdir()) == ["model.pt"]


def test_recipe_trains_on_every_training_seed_but_never_on_validation_or_benchmark_seeds():
    from tools.recipe_default_model import TRAIN_SEEDS, VAL_SEED, train_config

    assert len(TRAIN_SEEDS) == 18 and VAL_SEED not in TRAIN_SEEDS
    assert not set(TRAIN_SEEDS) & {301, 302, *range(311, 315), *range(321, 325), 501, 502}
    config = train_config(["a.h5"], "v.h5", Path("r"))
    assert (config.epochs, config.milestones, config.device, config.workers) == (30, (8, 10), "cpu", 0)


def test_unwritable_export_dir_is_refused_before_any_work(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(SystemExit) as exit_info:
        main(["--workdir", str(tmp_path / "w"), "--dry-run", "--export-dir", str(blocker / "sub")])
    assert exit_info.value.code == 2 and "not a writable folder" in capsys.readouterr().err
    assert not (tmp_path / "w").exists()
