"""`stereo demo` end to end with a tiny checkpoint (the shipped model is exercised by the README command)."""

from pathlib import Path

import pytest
import torch

from search.checkpoint import save_checkpoint
from search.named_genotypes import get_genotype
from stereo.network import SpikingStereoNet, StereoNetConfig
from stereo.train import CHECKPOINT_KIND


def _tiny_checkpoint(path: Path) -> Path:
    torch.manual_seed(0)
    config = StereoNetConfig(in_channels=5, max_disparity=48, timesteps=1, feature_filter_multiplier=1,
                             matching_filter_multiplier=1)
    model = SpikingStereoNet(get_genotype("spikedhs_mvsec"), config)
    data = {"representation": "voxel", "num_bins": 5, "window_ms": 50.0, "height": 260, "width": 346,
            "focal_baseline": 19.941772}
    return save_checkpoint(path, model=model, epoch=0, config={}, genotype=get_genotype("spikedhs_mvsec").to_dict(),
                           kind=CHECKPOINT_KIND, extra={"network": config.to_dict(), "data": data})


def test_demo_writes_metrics_and_picture(tmp_path, run_cli):
    checkpoint = _tiny_checkpoint(tmp_path / "tiny.pt")
    out = tmp_path / "demo"
    code, stdout, err = run_cli("demo", "--out", out, "--seconds", "0.2", "--model", checkpoint)
    assert code == 0, err
    assert "SGBM" in stdout and "spiking stereo" in stdout
    assert (out / "demo.png").stat().st_size > 10_000
    assert (out / "infer" / "metrics.json").is_file()
    assert len(list((out / "infer" / "disparity").glob("*.png"))) == 3  # GT at 0.10, 0.15, 0.20 s


def test_demo_refuses_a_non_empty_folder(tmp_path, run_cli):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "file.txt").write_text("x")
    code, _, err = run_cli("demo", "--out", tmp_path / "busy")
    assert code != 0 and "not empty" in err and "Traceback" not in err


@pytest.mark.parametrize("bad", [["--seconds", "0"], ["--seed", "-1"], ["--seed", str(2**70)], ["--model", "x.pt"]])
def test_refused_demo_leaves_no_folder(tmp_path, run_cli, bad):
    torch.save({"hello": 1}, tmp_path / "x.pt")
    bad = [str(tmp_path / b) if b == "x.pt" else b for b in bad]
    code, _, err = run_cli("demo", "--out", tmp_path / "d", *bad)
    assert code != 0 and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "d").exists()


def test_failure_mid_way_removes_the_folder_it_made(tmp_path, run_cli, monkeypatch):
    import stereo.infer

    def broken(*args, **kwargs):
        raise ValueError("something went wrong")

    monkeypatch.setattr(stereo.infer, "infer_recording", broken)
    model = _tiny_checkpoint(tmp_path / "tiny.pt")
    code, _, err = run_cli("demo", "--out", tmp_path / "d", "--seconds", "0.2", "--model", model)
    assert code == 1 and "something went wrong" in err
    assert not (tmp_path / "d").exists()


@pytest.mark.skipif(not (Path(__file__).parents[2] / "stereo" / "default" / "model.pt").exists(),
                    reason="no default model shipped in this checkout")
def test_default_model_loads():
    from stereo.infer import default_model_path
    from stereo.train import load_trained_model

    model, payload = load_trained_model(default_model_path())
    assert payload["extra"]["data"]["num_bins"] == model.config.in_channels
