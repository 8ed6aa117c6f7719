"""DGS on constructed problems: b moves toward the candidate whose surrogate lowers the loss faster."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from search.dgs import DGSConfig, DGSStrategy, make_dgs
from search.local import NodeTable
from search.neurons import NeuronConfig, dspike_grad, get_surrogate_b, make_neuron, reset_states, set_surrogate_b


class LinearLIF(nn.Module):
    """``[T, N, 4] -> Linear -> LIF -> [T, N, 16]``; membranes start at ``bias`` (tiny weights)."""

    def __init__(self, bias: float, b: float = 3.0) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 16)
        with torch.no_grad():
            self.fc.weight.normal_(0.0, 0.01)
            self.fc.bias.fill_(bias)
        self.neuron = make_neuron(NeuronConfig(surrogate_b=b))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        reset_states(self)
        return self.neuron(self.fc(x))


def fire_loss(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """The task: every neuron should fire (loss 1 when silent, 0 when all fire)."""
    return ((model(x).mean() - 1.0) ** 2)


def batches(n: int, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    for _ in range(n):
        yield torch.rand(1, 32, 4, generator=generator), torch.rand(1, 32, 4, generator=generator)


def steps_to_fire(bias: float, b: float, lr: float = 0.05, max_steps: int = 500) -> int:
    """Independent reference: plain SGD with a fixed b; steps until the loss falls below 0.5."""
    torch.manual_seed(0)
    model = LinearLIF(bias, b)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    x = torch.rand(1, 32, 4, generator=torch.Generator().manual_seed(5))
    for step in range(max_steps):
        optimizer.zero_grad()
        loss = fire_loss(model, x)
        if float(loss.detach()) < 0.5:
            return step
        loss.backward()
        optimizer.step()
    return max_steps


def run_dgs(bias: float, rounds: int = 2) -> list[float]:
    torch.manual_seed(0)
    model = LinearLIF(bias)
    table = NodeTable(model, {"toy.stem": "neuron"})
    dgs = make_dgs(table, DGSConfig(batches=30))
    bs = [table.configs["toy.stem"].surrogate_b]
    for r in range(rounds):
        dgs.run_round(fire_loss, batches(30, seed=r))
        bs.append(table.configs["toy.stem"].surrogate_b)
    assert get_surrogate_b(model.neuron) == pytest.approx(bs[-1])  # the neuron itself follows
    return bs


def test_far_from_threshold_wide_surrogate_is_faster_and_dgs_lowers_b():
    # Membranes at 0.1 (x = u - V_th = -0.4): a flatter window (small b) passes more gradient.
    assert dspike_grad(torch.tensor(-0.4), 2.6) > dspike_grad(torch.tensor(-0.4), 3.4)
    assert steps_to_fire(0.1, 2.6) < steps_to_fire(0.1, 3.4)
    bs = run_dgs(0.1)
    assert bs == sorted(bs, reverse=True) and bs[-1] < 3.0


def test_near_threshold_sharp_surrogate_is_faster_and_dgs_raises_b():
    # Membranes at 0.45 (x = -0.05): the sharper peak (large b) passes more gradient.
    assert dspike_grad(torch.tensor(-0.05), 3.4) > dspike_grad(torch.tensor(-0.05), 2.6)
    assert steps_to_fire(0.45, 3.4) < steps_to_fire(0.45, 2.6)
    bs = run_dgs(0.45)
    assert bs == sorted(bs) and bs[-1] > 3.0


def test_round_keeps_weights_and_clips_b():
    torch.manual_seed(0)
    model = LinearLIF(0.1, b=0.3)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    table = NodeTable(model, {"toy.stem": "neuron"})
    dgs = make_dgs(table, DGSConfig(batches=10))
    result = dgs.run_round(fire_loss, batches(10))
    assert [c.surrogate_b for c in result.candidates["toy.stem"]] == pytest.approx([0.1, 0.3, 0.5, 0.7])
    assert table.configs["toy.stem"].surrogate_b >= 0.2
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key


def test_every_node_of_a_multi_node_net_moves_independently():
    torch.manual_seed(0)
    model = nn.Module()
    model.a, model.b = LinearLIF(0.1), LinearLIF(0.45)

    def loss(m: nn.Module, x: torch.Tensor) -> torch.Tensor:
        return fire_loss(m.a, x) + fire_loss(m.b, x)

    table = NodeTable(model, {"net.cell0.node0": "a.neuron", "net.cell0.node1": "b.neuron"})
    make_dgs(table, DGSConfig(batches=20)).run_round(loss, batches(20))
    assert table.configs["net.cell0.node0"].surrogate_b < 3.0 < table.configs["net.cell0.node1"].surrogate_b


def test_strategy_candidates_and_config_errors():
    strategy = DGSStrategy(DGSConfig())
    assert [c.surrogate_b for c in strategy.candidates(NeuronConfig())] == pytest.approx([2.6, 2.8, 3.0, 3.2, 3.4])
    assert strategy.candidates(NeuronConfig(kind="ann")) == ()
    assert strategy.winner(NeuronConfig(), NeuronConfig(surrogate_b=7.0)).surrogate_b == 6.0
    with pytest.raises(ValueError):
        DGSConfig(deltas=(0.2, 0.4))
    with pytest.raises(ValueError):
        DGSConfig(b_min=3.0, b_max=2.0)
    neuron = make_neuron(NeuronConfig())
    set_surrogate_b(neuron, 2.0)
    assert get_surrogate_b(neuron) == 2.0
