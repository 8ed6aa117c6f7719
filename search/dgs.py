"""DGS, differentiable surrogate-gradient search: the local search over each node's Dspike b.

Candidates of a spiking node with temperature ``b`` are ``b + delta`` for ``delta`` in
``deltas`` (default {-0.4, -0.2, 0, +0.2, +0.4}, the authors' ``N_diffb = 2``, step 0.2); they are
compared by the lookahead mixing of :mod:`search.local` (each candidate one weight step with its
own surrogate, candidates mixed by softmax(a), Adam lr 0.01 on ``a``), and the winner, clipped to
``[b_min, b_max]``, becomes the node's new b. ANN nodes are not searched.

Authors' code (Huawei-BIC/SpikeDHS ``train.py``, ``models/snndarts_search/SNN.py``
``SNN_2d_Super``), for the record: DGS runs in retraining only, on the stem only
(``new_model_2d.py`` ``stem0``), at the start of epochs 5, 10, ... (``epoch > 0 and epoch % 5 == 0``)
over batches 0..200; per batch the logits ``alpha_diffb`` are reset to ``1e-3``, every candidate's
weight copy takes one SGD step on that batch, then the mixed model takes one Adam step (lr 0.01)
on ``alpha_diffb`` on the same batch; ``softmax(alpha_diffb)`` is summed and b moves by the
winner's delta, clamped to ``[1, 6]``. Here: every node, held-out batches, logits kept over the
round, clipping ``[0.2, 6]`` (DESIGN.md section 4).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch

from search.local import LocalSearch, LocalSearchConfig, MixedNeuron, NodeTable, replace_config
from search.neurons import NeuronConfig

DEFAULT_DELTAS = (-0.4, -0.2, 0.0, 0.2, 0.4)


@dataclass(frozen=True)
class DGSConfig:
    """Settings of DGS.

    Attributes:
        deltas: candidate offsets of b (must contain 0, the centre).
        every_epochs: a round after every N-th epoch.
        batches: held-out batches per round (M).
        lr: Adam learning rate of the logits.
        b_min, b_max: b is clipped to this range after each round.
        lookahead_lr: step size of the candidates' weight step.
        sites_per_batch: nodes evaluated per batch, in turn (0 = all; each costs K - 1 extra passes).
    """

    deltas: tuple[float, ...] = DEFAULT_DELTAS
    every_epochs: int = 5
    batches: int = 200
    lr: float = 0.01
    b_min: float = 0.2
    b_max: float = 6.0
    lookahead_lr: float = 0.1
    sites_per_batch: int = 0

    def __post_init__(self) -> None:
        if len(self.deltas) < 2 or 0.0 not in [float(d) for d in self.deltas]:
            raise ValueError(f"DGS deltas need at least two values including 0, got {tuple(self.deltas)}")
        if not 0 < self.b_min < self.b_max:
            raise ValueError(f"DGS needs 0 < b_min < b_max, got {self.b_min} and {self.b_max}")


class DGSStrategy:
    """Candidates ``b + delta`` for spiking nodes; lookahead mixing; winner clipped."""

    name = "dgs"
    mix = "lookahead"

    def __init__(self, config: DGSConfig) -> None:
        self.config = config

    def candidates(self, centre: NeuronConfig) -> tuple[NeuronConfig, ...]:
        if not centre.spiking:
            return ()
        return tuple(
            replace_config(centre, surrogate_b=centre.surrogate_b + float(d)) if d != 0 else centre
            for d in self.config.deltas
            if centre.surrogate_b + float(d) > 0
        )

    def penalty(self, search: LocalSearch, mixers: Mapping[str, MixedNeuron]) -> torch.Tensor | None:
        return None

    def winner(self, centre: NeuronConfig, candidate: NeuronConfig) -> NeuronConfig:
        b = min(max(candidate.surrogate_b, self.config.b_min), self.config.b_max)
        return replace_config(candidate, surrogate_b=round(b, 6))


def make_dgs(table: NodeTable, config: DGSConfig | None = None, *,
             parameters: Sequence[torch.nn.Parameter] | None = None) -> LocalSearch:
    """A :class:`search.local.LocalSearch` running DGS over ``table``'s sites."""
    config = config or DGSConfig()
    loop = LocalSearchConfig(every_epochs=config.every_epochs, batches=config.batches, lr=config.lr,
                             lookahead_lr=config.lookahead_lr, sites_per_batch=config.sites_per_batch)
    return LocalSearch(table, DGSStrategy(config), loop, parameters=parameters)
