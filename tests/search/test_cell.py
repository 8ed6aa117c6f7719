"""Tests for search.cell: search cell vs derived cell, gradients, 2D/3D, mixing modes."""

import pytest
import torch

from search.cell import DerivedCell, SearchCell, node_neuron_configs
from search.genotype import NodeSetting
from search.named_genotypes import SPIKEDHS_CIFAR, SPIKEDHS_MVSEC
from search.neurons import NeuronConfig, get_surrogate_b, reset_states


def _spikes(*shape, rate=0.5, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand(*shape, generator=gen) < rate).float()


def _one_hot(cell, num_ops=3):
    weights = torch.zeros(9, num_ops)
    for edge, op in cell:
        weights[edge, op] = 1.0
    return weights


@pytest.mark.parametrize("dim", [2, 3])
@pytest.mark.parametrize("cell_name", ["feature", "matching"])
def test_search_cell_with_one_hot_weights_equals_derived_cell(dim, cell_name):
    torch.manual_seed(0)
    cell = SPIKEDHS_MVSEC.cell(cell_name)
    search = SearchCell(c_prev_prev=5, c_prev=6, c_node=4, dim=dim)
    derived = DerivedCell(cell, c_prev_prev=5, c_prev=6, c_node=4, dim=dim)
    derived.load_from_search_cell(search)
    spatial = (4,) * dim
    s0, s1 = _spikes(3, 2, 5, *spatial, seed=1), _spikes(3, 2, 6, *spatial, seed=2)
    out_search = search(s0, s1, _one_hot(cell))
    out_derived = derived(s0, s1)
    assert out_search.shape == (3, 2, 12, *spatial)
    torch.testing.assert_close(out_search, out_derived)
    assert 0 < out_derived.mean() < 1  # not trivially silent
    assert set(out_derived.unique().tolist()) <= {0.0, 1.0}


def test_gradient_reaches_every_alpha_entry():
    torch.manual_seed(0)
    cell = SearchCell(c_prev_prev=4, c_prev=4, c_node=4)
    alpha = (1e-3 * torch.randn(9, 3)).requires_grad_(True)
    out = cell(_spikes(4, 2, 4, 6, 6, seed=3), _spikes(4, 2, 4, 6, 6, seed=4), torch.softmax(alpha, -1))
    (out * torch.randn_like(out)).sum().backward()
    assert torch.all(alpha.grad.abs() > 0)


def test_spike_mixing_ablation_runs_and_differs():
    torch.manual_seed(0)
    s0, s1 = _spikes(3, 2, 4, 5, 5, seed=5), _spikes(3, 2, 4, 5, 5, seed=6)
    weights = torch.softmax(torch.randn(9, 3), -1)
    spike_cell = SearchCell(c_prev_prev=4, c_prev=4, c_node=4, mix="spike")
    out = spike_cell(s0, s1, weights)
    assert out.shape == (3, 2, 12, 5, 5)
    derived = DerivedCell(SPIKEDHS_CIFAR.cell("classify"), c_prev_prev=4, c_prev=4, c_node=4, mix="spike")
    assert derived(s0, s1).shape == (3, 2, 12, 5, 5)
    with pytest.raises(ValueError, match="mix mode"):
        SearchCell(c_prev_prev=4, c_prev=4, c_node=4, mix="output")


def test_reset_gives_same_output_twice():
    cell = DerivedCell(SPIKEDHS_CIFAR.cell("classify"), c_prev_prev=4, c_prev=4, c_node=4).eval()
    s0, s1 = _spikes(3, 1, 4, 5, 5, seed=7), _spikes(3, 1, 4, 5, 5, seed=8)
    first = cell(s0, s1)
    reset_states(cell)
    assert torch.equal(first, cell(s0, s1))


def test_node_temperature_rule_and_overrides():
    configs = node_neuron_configs(SPIKEDHS_CIFAR.cell("classify"))
    assert [c.surrogate_b for c in configs] == [3.0, 4.0, 3.0]  # (b3, b3), (b5, b3), (b3, b3)
    configs = node_neuron_configs(
        ((0, 0), (1, 2), (2, 1), (3, 1), (5, 1), (6, 1)),
        default=NeuronConfig(surrogate_b=2.0),
        settings=[None, NodeSetting(kind="ann"), NodeSetting(surrogate_b=1.1, decay=0.5)],
    )
    assert configs[0].surrogate_b == 3.5  # skip takes the default b (2), snn_b5 asks 5
    assert configs[1].kind == "ann" and configs[2].surrogate_b == 1.1 and configs[2].decay == 0.5
    derived = DerivedCell(SPIKEDHS_CIFAR.cell("classify"), c_prev_prev=4, c_prev=4, c_node=4)
    assert [get_surrogate_b(n) for n in derived.nodes] == [3.0, 4.0, 3.0]


def test_shape_errors():
    cell = SearchCell(c_prev_prev=4, c_prev=6, c_node=4)
    with pytest.raises(ValueError, match="input channels"):
        cell(torch.zeros(2, 1, 4, 5, 5), torch.zeros(2, 1, 4, 5, 5), torch.ones(9, 3) / 3)
    with pytest.raises(ValueError, match="weights"):
        cell(torch.zeros(2, 1, 4, 5, 5), torch.zeros(2, 1, 6, 5, 5), torch.ones(8, 3))
