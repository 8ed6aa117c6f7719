"""HNS on a constructed problem: a real-valued target favours an ANN node unless the budget is tight."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from search.cost import PJ_PER_AC, PJ_PER_MAC, PJ_PER_MJ, energy_report
from search.hns import HNSConfig, HNSStrategy, make_hns
from search.local import NodeTable
from search.neurons import NeuronConfig, make_neuron, reset_states

T, N, C = 2, 64, 8


class Hybridisable(nn.Module):
    """``[T, N, 4] -> Linear(4, 8) -> node -> Linear(8, 1) -> mean over T``: a node worth turning ANN."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, C)
        self.node = make_neuron(NeuronConfig())
        self.readout = nn.Linear(C, 1)
        with torch.no_grad():
            self.fc.weight.copy_(torch.randn(C, 4, generator=torch.Generator().manual_seed(3)))
            self.fc.bias.zero_()
            self.readout.weight.fill_(1.0 / C)
            self.readout.bias.zero_()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        reset_states(self)
        return self.readout(self.node(self.fc(x))).mean(0)[:, 0]


def target(model: Hybridisable, x: torch.Tensor) -> torch.Tensor:
    # Exactly what the network computes when the node is a ReLU: an ANN node fits it, spikes cannot.
    with torch.no_grad():
        return torch.relu(model.fc(x)).mean(-1).mean(0)


def make_problem():
    torch.manual_seed(0)
    model = Hybridisable()
    x = torch.rand(T, N, 4, generator=torch.Generator().manual_seed(1))
    y = target(model, x)

    def loss(m: nn.Module, batch: torch.Tensor) -> torch.Tensor:
        return ((m(batch) - target(model, batch)) ** 2).mean()

    def energy(m: nn.Module) -> float:
        return energy_report(m, x, num_samples=N).total_mj

    return model, x, y, loss, energy


def heldout(n: int):
    generator = torch.Generator().manual_seed(7)
    for _ in range(n):
        yield None, torch.rand(T, N, 4, generator=generator)


def energies(model: Hybridisable, x: torch.Tensor, energy) -> tuple[float, float]:
    spiking = energy(model)
    model.node = nn.ReLU()
    ann = energy(model)
    model.node = make_neuron(NeuronConfig())
    return spiking, ann


def test_premise_ann_is_more_accurate_and_more_expensive():
    model, x, y, loss, energy = make_problem()
    spiking_loss = float(loss(model, x).detach())
    e_spiking, e_ann = energies(model, x, energy)
    model.node = nn.ReLU()
    assert float(loss(model, x).detach()) < 1e-10 < spiking_loss
    assert e_ann > 1.15 * e_spiking
    # The readout reads real values as an ANN (MACs) and spikes as an SNN (ACs = MACs x rate).
    assert e_ann - e_spiking == pytest.approx(
        T * C * (PJ_PER_MAC - PJ_PER_AC * _rate(model, x)) / PJ_PER_MJ, rel=1e-6)


def _rate(model: Hybridisable, x: torch.Tensor) -> float:
    model.node = make_neuron(NeuronConfig())
    reset_states(model)
    with torch.no_grad():
        return float(model.node(model.fc(x)).mean())


def run_hns(budget_factor: float, weight: float = 10.0):
    model, x, y, loss, energy = make_problem()
    e_spiking, e_ann = energies(model, x, energy)
    budget = budget_factor * e_spiking
    table = NodeTable(model, {"toy.cell0.node0": "node"})
    hns = make_hns(table, HNSConfig(budget_mj=budget, budget_weight=weight, batches=30), energy_fn=energy)
    hns.run_round(loss, heldout(30))
    return table, model, hns, (e_spiking, e_ann)


def test_loose_budget_turns_the_node_to_ann():
    table, model, hns, (e_spiking, e_ann) = run_hns(budget_factor=10.0)
    assert table.configs["toy.cell0.node0"].kind == "ann"
    assert isinstance(model.node, nn.ReLU)
    assert table.node_settings()["toy.cell0.node0"].kind == "ann"
    # The retrained hybrid's report: the readout now reads real values and is charged MACs.
    report = energy_report(model, torch.rand(T, 4, 4), num_samples=4)
    readout = next(layer for layer in report.layers if layer.name == "readout")
    assert not readout.spiking_input and readout.acs == 0 and readout.macs > 0


def test_tight_budget_keeps_the_node_spiking():
    table, model, hns, (e_spiking, e_ann) = run_hns(budget_factor=1.05)
    assert e_ann > 1.05 * e_spiking  # the ANN candidate would break this budget
    assert table.configs["toy.cell0.node0"].kind == "lif"
    assert not isinstance(model.node, nn.ReLU)
    assert hns.strategy.last_expected_mj is not None


def test_no_budget_is_accuracy_alone():
    model, x, y, loss, energy = make_problem()
    table = NodeTable(model, {"toy.cell0.node0": "node"})
    make_hns(table, HNSConfig(batches=20)).run_round(loss, heldout(20))
    assert table.configs["toy.cell0.node0"].kind == "ann"


def test_an_ann_node_keeps_its_spiking_settings_and_can_turn_back():
    strategy = HNSStrategy(HNSConfig(), None)
    centre = NeuronConfig(kind="ann", decay=0.5, surrogate_b=2.0)
    assert [(c.kind, c.decay, c.surrogate_b) for c in strategy.candidates(centre)] == [
        ("lif", 0.5, 2.0), ("ann", 0.5, 2.0)]
    with pytest.raises(ValueError, match="energy_fn"):
        HNSStrategy(HNSConfig(budget_mj=1.0), None)
    with pytest.raises(ValueError, match="budget"):
        HNSConfig(budget_mj=0.0)
