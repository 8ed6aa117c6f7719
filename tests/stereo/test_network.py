import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from search.genotype import Genotype
from search.named_genotypes import get_genotype
from stereo.disparity import soft_argmin
from stereo.network import SpikingStereoNet, StereoNetConfig, aligned_upsample, encode_events
from stereo.refinement import RefinementConfig

TINY = dict(in_channels=2, max_disparity=12, timesteps=2, feature_filter_multiplier=2, matching_filter_multiplier=2)


@pytest.fixture(scope="module")
def tiny_net():
    torch.manual_seed(0)
    return SpikingStereoNet(get_genotype("spikedhs_mvsec"), StereoNetConfig(**TINY))


@pytest.mark.parametrize("height,width", [(12, 18), (13, 20), (25, 31)])
def test_any_input_size(tiny_net, height, width):
    x = torch.rand(2, 2, height, width)
    out = tiny_net(x, x)
    assert out.disparity.shape == (2, 1, height, width)
    assert out.log_probability.shape == (2, 12, height, width)
    assert torch.allclose(out.log_probability.exp().sum(1), torch.ones(2, height, width), atol=1e-5)
    assert ((out.disparity >= 0) & (out.disparity <= 11)).all()


def test_same_input_twice_gives_same_output(tiny_net):
    tiny_net.train()
    x, y = torch.rand(1, 2, 15, 21), torch.rand(1, 2, 15, 21)
    with torch.no_grad():
        first = tiny_net(x, y).disparity
        tiny_net(y, x)  # a different call in between must not leak membrane state
        second = tiny_net(x, y).disparity
    assert torch.equal(first, second)


def test_gradients_reach_every_weight(tiny_net):
    tiny_net.train()
    tiny_net.zero_grad()
    x = (torch.rand(2, 2, 15, 21) > 0.5).float()
    tiny_net(x, x.roll(-2, dims=-1)).disparity.mean().backward()
    missing = [name for name, p in tiny_net.named_parameters() if p.grad is None]
    assert not missing


def test_bins_as_time_mode():
    cfg = StereoNetConfig(**{**TINY, "input_mode": "bins_as_time"})
    net = SpikingStereoNet(get_genotype("spikedhs_mvsec"), cfg)
    assert net(torch.rand(1, 2, 12, 18), torch.rand(1, 2, 12, 18)).disparity.shape == (1, 1, 12, 18)
    x = torch.arange(6.0).view(1, 2, 1, 3)
    assert encode_events(x, timesteps=2, mode="bins_as_time")[1, 0, 0].tolist() == [[3.0, 4.0, 5.0]]
    assert encode_events(x, timesteps=3, mode="repeat").shape == (3, 1, 2, 1, 3)


def test_config_checks_and_round_trip():
    cfg = StereoNetConfig(**TINY)
    assert StereoNetConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="multiple of 3"):
        StereoNetConfig(max_disparity=50)
    with pytest.raises(ValueError, match="bins_as_time"):
        StereoNetConfig(in_channels=5, timesteps=3, input_mode="bins_as_time")
    with pytest.raises(ValueError, match="unknown stereo network config keys"):
        StereoNetConfig.from_dict({"bins": 3})


def test_input_checks(tiny_net):
    with pytest.raises(ValueError, match="differ in shape"):
        tiny_net(torch.rand(1, 2, 12, 18), torch.rand(1, 2, 12, 15))
    with pytest.raises(ValueError, match=r"\[N, 2, H, W\]"):
        tiny_net(torch.rand(1, 3, 12, 18), torch.rand(1, 3, 12, 18))


def test_genotype_without_stereo_cells_is_refused():
    with pytest.raises(ValueError, match="feature"):
        SpikingStereoNet(get_genotype("spikedhs_cifar"), StereoNetConfig(**TINY))
    assert isinstance(get_genotype("spikedhs_mvsec"), Genotype)


def _reference_aligned(cost: np.ndarray, size: tuple[int, int, int]) -> np.ndarray:
    """Separable linear interpolation with np.interp: full index i reads coarse position i / 3."""
    out = cost
    for axis, full in enumerate(size, start=1):
        positions, coarse = np.arange(full) / 3.0, np.arange(out.shape[axis])
        out = np.apply_along_axis(lambda v, p=positions, c=coarse: np.interp(p, c, v), axis, out)
    return out


@pytest.mark.parametrize("size", [(12, 9, 15), (10, 7, 13)])
def test_aligned_upsampling_matches_a_separable_reference(size):
    cost = torch.rand(2, 4, 3, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    got = aligned_upsample(cost, size).numpy()
    assert got.shape == (2, *size)
    np.testing.assert_allclose(got, _reference_aligned(cost.numpy(), size), atol=1e-12)
    with pytest.raises(ValueError, match="cannot upsample"):
        aligned_upsample(cost, (13, 9, 15))


def test_aligned_upsampling_puts_coarse_disparity_k_at_3k_and_trilinear_at_3k_plus_1():
    cost = torch.full((1, 16, 2, 2), 50.0)
    cost[:, 5] = 0.0  # the coarse volume matches at k = 5, i.e. 15 px at full resolution
    aligned = soft_argmin(aligned_upsample(cost, (48, 6, 6)))[0]
    trilinear = soft_argmin(F.interpolate(cost.unsqueeze(1), size=(48, 6, 6), mode="trilinear",
                                          align_corners=False).squeeze(1))[0]
    assert torch.allclose(aligned, torch.tensor(15.0), atol=1e-3)
    assert torch.allclose(trilinear, torch.tensor(16.0), atol=1e-3)


def test_aligned_network_option():
    cfg = StereoNetConfig(in_channels=2, max_disparity=12, timesteps=2, feature_filter_multiplier=2,
                          matching_filter_multiplier=2, cost_upsampling="aligned")
    assert cfg.to_dict()["cost_upsampling"] == "aligned" and StereoNetConfig.from_dict(cfg.to_dict()) == cfg
    assert "cost_upsampling" not in StereoNetConfig().to_dict()  # older checkpoints keep their form
    net = SpikingStereoNet(get_genotype("spikedhs_mvsec"), cfg)
    assert net(torch.rand(1, 2, 20, 31), torch.rand(1, 2, 20, 31)).disparity.shape == (1, 1, 20, 31)
    with pytest.raises(ValueError, match="cost_upsampling"):
        StereoNetConfig(cost_upsampling="nearest")


def test_coincidence_cost_volume_option():
    cfg = StereoNetConfig(**TINY, cost_volume="coincidence")
    assert cfg.to_dict()["cost_volume"] == "coincidence" and StereoNetConfig.from_dict(cfg.to_dict()) == cfg
    assert "cost_volume" not in StereoNetConfig().to_dict()  # older checkpoints keep their form
    net = SpikingStereoNet(get_genotype("spikedhs_mvsec"), cfg)
    plain = SpikingStereoNet(get_genotype("spikedhs_mvsec"), StereoNetConfig(**TINY))
    first = net.matching.stem[0].conv_bn
    assert first.conv.in_channels == 3 * net.feature.out_channels
    assert plain.matching.stem[0].conv_bn.conv.in_channels == 2 * plain.feature.out_channels
    seen = {}

    def keep_input(module, args, out):
        seen["volume"] = args[0]

    first.register_forward_hook(keep_input)
    assert net(torch.rand(1, 2, 20, 31), torch.rand(1, 2, 20, 31)).disparity.shape == (1, 1, 20, 31)
    assert set(seen["volume"].unique().tolist()) <= {0.0, 1.0}  # still spikes: the matching net stays AC-only
    with pytest.raises(ValueError, match="cost_volume"):
        StereoNetConfig(cost_volume="correlation")


def test_refinement_head_option():
    cfg = StereoNetConfig(**TINY, refinement=RefinementConfig(channels=4, dilations=(1, 2), probability_channels=2,
                                                              cost_radius=1))
    data = cfg.to_dict()
    assert data["refinement"]["channels"] == 4 and data["refinement"]["dilations"] == [1, 2]
    assert StereoNetConfig.from_dict(json.loads(json.dumps(data))) == cfg
    assert "refinement" not in StereoNetConfig().to_dict()  # older checkpoints keep their form
    torch.manual_seed(0)
    net = SpikingStereoNet(get_genotype("spikedhs_mvsec"), cfg)
    out = net(torch.rand(2, 2, 20, 31), torch.rand(2, 2, 20, 31))
    assert out.disparity.shape == out.coarse_disparity.shape == (2, 1, 20, 31)
    # a new head starts as the identity (soft-argmin disparities are >= 0, which its ReLU keeps)
    assert torch.equal(out.disparity, out.coarse_disparity)
    assert SpikingStereoNet(get_genotype("spikedhs_mvsec"), StereoNetConfig(**TINY)).refine is None
    with pytest.raises(ValueError, match="refinement"):
        RefinementConfig(channels=0)
    with pytest.raises(ValueError, match="refinement"):
        RefinementConfig(dilations=(0,))
    with pytest.raises(ValueError, match="cost_window"):
        RefinementConfig(cost_window=4)
    with pytest.raises(ValueError, match="unknown refinement"):
        StereoNetConfig.from_dict({**data, "refinement": {"width": 3}})
