"""Issue 5's small-scale recipe in its dry-run form (synth, preprocess, train, eval with SGBM)."""

import json

import pytest

from tools.recipe_small_scale import main, summary_table


def test_dry_run_trains_evaluates_and_does_not_retrain(tmp_path, capsys):
    workdir = tmp_path / "w"
    main(["--workdir", str(workdir), "--dry-run", "--test-seeds", "501"])
    rows = (workdir / "summary.md").read_text().splitlines()[2:]
    assert [r.split(" | ")[0] for r in rows] == ["| seed 107 (validation)"] * 2 + ["| seed 501 (held out)"] * 2
    assert "spiking net" in rows[0] and "OpenCV SGBM" in rows[1]
    record = json.loads((workdir / "eval_501.json").read_text())
    assert record[0]["caches"] == [str(workdir / "data" / "seed501.h5")] and record[0]["metrics"]["num_frames"] > 0
    assert (workdir / "run" / "finished").is_file()
    before = (workdir / "run" / "last.pt").stat().st_mtime_ns
    main(["--workdir", str(workdir), "--dry-run", "--test-seeds", "501"])
    assert (workdir / "run" / "last.pt").stat().st_mtime_ns == before  # a finished run is not resumed


@pytest.mark.parametrize("seeds", ["107", "101,501", "x", ""])
def test_test_seeds_must_be_new_integers(tmp_path, seeds, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--workdir", str(tmp_path / "w"), "--dry-run", "--test-seeds", seeds])
    assert exc.value.code == 2 and "--test-seeds" in capsys.readouterr().err
    assert not (tmp_path / "w").exists()


def test_summary_table_rows_in_cm_and_px():
    record = {"metrics": {"one_pixel_accuracy": 48.61, "mean_depth_error": 0.7344, "median_depth_error": 0.4517,
                          "mean_disparity_error": 1.733}}
    table = summary_table({"seed 107": [{**record, "method": "spiking stereo (x)", "checkpoint": "x"},
                                        {**record, "method": "SGBM on event images"}]}, 29.04)
    assert table.splitlines()[2] == "| seed 107 | spiking net, 29.0 CPU-minutes | 48.6 | 73.4 | 45.2 | 1.73 |"
    assert table.splitlines()[3].startswith("| seed 107 | OpenCV SGBM | 48.6")


def test_cpu_bf16_config_differs_only_in_precision_and_epoch_count(tmp_path):
    import dataclasses

    from tools.recipe_small_scale import BF16_EPOCHS, EPOCHS, train_config

    fp32 = train_config(["a.h5"], "v.h5", tmp_path, minutes=28.0)
    bf16 = train_config(["a.h5"], "v.h5", tmp_path, minutes=28.0, cpu_bf16=True)
    assert not fp32.cpu_bf16 and bf16.cpu_bf16 and (fp32.epochs, bf16.epochs) == (EPOCHS, BF16_EPOCHS)
    assert dataclasses.replace(bf16, cpu_bf16=False, epochs=EPOCHS) == fp32
