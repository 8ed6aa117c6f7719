"""TPS on constructed problems: memory across timesteps needs a long time constant, distractors a short one."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from search.local import NodeTable
from search.neurons import NeuronConfig, make_neuron, reset_states
from search.tps import DEFAULT_DECAYS, TPSConfig, TPSStrategy, make_tps


class OneNeuron(nn.Module):
    """A single LIF layer on a given current sequence ``[T, N, 1]``; output ``[T, N, 1]``."""

    def __init__(self) -> None:
        super().__init__()
        self.neuron = make_neuron(NeuronConfig(decay=0.5))

    def forward(self, current: torch.Tensor) -> torch.Tensor:
        reset_states(self)
        return self.neuron(current)


def last_step_loss(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
    current, label = batch
    return ((model(current)[-1, :, 0] - label) ** 2).mean()


def memory_batch(generator: torch.Generator, n: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    # A cue of 0.45 at t=0 must still count at t=2 on top of 0.35: fires iff 0.45 d^2 >= 0.15 (d >= 0.58).
    label = torch.randint(0, 2, (n,), generator=generator).float()
    current = torch.zeros(3, n, 1)
    current[0, :, 0] = 0.45 * label
    current[2, :, 0] = 0.35
    return current, label


def distractor_batch(generator: torch.Generator, n: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    # The label is in the last input alone (0.4 -> 0, 0.6 -> 1); a 0.45 distractor at t=0 makes the
    # neuron fire wrongly at t=2 iff 0.45 d^2 >= 0.1 (d >= 0.47).
    label = torch.randint(0, 2, (n,), generator=generator).float()
    current = torch.zeros(3, n, 1)
    current[0, :, 0] = 0.45 * torch.randint(0, 2, (n,), generator=generator).float()
    current[2, :, 0] = 0.4 + 0.2 * label
    return current, label


def reference_errors(make_batch, decays) -> dict[float, float]:
    """Independent check: error rate of each fixed decay, by direct simulation."""
    batch = make_batch(torch.Generator().manual_seed(1), 512)
    out = {}
    for d in decays:
        model = OneNeuron()
        model.neuron = make_neuron(NeuronConfig(decay=d))
        with torch.no_grad():
            out[d] = float((model(batch[0])[-1, :, 0] != batch[1]).float().mean())
    return out


def run_tps(make_batch, rounds: int = 1, kinds: tuple[str, ...] = ("lif",)) -> float:
    torch.manual_seed(0)
    model = OneNeuron()
    table = NodeTable(model, {"toy.stem": "neuron"})
    tps = make_tps(table, TPSConfig(batches=40, kinds=kinds))
    generator = torch.Generator().manual_seed(0)
    for _ in range(rounds):
        tps.run_round(last_step_loss, ((None, make_batch(generator)) for _ in range(40)))
    return table.configs["toy.stem"].decay


def test_reference_premise():
    memory = reference_errors(memory_batch, DEFAULT_DECAYS)
    distractor = reference_errors(distractor_batch, DEFAULT_DECAYS)
    assert memory[0.8] == 0 and memory[0.2] > 0.2
    assert distractor[0.2] == 0 and distractor[0.8] > 0.1


def test_tps_picks_long_time_constant_for_memory():
    assert run_tps(memory_batch) >= 0.65


def test_tps_picks_short_time_constant_against_distractors():
    assert run_tps(distractor_batch) <= 0.35


def test_tps_writes_the_winner_into_the_network_and_genotype():
    torch.manual_seed(0)
    model = OneNeuron()
    table = NodeTable(model, {"toy.stem": "neuron"})
    result = make_tps(table, TPSConfig(batches=20)).run_round(
        last_step_loss, ((None, memory_batch(torch.Generator().manual_seed(0))) for _ in range(20)))
    decay = table.configs["toy.stem"].decay
    assert result.winners["toy.stem"].decay == decay
    assert abs((1 - 1 / float(model.neuron.tau)) - decay) < 1e-6  # the neuron itself was rebuilt
    assert table.node_settings()["toy.stem"].decay == decay
    assert sum(result.accumulated["toy.stem"]) == pytest.approx(result.batches)


def test_candidates_with_kinds_and_ann_nodes_skipped():
    strategy = TPSStrategy(TPSConfig(decays=(0.2, 0.5), kinds=("lif", "if", "plif")))
    kinds = [(c.kind, c.decay) for c in strategy.candidates(NeuronConfig(decay=0.2))]
    assert kinds == [("lif", 0.2), ("lif", 0.5), ("if", 0.2), ("plif", 0.2), ("plif", 0.5)]
    assert strategy.candidates(NeuronConfig(kind="ann")) == ()


@pytest.mark.parametrize("bad", [dict(decays=(1.0,)), dict(decays=()), dict(kinds=("ann",))])
def test_bad_config(bad):
    with pytest.raises(ValueError):
        TPSConfig(**bad)
