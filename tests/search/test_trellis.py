"""Tests for search.trellis and search.derived: resampling, occupancy, gradients, 2D/3D paths."""

import pytest
import torch

from search.derived import PathNet, build_path_net
from search.genotype import path_to_beta, transition_weights
from search.named_genotypes import SPIKEDHS_MVSEC
from search.trellis import SearchTrellis, level_occupancy, level_sizes, resample_spikes


def test_level_sizes_and_resampling_keep_spikes_binary():
    assert level_sizes((65, 86), 4) == [(65, 86), (33, 43), (17, 22), (9, 11)]
    x = (torch.rand(2, 3, 4, 9, 11) > 0.7).float()
    down = resample_spikes(x, (5, 6))
    assert down.shape == (2, 3, 4, 5, 6) and set(down.unique().tolist()) <= {0.0, 1.0}
    assert resample_spikes(x, (9, 11)) is x
    up = resample_spikes(torch.tensor([[[[1.0, 0.0]]]]).view(1, 1, 1, 1, 2), (2, 4))
    assert up.flatten().tolist() == [1, 1, 0, 0, 1, 1, 0, 0]
    vol = resample_spikes(torch.ones(1, 1, 2, 4, 4, 4), (2, 2, 2))
    assert vol.shape == (1, 1, 2, 2, 2, 2)


def test_level_occupancy_is_a_distribution_and_one_hot_on_a_path():
    occupancy = level_occupancy(transition_weights(torch.randn(5, 4, 3)))
    torch.testing.assert_close(occupancy.sum(-1), torch.ones(5))
    assert torch.all(occupancy[0, 2:] == 0)  # layer 0 reaches levels 0 and 1 only
    path = (1, 2, 2, 1)
    occ = level_occupancy(transition_weights(path_to_beta(path, scale=50.0).double()))
    assert occ.argmax(-1).tolist() == list(path)
    assert torch.allclose(occ.max(-1).values, torch.ones(4, dtype=torch.float64))


@pytest.mark.parametrize("dim", [2, 3])
def test_trellis_runs_and_gradients_reach_every_valid_alpha_and_beta(dim):
    torch.manual_seed(0)
    trellis = SearchTrellis(num_layers=3, num_levels=3, c_stem=4, filter_multiplier=2, dim=dim)
    alpha = (1e-3 * torch.randn(9, 3)).requires_grad_(True)
    beta = (1e-3 * torch.randn(3, 3, 3)).requires_grad_(True)
    spatial = (8,) * dim
    stem = (torch.rand(2, 2, 4, *spatial) > 0.5).float()
    states = trellis(stem, torch.softmax(alpha, -1), transition_weights(beta))
    assert [s.shape[2:] for s in states] == [(6, *spatial), (12, *(4,) * dim), (24, *(2,) * dim)]
    loss = sum((s * torch.randn_like(s)).sum() for s in states)
    loss.backward()
    assert torch.all(alpha.grad.abs() > 0)
    # valid moves of reachable sources: layer 0 from the stem (level 0), later layers from every level
    valid = [(0, 0, 1), (0, 0, 2)]
    for layer in (1, 2):
        for source in range(3):
            if layer == 1 and source > 1:
                continue
            for move in range(3):
                if 0 <= source + move - 1 < 3:
                    valid.append((layer, source, move))
    for index in valid:
        assert beta.grad[index] != 0, index


def test_path_net_2d_and_3d_shapes_and_determinism():
    torch.manual_seed(0)
    feature = build_path_net(SPIKEDHS_MVSEC, "feature", c_stem=6, filter_multiplier=2, dim=2)
    matching = build_path_net(SPIKEDHS_MVSEC, "matching", c_stem=6, filter_multiplier=2, dim=3)
    stem2 = (torch.rand(2, 1, 6, 11, 14) > 0.5).float()
    stem3 = (torch.rand(2, 1, 6, 8, 11, 14) > 0.5).float()
    out2 = feature(stem2)
    assert out2.shape == (2, 1, feature.out_channels, 11, 14) and feature.out_channels == 6  # ends at level 0
    outs3 = matching.forward_all(stem3)
    assert [o.shape[3:] for o in outs3] == [(4, 6, 7), (2, 3, 4), (2, 3, 4), (4, 6, 7)]
    assert matching.channels == (12, 24, 24, 12)
    again = matching.forward_all(stem3)
    assert all(torch.equal(a, b) for a, b in zip(outs3, again, strict=True))


def test_path_net_errors():
    with pytest.raises(ValueError, match="jump"):
        PathNet(SPIKEDHS_MVSEC.cell("feature"), (0, 2), c_stem=4, filter_multiplier=2)
    net = PathNet(SPIKEDHS_MVSEC.cell("feature"), (0,), c_stem=4, filter_multiplier=2)
    with pytest.raises(ValueError, match="stem must be"):
        net(torch.zeros(2, 1, 3, 8, 8))
