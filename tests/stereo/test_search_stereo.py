"""Tests for the stereo search: supernet gradients, decoding, energy model, budget, search loop and CLI."""

from __future__ import annotations

import json

import pytest
import torch
from tiny_data import write_tiny_cache

from search.architect import architecture_step
from search.backends.stereo import StereoSearchTask, build_supernet, search_stereo
from search.backends.stereo_config import StereoSearchConfig
from search.backends.stereo_net import StereoSupernet
from search.cost import PJ_PER_AC, PJ_PER_MAC, PJ_PER_MJ, energy_report
from search.genotype import Genotype, valid_moves
from search.named_genotypes import get_genotype
from stereo.data import CacheStereoDataset
from stereo.network import SpikingStereoNet, StereoNetConfig

TINY = dict(epochs=2, arch_start_epoch=1, crop_height=24, crop_width=24, max_disparity=12, timesteps=2,
            feature_layers=2, matching_layers=3, levels=3, filter_multiplier=2, progress=False)
TINY_FLAGS = ["--epochs", "2", "--arch-start-epoch", "1", "--crop-height", "24", "--crop-width", "24",
              "--max-disparity", "12", "--timesteps", "2", "--feature-layers", "2", "--matching-layers", "3",
              "--levels", "3", "--filter-multiplier", "2", "--no-progress"]


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny convolutions run much faster single-threaded on a busy shared CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _tiny_net(*, num_levels: int = 3, matching_layers: int = 3, seed: int = 0) -> StereoSupernet:
    torch.manual_seed(seed)
    config = StereoNetConfig(in_channels=2, max_disparity=12, timesteps=2, feature_filter_multiplier=2,
                             matching_filter_multiplier=2)
    return StereoSupernet(config, feature_layers=2, matching_layers=matching_layers, num_levels=num_levels)


def _valid_beta_entries(num_layers: int, num_levels: int) -> torch.Tensor:
    """Hand enumeration: layer 0 leaves the stem (level 0); layer l leaves levels 0..min(l, K-1)."""
    mask = torch.zeros(num_layers, num_levels, 3, dtype=torch.bool)
    for layer in range(num_layers):
        for source in range(min(layer, num_levels - 1) + 1):
            for move in valid_moves(source, num_levels):
                mask[layer, source, move] = True
    return mask


def test_arch_and_weight_parameters_are_split_by_name():
    net = _tiny_net()
    names = {n for n, _ in net.named_parameters() if n.startswith("arch_")}
    assert names == {"arch_alpha_feature", "arch_beta_feature", "arch_alpha_matching", "arch_beta_matching"}
    assert len(net.arch_parameters()) == 4
    assert len(net.weight_parameters()) == len(list(net.parameters())) - 4
    assert net.arch_beta_feature.shape == (2, 3, 3) and net.arch_beta_matching.shape == (3, 3, 3)


def test_gradients_reach_every_alpha_and_valid_beta_of_both_supernets():
    net = _tiny_net(num_levels=4, matching_layers=4)
    left, right = torch.rand(1, 2, 18, 24), torch.rand(1, 2, 18, 24)
    out = net(left, right)
    assert out.disparity.shape == (1, 1, 18, 24) and out.log_probability.shape == (1, 12, 18, 24)
    (out.disparity * torch.randn_like(out.disparity)).sum().backward()
    for name in ("feature", "matching"):
        alpha, beta = getattr(net, f"arch_alpha_{name}"), getattr(net, f"arch_beta_{name}")
        assert torch.all(alpha.grad.abs() > 0), name
        valid = _valid_beta_entries(*beta.shape[:2])
        assert torch.all(beta.grad[valid] != 0), name
        assert torch.all(beta.grad[~valid] == 0), name  # moves that do not exist
    assert int(_valid_beta_entries(4, 4).sum()) == 2 + 5 + 8 + 10


def test_forward_is_deterministic_and_checks_inputs():
    net = _tiny_net().eval()
    left, right = torch.rand(1, 2, 12, 15), torch.rand(1, 2, 12, 15)
    assert torch.equal(net(left, right).disparity, net(left, right).disparity)  # state is reset
    with pytest.raises(ValueError, match=r"\[N, 2, H, W\]"):
        net(torch.rand(1, 3, 12, 15), torch.rand(1, 3, 12, 15))
    with pytest.raises(ValueError, match="differ in shape"):
        net(left, torch.rand(1, 2, 12, 18))


def test_decoded_genotype_round_trips_and_builds_the_derived_net(tmp_path):
    net = _tiny_net()
    with torch.no_grad():
        net.arch_beta_matching[1, 0, 2] = 5.0  # layer 1 goes up from level 0 ...
        net.arch_beta_matching[2, 1, 0] = 5.0  # ... and layer 2 comes back down
        net.arch_alpha_feature[4] = torch.tensor([0.0, 0.0, 4.0])
    genotype = net.genotype()
    assert genotype.path("matching") == (0, 1, 0)
    assert (4, 2) in genotype.cell("feature")
    assert set(genotype.cells) == set(genotype.paths) == {"feature", "matching"}
    genotype.save_json(tmp_path / "g.json")
    loaded = Genotype.load_json(tmp_path / "g.json")
    assert loaded == genotype
    derived = SpikingStereoNet(loaded, net.config)
    out = derived(torch.rand(1, 2, 12, 15), torch.rand(1, 2, 12, 15))
    assert out.disparity.shape == (1, 1, 12, 15)


def test_decoded_energy_equals_an_independent_mac_count_of_the_derived_net():
    """Level-0 paths: the derived net has exactly the convolutions the supernet's energy model charges."""
    net = _tiny_net(num_levels=3, matching_layers=4)
    authors = get_genotype("spikedhs_mvsec")
    genotype = Genotype(cells=dict(authors.cells), paths={"feature": (0, 0), "matching": (0, 0, 0, 0)})
    derived = SpikingStereoNet(genotype, net.config)
    report = energy_report(derived, torch.rand(1, 2, 18, 24), torch.rand(1, 2, 18, 24), num_samples=1)
    encoder = [row for row in report.layers if row.name.startswith("feature.stem.0")]
    assert len(encoder) == 1
    rest = sum(row.macs for row in report.layers) - encoder[0].macs
    with torch.no_grad():
        net.firing_rates.fill_(1.0)  # every spiking layer then costs its MACs at 0.9 pJ
    expected = (encoder[0].macs * PJ_PER_MAC + rest * PJ_PER_AC) / PJ_PER_MJ
    energy = net.expected_energy_mj((18, 24), weights=net.decoded_weights(genotype))
    assert float(energy) == pytest.approx(expected, rel=1e-6)
    assert net.minimum_energy_mj((18, 24)) == pytest.approx(encoder[0].macs * PJ_PER_MAC / PJ_PER_MJ)


def test_expected_energy_is_differentiable_in_both_supernets():
    net = _tiny_net()
    energy = net.expected_energy_mj((24, 36))
    energy.backward()
    assert energy > net.minimum_energy_mj((24, 36)) > 0
    for name in ("feature", "matching"):
        # only node -> node edges have a free identity skip, so only they move the cost
        assert torch.all(getattr(net, f"arch_alpha_{name}").grad[[4, 7, 8]].abs() > 0), name
        assert getattr(net, f"arch_beta_{name}").grad.abs().sum() > 0, name


def _batch(cache, *, crop=(24, 24)):
    dataset = CacheStereoDataset([cache], crop=crop, seed=0)
    return next(iter(torch.utils.data.DataLoader(dataset, batch_size=2)))


def test_budget_term_lowers_the_energy_of_the_decoded_genotype_as_its_weight_grows(tmp_path):
    """Architecture steps with the real task loss and a tight budget (1% above the encoder floor)."""
    cache = write_tiny_cache(tmp_path / "tiny.h5", frames=2)
    batch = _batch(cache)
    size = (24, 36)
    reference = _tiny_net()  # scores every decoded genotype at the same firing rates
    energies = []
    for weight in (0.0, 0.1, 100.0):
        net = _tiny_net(seed=1).train()
        task = StereoSearchTask(device=torch.device("cpu"), max_disparity=12, loss="cross_entropy",
                                focal_baseline=19.94, image_size=size,
                                budget_mj=1.01 * net.minimum_energy_mj(size), budget_weight=weight)
        arch_opt = torch.optim.Adam(net.arch_parameters(), lr=0.2)
        for _ in range(4):
            architecture_step(net, task, batch, arch_opt)
        with torch.no_grad():
            weights = reference.decoded_weights(net.genotype())
            energies.append(float(reference.expected_energy_mj(size, weights=weights)))
    assert energies[0] >= energies[1] >= energies[2]
    assert energies[2] < 0.9 * energies[0]


def test_tiny_search_writes_a_genotype_the_derived_net_runs_on(tmp_path):
    train = write_tiny_cache(tmp_path / "train.h5", frames=4)
    val = write_tiny_cache(tmp_path / "val.h5", frames=2, seed=20)
    out = tmp_path / "run"
    config = StereoSearchConfig(train=(str(train),), val=(str(val),), out=str(out), **TINY)
    result = search_stereo(config)
    assert result.search.start_epoch == 0 and len(result.search.history) == 2
    assert [row["arch_active"] for row in result.search.history] == [0.0, 1.0]
    assert "arch_loss" in result.search.history[1] and "arch_loss" not in result.search.history[0]
    genotype = Genotype.load_json(out / "genotype.json")
    assert genotype == result.genotype == Genotype.load_json(out / "genotypes" / "epoch_001.json")
    assert len(genotype.path("feature")) == 2 and len(genotype.path("matching")) == 3
    assert result.decoded_mj > 0 and len(result.validation) == 2
    assert 0.0 <= result.validation[-1]["val/one_pixel_accuracy"] <= 100.0
    header = (out / "validation" / "log.csv").read_text().splitlines()[0].split(",")
    assert {"epoch", "decoded_mj", "val/mean_disparity_error", "val/one_pixel_accuracy"} <= set(header)
    payload = torch.load(out / "checkpoint.pt", weights_only=True)
    assert payload["kind"] == "search-stereo" and payload["config"]["in_channels"] == 2
    network = StereoNetConfig(in_channels=2, max_disparity=12, timesteps=2, feature_filter_multiplier=3,
                              matching_filter_multiplier=3)
    derived = SpikingStereoNet(genotype, network)
    assert derived(torch.rand(1, 2, 24, 36), torch.rand(1, 2, 24, 36)).disparity.shape == (1, 1, 24, 36)
    # the same run resumed after its last epoch does no more work and keeps the genotype
    resumed = search_stereo(StereoSearchConfig(train=(str(train),), val=(str(val),), out=str(out), resume=True,
                                               **TINY))
    assert resumed.search.start_epoch == 2 and resumed.search.history == []
    assert Genotype.load_json(out / "genotype.json") == genotype


def test_build_supernet_follows_the_config_defaults():
    config = StereoSearchConfig(train=("x.h5",))
    assert (config.epochs, config.arch_start_epoch, config.batch_size, config.filter_multiplier) == (10, 3, 1, 4)
    assert (config.feature_layers, config.matching_layers, config.arch_lr) == (2, 4, 2e-3)
    net = build_supernet(StereoSearchConfig(train=("x.h5",), **{**TINY, "levels": 2}), in_channels=5)
    assert net.config.in_channels == 5 and net.arch_beta_matching.shape == (3, 2, 3)


def test_cli_search_stereo_end_to_end(tmp_path, run_cli):
    cache = write_tiny_cache(tmp_path / "tiny.h5", frames=4)
    out = tmp_path / "cli_run"
    code, stdout, err = run_cli("search", "stereo", cache, "--out", out, "--limit", "3", *TINY_FLAGS)
    assert code == 0, err
    assert "feature: cell" in stdout and "matching: cell" in stdout and "mJ per frame" in stdout
    data = json.loads((out / "genotype.json").read_text())
    assert set(data["cells"]) == {"feature", "matching"}
    assert (out / "log.csv").is_file() and (out / "checkpoint.pt").is_file()


def _assert_clean_failure(result, out, match):
    code, _, err = result
    assert code != 0
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1, err
    assert match in err
    assert not (out / "genotype.json").exists()


def test_cli_bad_inputs(tmp_path, run_cli):
    cache = write_tiny_cache(tmp_path / "tiny.h5", frames=4)
    other = write_tiny_cache(tmp_path / "other.h5", frames=2, channels=3)
    out = tmp_path / "bad"
    _assert_clean_failure(run_cli("search", "stereo", tmp_path / "missing.h5", "--out", out, *TINY_FLAGS),
                          out, "cache file not found")
    _assert_clean_failure(run_cli("search", "stereo", cache, "--val", other, "--out", out, *TINY_FLAGS),
                          out, "num_bins")
    _assert_clean_failure(run_cli("search", "stereo", cache, other, "--out", out, *TINY_FLAGS), out, "num_bins")
    _assert_clean_failure(run_cli("search", "stereo", cache, "--budget-mj", "1e-9", "--out", out, *TINY_FLAGS),
                          out, "impossible budget")
    _assert_clean_failure(run_cli("search", "stereo", cache, "--budget-mj", "-1", "--out", out, *TINY_FLAGS),
                          out, "impossible budget")
    _assert_clean_failure(run_cli("search", "stereo", cache, "--out", out, *TINY_FLAGS, "--max-disparity", "10"),
                          out, "multiple of 3")
    _assert_clean_failure(run_cli("search", "stereo", cache, "--out", out, "--limit", "1", *TINY_FLAGS),
                          out, "at least 2 training frames")
    _assert_clean_failure(run_cli("search", "stereo", cache, "--out", out, *TINY_FLAGS, "--arch-start-epoch", "2"),
                          out, "no architecture step")
    if not torch.cuda.is_available():
        _assert_clean_failure(run_cli("search", "stereo", cache, "--device", "cuda", "--out", out, *TINY_FLAGS),
                              out, "no CUDA GPU")
    assert not out.exists()


def test_cli_refuses_to_overwrite_a_run(tmp_path, run_cli):
    cache = write_tiny_cache(tmp_path / "tiny.h5", frames=2)
    out = tmp_path / "run"
    flags = [*TINY_FLAGS, "--epochs", "1", "--arch-start-epoch", "0"]
    assert run_cli("search", "stereo", cache, "--out", out, *flags)[0] == 0
    code, _, err = run_cli("search", "stereo", cache, "--out", out, *flags)
    assert code != 0 and "--resume" in err and "Traceback" not in err
    code, _, err = run_cli("search", "stereo", cache, "--out", out, *flags, "--filter-multiplier", "3", "--resume")
    assert code != 0 and "Traceback" not in err and len(err.strip().splitlines()) == 1
