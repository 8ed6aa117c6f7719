import pytest
import torch

from search.genotype import Genotype
from search.named_genotypes import get_genotype
from stereo.network import SpikingStereoNet, StereoNetConfig, encode_events

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
