"""The default-model recipe end to end in its dry-run form (synth, preprocess, train, export)."""

import json

from tools.recipe_default_model import main


def test_dry_run_exports_a_model_that_infer_can_load(tmp_path):
    main(["--workdir", str(tmp_path / "w"), "--dry-run"])
    export = tmp_path / "w" / "export"
    assert (export / "model.pt").is_file() and (export / "training_log.csv").is_file()
    assert (export / "training_log_from_scratch.csv").is_file()
    assert json.loads((export / "metrics.json").read_text())["epoch"] == 1

    from stereo.train import load_trained_model

    model, payload = load_trained_model(export / "model.pt")
    assert payload["extra"]["data"]["num_bins"] == 5 and model.config.timesteps == 1
    assert payload["config"]["init_from"] == str(tmp_path / "w" / "run" / "best.pt")  # the fine-tuning step
