"""`stereo train stereo` and `stereo eval stereo` end to end on a tiny cache, and their bad inputs."""

import json

import pytest
import torch
from tiny_data import write_tiny_cache

TINY = ["--max-disparity", "12", "--timesteps", "2", "--feature-filter-multiplier", "2",
        "--matching-filter-multiplier", "2", "--crop-height", "18", "--crop-width", "30", "--device", "cpu"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory, run_cli):
    folder = tmp_path_factory.mktemp("cli")
    cache = write_tiny_cache(folder / "c.h5")
    code, out, err = run_cli("train", "stereo", cache, "--val", cache, "--out", folder / "run", "--epochs", "1", *TINY)
    assert code == 0, err
    return folder, cache


def test_eval_writes_table_and_json(trained, run_cli):
    folder, cache = trained
    code, out, err = run_cli("eval", "stereo", cache, "--model", folder / "run" / "last.pt", "--baseline", "sgbm",
                             "--out", folder / "results.json", "--device", "cpu")
    assert code == 0, err
    assert "SGBM" in out and "| 1PA" in out.replace("1PA (%)", "1PA")
    records = json.loads((folder / "results.json").read_text())
    assert len(records) == 2
    assert records[0]["energy_mj_per_frame"] > 0
    assert 0 <= records[0]["metrics"]["one_pixel_accuracy"] <= 100
    assert records[1]["metrics"]["num_frames"] == 3


def test_resume_of_a_finished_run_says_so(trained, run_cli):
    folder, cache = trained
    code, out, err = run_cli("train", "stereo", cache, "--val", cache, "--out", folder / "run", "--epochs", "1",
                             *TINY, "--resume")
    assert code == 0, err
    assert "nothing to do" in out and "--epochs" in out


def test_init_from_fine_tunes_with_the_checkpoint_network(trained, run_cli, tmp_path):
    folder, cache = trained
    # no network options: they come from the checkpoint (the CLI defaults would build a much wider net)
    code, out, err = run_cli("train", "stereo", cache, "--init-from", folder / "run" / "last.pt", "--epochs", "1",
                             "--out", tmp_path / "tuned", "--crop-height", "18", "--crop-width", "30",
                             "--device", "cpu")
    assert code == 0, err
    payload = torch.load(tmp_path / "tuned" / "last.pt", weights_only=False)
    assert payload["extra"]["network"]["feature_filter_multiplier"] == 2
    assert payload["config"]["init_from"] == str(folder / "run" / "last.pt")


def test_a_refinement_head_is_added_and_trained_alone_from_the_cli(trained, run_cli, tmp_path):
    folder, cache = trained
    code, out, err = run_cli("train", "stereo", cache, "--init-from", folder / "run" / "last.pt", "--epochs", "1",
                             "--out", tmp_path / "head", "--refinement-channels", "3", "--refinement-dilations", "1,2",
                             "--refinement-probability-channels", "2", "--refinement-cost-radius", "1",
                             "--freeze", "feature, matching", "--crop-height", "18", "--crop-width", "30",
                             "--device", "cpu", "--loss", "smooth_l1")
    assert code == 0, err
    payload = torch.load(tmp_path / "head" / "last.pt", weights_only=False)
    assert payload["extra"]["network"]["refinement"] == {"channels": 3, "dilations": [1, 2],
                                                         "probability_channels": 2, "cost_radius": 1,
                                                         "cost_window": 5}
    assert payload["config"]["freeze"] == ["feature", "matching"]
    code, out, err = run_cli("eval", "stereo", cache, "--model", tmp_path / "head" / "last.pt", "--device", "cpu")
    assert code == 0, err
    # a second head on a model that has one is refused, not silently ignored
    code, _, err = run_cli("train", "stereo", cache, "--init-from", tmp_path / "head" / "last.pt", "--out",
                           tmp_path / "again", "--refinement-channels", "8", "--device", "cpu")
    assert code != 0 and "already has a refinement head" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "again").exists()


def test_coincidence_cost_volume_from_the_cli(trained, run_cli, tmp_path):
    _, cache = trained
    code, _, err = run_cli("train", "stereo", cache, "--out", tmp_path / "co", "--epochs", "1", "--cost-volume",
                           "coincidence", *TINY)
    assert code == 0, err
    payload = torch.load(tmp_path / "co" / "last.pt", weights_only=False)
    assert payload["extra"]["network"]["cost_volume"] == "coincidence"
    code, _, err = run_cli("eval", "stereo", cache, "--model", tmp_path / "co" / "last.pt", "--device", "cpu")
    assert code == 0, err


def test_neuron_ann_trains_the_ann_peer(trained, run_cli, tmp_path):
    _, cache = trained
    tiny_t1 = [a if a != "2" or TINY[i - 1] != "--timesteps" else "1" for i, a in enumerate(TINY)]
    code, _, err = run_cli("train", "stereo", cache, "--out", tmp_path / "ann", "--epochs", "1", "--neuron", "ann",
                           *tiny_t1)
    assert code == 0, err
    from spikingjelly.activation_based.neuron import BaseNode

    from stereo.train import load_trained_model

    model, payload = load_trained_model(tmp_path / "ann" / "last.pt")
    assert payload["extra"]["network"]["neuron"]["kind"] == "ann" and model.config.timesteps == 1
    assert not any(isinstance(m, BaseNode) for m in model.modules())  # no spiking neuron left


def _other_window(path):
    import h5py

    with h5py.File(path, "a") as f:
        f.attrs["window_ms"] = 10.0
    return path


@pytest.mark.parametrize("case", ["not_a_checkpoint", "missing_init", "garbage_init", "other_channels", "cuda",
                                  "no_method", "existing_run", "bad_neuron", "eval_other_window",
                                  "val_other_window", "init_other_window", "zero_crop", "negative_lr",
                                  "resume_nothing", "unknown_device", "unknown_freeze", "bad_dilations",
                                  "head_input_without_head", "bad_cost_volume"])
def test_bad_inputs_are_one_line_errors(trained, run_cli, tmp_path, case):
    folder, cache = trained
    if case == "not_a_checkpoint":
        bogus = tmp_path / "x.pt"
        torch.save({"hello": 1}, bogus)
        args = ["eval", "stereo", cache, "--model", bogus, "--device", "cpu"]
    elif case == "other_channels":
        other = write_tiny_cache(tmp_path / "c3.h5", channels=3)
        args = ["eval", "stereo", other, "--model", folder / "run" / "last.pt", "--device", "cpu"]
    elif case == "cuda":
        if torch.cuda.is_available():
            pytest.skip("a GPU is present")
        args = ["train", "stereo", cache, "--out", tmp_path / "r", "--device", "cuda"]
    elif case == "missing_init":
        args = ["train", "stereo", cache, "--out", tmp_path / "r", "--init-from", tmp_path / "nope.pt"]
    elif case == "garbage_init":  # torch's unpickling error spans many lines
        garbage = tmp_path / "garbage.pt"
        garbage.write_text("not a checkpoint\n")
        args = ["train", "stereo", cache, "--out", tmp_path / "r", "--init-from", garbage]
    elif case == "no_method":
        args = ["eval", "stereo", cache]
    elif case == "bad_neuron":
        args = ["train", "stereo", cache, "--out", tmp_path / "r", "--neuron", "relu", *TINY]
    elif case == "eval_other_window":  # right channel count, other preprocessing: scored on the wrong input
        other = _other_window(write_tiny_cache(tmp_path / "w.h5"))
        args = ["eval", "stereo", other, "--model", folder / "run" / "last.pt", "--device", "cpu"]
    elif case == "val_other_window":
        other = _other_window(write_tiny_cache(tmp_path / "w.h5"))
        args = ["train", "stereo", cache, "--val", other, "--out", tmp_path / "r", *TINY]
    elif case == "init_other_window":
        other = _other_window(write_tiny_cache(tmp_path / "w.h5"))
        args = ["train", "stereo", other, "--init-from", folder / "run" / "last.pt", "--out", tmp_path / "r",
                "--device", "cpu"]
    elif case == "zero_crop":
        args = ["train", "stereo", cache, "--out", tmp_path / "r", *TINY, "--crop-height", "0"]
    elif case == "negative_lr":
        args = ["train", "stereo", cache, "--out", tmp_path / "r", *TINY, "--lr", "-1"]
    elif case == "resume_nothing":
        args = ["train", "stereo", cache, "--out", tmp_path / "r", *TINY, "--resume"]
    elif case == "unknown_freeze":
        args = ["train", "stereo", cache, "--out", tmp_path / "r", *TINY, "--freeze", "stem"]
    elif case == "bad_dilations":
        args = ["train", "stereo", cache, "--out", tmp_path / "r", *TINY, "--refinement-channels", "2",
                "--refinement-dilations", "1,x"]
    elif case == "head_input_without_head":
        args = ["train", "stereo", cache, "--out", tmp_path / "r", *TINY, "--refinement-cost-radius", "2"]
    elif case == "bad_cost_volume":
        args = ["train", "stereo", cache, "--out", tmp_path / "r", *TINY, "--cost-volume", "correlation"]
    elif case == "unknown_device":
        args = ["eval", "stereo", cache, "--model", folder / "run" / "last.pt", "--device", "tpu"]
    else:
        args = ["train", "stereo", cache, "--out", folder / "run", *TINY]
    code, _, err = run_cli(*args)
    assert code != 0
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    if case in ("missing_init", "garbage_init", "bad_neuron", "val_other_window", "init_other_window", "zero_crop",
                "negative_lr", "resume_nothing", "unknown_freeze", "bad_dilations", "head_input_without_head",
                "bad_cost_volume"):
        assert not (tmp_path / "r").exists()  # a refused run leaves no folder
    if "other_window" in case:
        assert "window_ms=10.0" in err and "--window-ms 50.0" in err


def test_eval_output_path_is_checked_before_evaluating(trained, run_cli, tmp_path):
    _, cache = trained
    for out in (tmp_path / "missing" / "r.json", tmp_path):
        code, stdout, err = run_cli("eval", "stereo", cache, "--baseline", "sgbm", "--out", out)
        assert code == 1 and len(err.strip().splitlines()) == 1, err
        assert stdout == ""  # refused up front: no table was computed


def test_split_evaluation_reports_missing_frames(tmp_path, run_cli):
    import h5py

    from datasets.splits import mvsec_split

    test_frames = [k for seq, k in mvsec_split(1).test if seq == "indoor_flying1"]
    cache = write_tiny_cache(tmp_path / "flying1.h5", frames=3)
    with h5py.File(cache, "a") as f:
        f.attrs["source_data"] = "indoor_flying1_data.hdf5"
        f["frame_index"][...] = sorted(test_frames)[:3]
    code, out, err = run_cli("eval", "stereo", cache, "--baseline", "sgbm", "--split", "1", "--subset", "test",
                             "--out", tmp_path / "r.json")
    assert code == 0, err
    record = json.loads((tmp_path / "r.json").read_text())[0]
    assert record["metrics"]["num_frames"] == 3 and len(test_frames) == 861
    assert record["split_frames_missing"] == 858
    assert "lack 858 frames" in err
