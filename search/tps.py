"""TPS, temporal parameter search: the local search over each node's time constant (and kind).

Candidates of a spiking node are its setting with each decay of ``decays`` (default
{0.2, 0.35, 0.5, 0.65, 0.8}; ``tau = 1 / (1 - decay)``) and, optionally, each neuron kind of
``kinds`` (``"lif"``, ``"if"``, ``"plif"``; IF has no decay, so it is one candidate). They are
mixed at the output with softmax(a) (:class:`search.local.MixedNeuron`); the argmax of the
accumulated weights wins and is written into the genotype (``NodeSetting.decay``/``kind``).
PLIF (spikingjelly ``ParametricLIFNode``, tau learned by gradient) is the baseline TPS is compared
with (``tools/compare_local_search.py``). ANN nodes are not searched.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch

from search.local import LocalSearch, LocalSearchConfig, MixedNeuron, NodeTable, replace_config
from search.neurons import NeuronConfig

DEFAULT_DECAYS = (0.2, 0.35, 0.5, 0.65, 0.8)
TPS_KINDS = ("lif", "if", "plif")


@dataclass(frozen=True)
class TPSConfig:
    """Settings of TPS.

    Attributes:
        decays: candidate membrane decays per timestep, each in [0, 1).
        kinds: candidate neuron kinds (subset of lif, if, plif).
        every_epochs: a round after every N-th epoch.
        batches: held-out batches per round.
        lr: Adam learning rate of the logits.
    """

    decays: tuple[float, ...] = DEFAULT_DECAYS
    kinds: tuple[str, ...] = ("lif",)
    every_epochs: int = 5
    batches: int = 200
    lr: float = 0.01

    def __post_init__(self) -> None:
        if not self.decays or any(not 0.0 <= d < 1.0 for d in self.decays):
            raise ValueError(f"TPS decays must be in [0, 1), got {tuple(self.decays)}")
        unknown = [k for k in self.kinds if k not in TPS_KINDS]
        if not self.kinds or unknown:
            raise ValueError(f"TPS kinds must be among {', '.join(TPS_KINDS)}, got {tuple(self.kinds)}")


class TPSStrategy:
    """Candidates: every (kind, decay) pair; output mixing; winner by argmax."""

    name = "tps"
    mix = "output"

    def __init__(self, config: TPSConfig) -> None:
        self.config = config

    def candidates(self, centre: NeuronConfig) -> tuple[NeuronConfig, ...]:
        if not centre.spiking:
            return ()
        out: list[NeuronConfig] = []
        for kind in self.config.kinds:
            decays = (centre.decay,) if kind == "if" else self.config.decays
            for decay in decays:
                candidate = replace_config(centre, kind=kind, decay=float(decay))
                if candidate not in out:
                    out.append(candidate)
        return tuple(out)

    def penalty(self, search: LocalSearch, mixers: Mapping[str, MixedNeuron]) -> torch.Tensor | None:
        return None

    def winner(self, centre: NeuronConfig, candidate: NeuronConfig) -> NeuronConfig:
        return candidate


def make_tps(table: NodeTable, config: TPSConfig | None = None) -> LocalSearch:
    """A :class:`search.local.LocalSearch` running TPS over ``table``'s sites."""
    config = config or TPSConfig()
    loop = LocalSearchConfig(every_epochs=config.every_epochs, batches=config.batches, lr=config.lr)
    return LocalSearch(table, TPSStrategy(config), loop)


def parse_floats(text: str, *, option: str) -> tuple[float, ...]:
    """``"0.2,0.35"`` -> ``(0.2, 0.35)``; ValueError names the option."""
    try:
        values = tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise ValueError(f"{option} must be comma-separated numbers, got {text!r}") from None
    if not values:
        raise ValueError(f"{option} is empty")
    return values


def parse_kinds(text: str, *, option: str) -> tuple[str, ...]:
    kinds = tuple(x.strip() for x in text.split(",") if x.strip())
    unknown = [k for k in kinds if k not in TPS_KINDS]
    if not kinds or unknown:
        raise ValueError(f"{option} must be comma-separated kinds among {', '.join(TPS_KINDS)}, got {text!r}")
    return kinds


__all__: Sequence[str] = ("DEFAULT_DECAYS", "TPSConfig", "TPSStrategy", "make_tps", "parse_floats", "parse_kinds")
