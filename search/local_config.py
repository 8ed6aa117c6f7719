"""Command-line options of the local searches (DGS, TPS, HNS), shared by the search and train configs.

Torch-free like ``search.backends.classify_config``: each field carries its help text in
``metadata["help"]`` and becomes the option of the same name (``--dgs-deltas`` for
``dgs_deltas``). Lists are comma-separated strings so that they round-trip through checkpoints.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


def _f(default: Any, help_text: str) -> Any:
    return field(default=default, metadata={"help": help_text})


@dataclass(frozen=True)
class LocalOptions:
    """Switches and settings of DGS, TPS and HNS (DESIGN.md section 4)."""

    dgs: bool = _f(False, "DGS: search the surrogate temperature b of every node (candidates b + delta).")
    dgs_deltas: str = _f("-0.4,-0.2,0,0.2,0.4", "DGS candidate offsets of b, comma-separated (must hold 0).")
    dgs_sites_per_batch: int = _f(0, "DGS evaluates this many nodes per batch, in turn (0 = all; each node "
                                     "costs K - 1 extra forward/backward passes).")
    tps: bool = _f(False, "TPS: search the time constant (decay) of every spiking node.")
    tps_decays: str = _f("0.2,0.35,0.5,0.65,0.8", "TPS candidate decays per timestep, comma-separated.")
    tps_kinds: str = _f("lif", "TPS candidate neuron kinds, comma-separated among lif, if, plif.")
    hns: bool = _f(False, "HNS: choose per node between a spiking LIF and an ANN neuron (ReLU).")
    hns_budget_mj: float | None = _f(None, "HNS energy budget in mJ per sample (None: accuracy alone decides).")
    hns_budget_weight: float = _f(1.0, "Weight lambda of the HNS budget penalty.")
    local_every: int = _f(5, "Run a DGS/TPS/HNS round after every N-th epoch.")
    local_batches: int = _f(200, "Held-out batches per DGS/TPS/HNS round.")
    local_lr: float = _f(0.01, "Adam learning rate of the DGS/TPS/HNS mixing logits.")

    @property
    def any_local(self) -> bool:
        """Whether any local search is switched on."""
        return self.dgs or self.tps or self.hns
