"""HNS, hybrid neuron search: per node, spiking LIF or an artificial neuron (ReLU), under a budget.

Candidates of a node are its spiking setting and ``kind="ann"`` (ReLU on the same BN(conv)
current), mixed at the output with softmax(a) (:class:`search.local.MixedNeuron`). The held-out
loss adds the engine's budget term (:func:`search.cost.budget_penalty`) on the expected energy

    E(a) = E_0 + sum_s sum_k softmax(a_s)_k * (E_{s,k} - E_0),

where ``E_0`` is the measured energy per sample of the network with every node at its centre and
``E_{s,k}`` the same with node ``s`` alone switched to candidate ``k``; both are measured once per
round by ``energy_fn`` (e.g. :func:`search.cost.energy_report`, which charges a layer MACs when its
input is real-valued, i.e. downstream of an ANN node, and ACs = MACs x firing rate when it reads
spikes). A loose budget lets accuracy decide (ANN nodes win where real values help); a tight one
keeps nodes spiking. The winners give a hybrid genotype (``NodeSetting.kind = "ann"``), which
``search.derived`` builds into a hybrid SNN-ANN network.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import torch
from torch import nn

from search.cost import budget_penalty
from search.local import LocalSearch, LocalSearchConfig, MixedNeuron, NodeTable, replace_config
from search.neurons import NeuronConfig

EnergyFn = Callable[[nn.Module], float]


@dataclass(frozen=True)
class HNSConfig:
    """Settings of HNS.

    Attributes:
        budget_mj: energy budget per sample in mJ (None: no budget, accuracy alone decides).
        budget_weight: lambda of the budget penalty.
        budget_mode: ``"hinge"`` or ``"log"`` (``search.cost.budget_penalty``).
        every_epochs: a round after every N-th epoch.
        batches: held-out batches per round.
        lr: Adam learning rate of the logits.
    """

    budget_mj: float | None = None
    budget_weight: float = 1.0
    budget_mode: str = "hinge"
    every_epochs: int = 5
    batches: int = 200
    lr: float = 0.01

    def __post_init__(self) -> None:
        if self.budget_mj is not None and self.budget_mj <= 0:
            raise ValueError(f"impossible HNS budget: must be > 0 mJ per sample, got {self.budget_mj}")
        if self.budget_weight < 0:
            raise ValueError(f"HNS budget weight must be >= 0, got {self.budget_weight}")


class HNSStrategy:
    """Candidates {spiking centre, ANN}; output mixing; energy budget penalty."""

    name = "hns"
    mix = "output"

    def __init__(self, config: HNSConfig, energy_fn: EnergyFn | None) -> None:
        if config.budget_mj is not None and energy_fn is None:
            raise ValueError("HNS with an energy budget needs an energy_fn to measure the network")
        self.config, self.energy_fn = config, energy_fn
        self.last_expected_mj: float | None = None

    def candidates(self, centre: NeuronConfig) -> tuple[NeuronConfig, ...]:
        spiking = centre if centre.spiking else replace_config(centre, kind="lif")
        return (spiking, replace_config(spiking, kind="ann"))

    @torch.no_grad()
    def _measure(self, search: LocalSearch, mixers: Mapping[str, MixedNeuron]) -> None:
        centres = {}
        for key, mixer in mixers.items():
            centres[key] = 1 if search.table.configs[key].kind == "ann" else 0
            mixer.force = centres[key]
        base = float(self.energy_fn(search.model))
        for key, mixer in mixers.items():
            deltas = []
            for k in range(len(mixer.candidates)):
                mixer.force = k
                deltas.append(0.0 if k == centres[key] else float(self.energy_fn(search.model)) - base)
            mixer.force = centres[key]
            mixer.energy_delta_mj = torch.tensor(deltas)
        for mixer in mixers.values():
            mixer.force = None
            mixer.energy_base_mj = base

    def expected_energy_mj(self, search: LocalSearch, mixers: Mapping[str, MixedNeuron]) -> torch.Tensor:
        """``E(a)`` of the module docstring (measures ``E_0`` and ``E_{s,k}`` on first use per round)."""
        if any(not hasattr(m, "energy_delta_mj") for m in mixers.values()):
            self._measure(search, mixers)
        first = next(iter(mixers.values()))
        total = torch.tensor(first.energy_base_mj, device=first.logits.device)
        for mixer in mixers.values():
            total = total + (mixer.weights() * mixer.energy_delta_mj.to(mixer.logits.device)).sum()
        return total

    def penalty(self, search: LocalSearch, mixers: Mapping[str, MixedNeuron]) -> torch.Tensor | None:
        if self.config.budget_mj is None or self.config.budget_weight == 0 or not mixers:
            return None
        energy = self.expected_energy_mj(search, mixers)
        self.last_expected_mj = float(energy.detach())
        return budget_penalty(energy, self.config.budget_mj, weight=self.config.budget_weight,
                              mode=self.config.budget_mode)

    def winner(self, centre: NeuronConfig, candidate: NeuronConfig) -> NeuronConfig:
        return candidate


def make_hns(table: NodeTable, config: HNSConfig | None = None, *, energy_fn: EnergyFn | None = None
             ) -> LocalSearch:
    """A :class:`search.local.LocalSearch` running HNS over ``table``'s sites.

    Args:
        energy_fn: ``energy_fn(model)`` -> energy per sample in mJ of the network as it is now
            (needed when ``config.budget_mj`` is set).
    """
    config = config or HNSConfig()
    loop = LocalSearchConfig(every_epochs=config.every_epochs, batches=config.batches, lr=config.lr)
    return LocalSearch(table, HNSStrategy(config, energy_fn), loop)
