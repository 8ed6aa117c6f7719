"""Tests for search.cost: MAC counts, AC/energy rules, energy report, budget penalty and its effect."""

import math

import pytest
import torch
from torch import nn

from search.cost import (
    PJ_PER_AC,
    PJ_PER_MAC,
    budget_penalty,
    cell_expected_energy,
    conv_macs,
    energy_report,
)
from search.derived import SpikingConvBN
from search.genotype import cell_to_alpha, decode_cell, path_to_beta, transition_weights, viterbi
from search.neurons import NeuronConfig
from search.ops import ConvBN
from search.trellis import SearchTrellis


def test_conv_macs_hand_computed():
    # 3x3 conv, 4 -> 8 channels, 5x5 output: 9 * 4 * 8 * 25
    assert conv_macs(kernel_size=3, c_in=4, c_out=8, out_spatial=(5, 5)) == 7200
    assert conv_macs(kernel_size=3, c_in=4, c_out=8, out_spatial=(2, 5, 5)) == 27 * 4 * 8 * 50
    assert conv_macs(kernel_size=3, c_in=4, c_out=8, out_spatial=(5, 5), groups=4) == 9 * 1 * 8 * 25


def test_energy_report_counts_macs_acs_and_energy():
    torch.manual_seed(0)
    net = nn.Sequential(ConvBN(4, 8, dim=2), nn.Identity()).eval()
    x = torch.zeros(3, 2, 4, 5, 5)  # T=3, N=2
    x[:, :, :, 0, 0] = 1.0  # 3*2*4 ones out of 600 -> rate 0.04
    report = energy_report(net, x, num_samples=2)
    (row,) = report.layers
    assert row.spiking_input and math.isclose(row.input_rate, 0.04)
    assert row.macs == 3 * 7200  # per sample, summed over T
    assert math.isclose(row.acs, 3 * 7200 * 0.04)
    assert math.isclose(report.total_mj, 3 * 7200 * 0.04 * PJ_PER_AC * 1e-9)
    assert "| **total** |" in report.to_markdown()
    assert report.to_rich_table().row_count == 1


def test_all_zero_spikes_cost_zero_acs():
    net = ConvBN(4, 8, dim=3).eval()
    report = energy_report(net, torch.zeros(2, 1, 4, 3, 4, 4), num_samples=1)
    assert report.layers[0].acs == 0 and report.total_mj == 0


def test_real_input_and_hybrid_ann_layer_are_charged_macs():
    torch.manual_seed(0)
    spiking = nn.Sequential(SpikingConvBN(3, 4), SpikingConvBN(4, 4)).eval()
    hybrid = nn.Sequential(SpikingConvBN(3, 4, neuron=NeuronConfig(kind="ann")), SpikingConvBN(4, 4)).eval()
    hybrid.load_state_dict(spiking.state_dict())
    image = torch.randn(2, 1, 3, 6, 6)
    rep_s = energy_report(spiking, image, num_samples=1)
    rep_h = energy_report(hybrid, image, num_samples=1)
    macs = 2 * conv_macs(kernel_size=3, c_in=3, c_out=4, out_spatial=(6, 6))
    for rep in (rep_s, rep_h):  # the encoder sees a real image: MACs
        assert not rep.layers[0].spiking_input and rep.layers[0].acs == 0
        assert math.isclose(rep.layers[0].energy_mj, macs * PJ_PER_MAC * 1e-9)
    assert rep_s.layers[1].spiking_input
    assert not rep_h.layers[1].spiking_input  # fed by ReLU outputs
    second = 2 * conv_macs(kernel_size=3, c_in=4, c_out=4, out_spatial=(6, 6))
    assert math.isclose(rep_h.layers[1].energy_mj, second * PJ_PER_MAC * 1e-9)


def test_cell_expected_energy_one_hot_matches_hand_count():
    cell = ((1, 1), (0, 1), (3, 2), (2, 1), (7, 1), (8, 0))  # last op: identity skip (c_node -> c_node)
    weights = torch.zeros(9, 3)
    for e, op in cell:
        weights[e, op] = 1.0
    energy = cell_expected_energy(weights, c_prev_prev=6, c_prev=6, c_node=4, spatial=(5, 5), timesteps=2,
                                  input_rate=0.1)
    # edges 1, 0, 3, 2 read s0/s1 (6 channels), edge 7 reads node 0 (4 channels), edge 8's skip is free
    expected = 4 * conv_macs(kernel_size=3, c_in=6, c_out=4, out_spatial=(5, 5))
    expected += conv_macs(kernel_size=3, c_in=4, c_out=4, out_spatial=(5, 5))
    uniform = cell_expected_energy(torch.full((9, 3), 1 / 3), c_prev_prev=6, c_prev=6, c_node=4, spatial=(5, 5),
                                   timesteps=2, input_rate=0.1)
    conv6, conv4 = (conv_macs(kernel_size=3, c_in=c, c_out=4, out_spatial=(5, 5)) for c in (6, 4))
    # node0: both s-edges; node1: 2/3 of (s0, s1, n0 with 2/3 conv); node2: 2/4 of (s0, s1, n0, n1)
    hand = 2 * conv6 + (2 / 3) * (2 * conv6 + (2 / 3) * conv4) + 0.5 * (2 * conv6 + 2 * (2 / 3) * conv4)
    assert math.isclose(float(uniform), hand * 2 * 0.1 * PJ_PER_AC, rel_tol=1e-5)
    assert math.isclose(float(energy), expected * 2 * 0.1 * PJ_PER_AC, rel_tol=1e-6)


def test_budget_penalty_values_and_errors():
    e = torch.tensor(3.0)
    assert float(budget_penalty(e, 2.0, weight=2.0)) == pytest.approx(1.0)
    assert float(budget_penalty(e, 4.0, weight=2.0)) == 0.0
    assert float(budget_penalty(e, 1.5, weight=1.0, mode="log")) == pytest.approx(math.log(2.0))
    with pytest.raises(ValueError, match="budget must be > 0"):
        budget_penalty(e, 0.0, weight=1.0)
    with pytest.raises(ValueError, match="unknown budget mode"):
        budget_penalty(e, 1.0, weight=1.0, mode="square")


def _decoded_energy(trellis, alpha, beta, spatial):
    cell, path = decode_cell(alpha), viterbi(beta)
    weights = cell_to_alpha(cell, scale=0.0)
    for e, op in cell:
        weights[e, op] = 1.0
    beta_w = transition_weights(path_to_beta(path, num_levels=trellis.num_levels, scale=60.0).double()).float()
    return float(trellis.expected_energy_pj(weights, beta_w, spatial=spatial, timesteps=2, input_rate=0.2))


def test_budget_term_lowers_energy_of_decoded_genotype_as_lambda_grows():
    """Fixed task term prefers conv ops and the finest level; the budget pulls the other way."""
    trellis = SearchTrellis(num_layers=3, num_levels=3, c_stem=6, filter_multiplier=2, dim=3)
    spatial = (8, 8, 8)  # in 3D coarser levels are cheaper (channels x4, voxels /8)
    energies = []
    for lam in (0.0, 1.0, 100.0):
        torch.manual_seed(0)
        alpha = (1e-3 * torch.randn(9, 3)).requires_grad_(True)
        beta = (1e-3 * torch.randn(3, 3, 3)).requires_grad_(True)
        opt = torch.optim.Adam([alpha, beta], lr=0.1)
        for _ in range(60):
            a_w, b_w = torch.softmax(alpha, -1), transition_weights(beta)
            task = -(a_w[:, 1:].sum() + b_w[:, :, 0].sum() + b_w[:, :, 1].sum())
            energy = trellis.expected_energy_pj(a_w, b_w, spatial=spatial, timesteps=2, input_rate=0.2)
            loss = task + budget_penalty(energy, 1.0, weight=lam, mode="log")
            opt.zero_grad()
            loss.backward()
            opt.step()
        energies.append(_decoded_energy(trellis, alpha.detach(), beta.detach(), spatial))
    assert energies[0] >= energies[1] >= energies[2]
    assert energies[2] < 0.5 * energies[0]
