import json

import pytest
import torch
from tiny_data import write_tiny_cache

from search.derived import neuron_config_for
from search.genotype import Genotype
from search.local import config_of
from search.local_config import LocalOptions
from stereo.network import SpikingStereoNet, StereoNetConfig
from stereo.train import StereoTrainConfig, load_trained_model, train_stereo

TINY_NET = StereoNetConfig(in_channels=2, max_disparity=12, timesteps=2, feature_filter_multiplier=2,
                           matching_filter_multiplier=2)
# train_loss of this exact run measured with the code before the local searches were wired in
# (commit b8eddde, CPU); the plain loop must stay bit-for-bit the same.
PLAIN_LOSS_BEFORE = 2.4329769611358643


def _config(tmp_path, cache, **overrides):
    base = dict(train=(str(cache),), out=str(tmp_path / "run"), epochs=2, batch_size=1, crop_height=18,
                crop_width=30, device="cpu", network=TINY_NET)
    return StereoTrainConfig(**{**base, **overrides})


def test_plain_training_is_unchanged(tmp_path, tiny_cache):
    metrics = train_stereo(_config(tmp_path, tiny_cache))
    assert metrics["train_loss"] == PLAIN_LOSS_BEFORE
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert "local" not in saved["config"] and not (tmp_path / "run" / "local_search.json").exists()


def test_train_stereo_cli_with_dgs_tps_hns_stores_node_settings(tmp_path, tiny_cache, run_cli):
    out = tmp_path / "local"
    code, stdout, err = run_cli(
        "train", "stereo", tiny_cache, "--val", tiny_cache, "--out", out, "--epochs", 1, "--batch-size", 1,
        "--crop-height", 18, "--crop-width", 30, "--max-disparity", 12, "--timesteps", 2,
        "--feature-filter-multiplier", 2, "--matching-filter-multiplier", 2, "--device", "cpu",
        "--dgs", "--dgs-sites-per-batch", 3, "--tps", "--hns", "--local-every", 1, "--local-batches", 2)
    assert code == 0, err
    model, payload = load_trained_model(out / "last.pt")
    genotype = Genotype.from_dict(payload["genotype"])
    keys = [f"{net}.cell{i}.node{j}" for net, cells in (("feature", 2), ("matching", 4))
            for i in range(cells) for j in range(3)]
    assert all(genotype.node(k) is not None for k in keys)
    assert any(genotype.node(k).decay != 0.2 for k in keys)  # TPS moved some decay off the default
    assert Genotype.load_json(out / "genotype.json") == genotype
    record = json.loads((out / "local_search.json").read_text())
    assert record["searches"] == ["hns", "tps", "dgs"] and record["history"]
    assert any(record["current"][k] != record["initial"][k] for k in keys)
    # The rebuilt network has exactly the stored neurons and runs.
    for key in keys:
        net, cell, node = key.split(".")
        module = model.get_submodule(f"{net}.cells.cells.{cell[4:]}.nodes.{node[4:]}")
        built, stored = config_of(module), neuron_config_for(genotype, key, TINY_NET.neuron)
        assert (built.kind, built.decay) == (stored.kind, stored.decay)
        if built.kind != "ann":
            assert built.surrogate_b == pytest.approx(stored.surrogate_b)
    with torch.no_grad():
        output = model(torch.rand(1, 2, 18, 30), torch.rand(1, 2, 18, 30))
    assert output.disparity.shape == (1, 1, 18, 30) and torch.isfinite(output.disparity).all()
    code, shown, err = run_cli("genotype", "show", out / "genotype.json")
    assert code == 0, err
    moved = next(genotype.node(k).decay for k in keys if genotype.node(k).decay != 0.2)
    assert "matching" in shown and f"{moved:g}" in shown


def test_local_searches_refuse_resume(tmp_path, tiny_cache):
    config = _config(tmp_path, tiny_cache, epochs=1, local=LocalOptions(tps=True, local_every=1, local_batches=1))
    with pytest.raises(ValueError, match="--resume is not supported"):
        train_stereo(config, resume=True)


def test_hns_without_validation_uses_training_batches(tmp_path):
    cache = write_tiny_cache(tmp_path / "five.h5", frames=4)
    config = _config(tmp_path, cache, epochs=1, local=LocalOptions(hns=True, local_every=1, local_batches=2))
    metrics = train_stereo(config)
    assert "local_ann_nodes" in metrics
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["config"]["local"]["hns"] is True


def test_search_stereo_cli_with_dgs_tps_hns_writes_node_settings(tmp_path, run_cli):
    cache = write_tiny_cache(tmp_path / "four.h5", frames=4)
    out = tmp_path / "search"
    code, stdout, err = run_cli(
        "search", "stereo", cache, "--out", out, "--epochs", 1, "--arch-start-epoch", 0, "--crop-height", 24,
        "--crop-width", 24, "--max-disparity", 12, "--timesteps", 2, "--feature-layers", 2,
        "--matching-layers", 2, "--levels", 2, "--filter-multiplier", 2, "--no-progress",
        "--dgs", "--dgs-sites-per-batch", 2, "--tps", "--hns", "--local-every", 1, "--local-batches", 1)
    assert code == 0, err
    genotype = Genotype.load_json(out / "genotype.json")
    keys = [f"{net}.cell{i}.node{j}" for net in ("feature", "matching") for i in range(2) for j in range(3)]
    assert sorted(genotype.nodes) == sorted(keys)
    record = json.loads((out / "local_search.json").read_text())
    assert record["searches"] == ["hns", "tps", "dgs"]
    assert any(record["current"][k] != record["initial"][k] for k in record["current"])
    net = SpikingStereoNet(genotype, TINY_NET)  # the (possibly hybrid) derived network builds and runs
    with torch.no_grad():
        assert net(torch.rand(1, 2, 18, 30), torch.rand(1, 2, 18, 30)).disparity.shape == (1, 1, 18, 30)


@pytest.mark.parametrize("flags, message", [
    (["--tps", "--tps-decays", "0.2,fast"], "--tps-decays must be comma-separated numbers"),
    (["--dgs", "--resume"], "--resume is not supported together with --dgs/--tps/--hns"),
])
def test_bad_local_options_are_one_line_errors(tmp_path, tiny_cache, run_cli, flags, message):
    out = tmp_path / "bad"
    code, _, err = run_cli("train", "stereo", tiny_cache, "--out", out, "--epochs", 1, "--max-disparity", 12,
                           "--timesteps", 2, "--device", "cpu", *flags)
    assert code != 0 and message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and not (out / "last.pt").exists()


def test_parameters_of_rebuilt_neurons_join_the_optimizer():
    from search.local import set_module
    from search.named_genotypes import get_genotype
    from search.neurons import NeuronConfig, make_neuron
    from stereo.train import add_new_parameters

    model = SpikingStereoNet(get_genotype("spikedhs_mvsec"), TINY_NET)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[1], gamma=0.5)
    optimizer.step()  # no gradients: nothing moves; only keeps the scheduler's call order
    scheduler.step()
    assert add_new_parameters(optimizer, model) == 0
    set_module(model, "feature.cells.cells.0.nodes.1", make_neuron(NeuronConfig(kind="plif", decay=0.5)))
    assert add_new_parameters(optimizer, model) == 1
    plif_w = model.get_submodule("feature.cells.cells.0.nodes.1").w
    assert optimizer.param_groups[-1]["params"] == [plif_w] and optimizer.param_groups[-1]["lr"] == 5e-4
    optimizer.step()
    scheduler.step()
    assert [g["lr"] for g in optimizer.param_groups] == [5e-4, 5e-4]


def test_hns_budget_keeps_nodes_spiking_and_a_loose_one_allows_ann(tmp_path):
    """Tight budget (1e-9 mJ per frame): every node stays spiking; a loose one (1000 mJ) lets the
    held-out loss turn nodes to ANN (7 of 18 on this tiny task, seed 0)."""
    cache = write_tiny_cache(tmp_path / "four.h5", frames=4)
    ann = {}
    for name, budget in (("tight", 1e-9), ("loose", 1000.0)):
        local = LocalOptions(hns=True, hns_budget_mj=budget, local_every=1, local_batches=2, local_lr=0.5)
        ann[name] = train_stereo(_config(tmp_path, cache, out=str(tmp_path / name), epochs=1, local=local))
    assert ann["tight"]["local_ann_nodes"] == 0 and ann["loose"]["local_ann_nodes"] > 0
    nodes = Genotype.load_json(tmp_path / "tight" / "genotype.json").nodes
    assert all(setting.kind == "lif" for setting in nodes.values())
