"""Cost model: MACs, synaptic accumulates (ACs), energy, expected search cost, budget penalty.

Convention (DESIGN.md section 5, 45 nm CMOS): a layer whose input is real-valued costs MACs at
4.6 pJ each; a layer whose input is binary spikes costs ``ACs = MACs * input firing rate`` at
0.9 pJ each. MACs of a convolution = ``prod(kernel) * c_in / groups * c_out * output elements``,
summed over timesteps. All energies here are per sample.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from search.genotype import NODE_EDGES
from search.ops import vocabulary

PJ_PER_MAC = 4.6
PJ_PER_AC = 0.9
PJ_PER_MJ = 1e9
BUDGET_MODES = ("hinge", "log")


def conv_macs(
    *, kernel_size: int | Sequence[int], c_in: int, c_out: int, out_spatial: Sequence[int], groups: int = 1
) -> int:
    """MACs of one convolution on one sample and one timestep.

    Example:
        >>> conv_macs(kernel_size=3, c_in=4, c_out=8, out_spatial=(5, 5))  # 9 * 4 * 8 * 25
        7200
    """
    kernel = (kernel_size,) * len(out_spatial) if isinstance(kernel_size, int) else tuple(kernel_size)
    return math.prod(kernel) * (c_in // groups) * c_out * math.prod(out_spatial)


def op_macs(name: str, *, c_in: int, c_out: int, out_spatial: Sequence[int]) -> int:
    """MACs of a candidate operation (``search.ops``) per sample and timestep; identity skip is 0."""
    if name == "skip_connect" and c_in == c_out:
        return 0
    if name in ("skip_connect", "snn_b3", "snn_b5"):
        return conv_macs(kernel_size=3, c_in=c_in, c_out=c_out, out_spatial=out_spatial)
    raise KeyError(f"no cost rule for operation {name!r}")


def energy_pj(macs: float, *, input_rate: float | torch.Tensor | None) -> float | torch.Tensor:
    """Energy of ``macs`` MACs: spiking input (``input_rate`` given) -> ACs, else MACs."""
    if input_rate is None:
        return macs * PJ_PER_MAC
    return macs * input_rate * PJ_PER_AC


def cell_expected_energy(
    weights: torch.Tensor,
    *,
    c_prev_prev: int,
    c_prev: int,
    c_node: int,
    spatial: Sequence[int],
    timesteps: int,
    input_rate: float | torch.Tensor,
    vocabulary_name: str = "spikedhs",
) -> torch.Tensor:
    """Expected energy (pJ per sample) of the derived cell under the op weights softmax(alpha).

    Each node keeps 2 of its incoming edges: edge ``e`` is kept with probability
    ``2 r_e / sum_node r`` (``r_e`` = row sum of ``w[e]``; ``2 / n`` for softmax rows) and then runs
    operation ``k`` with probability ``w[e, k] / r_e``. Cell inputs are spikes at ``input_rate``. With
    one-hot rows on a decoded cell's six edges (other rows zero) this is that cell's exact energy.

    Args:
        weights: ``(9, num_ops)``, rows summing to 1 (or one-hot), differentiable.
        spatial: the cell's spatial size.
        timesteps: T (energy is summed over timesteps).
    """
    table = torch.tensor(
        cell_macs_table(
            c_prev_prev=c_prev_prev,
            c_prev=c_prev,
            c_node=c_node,
            spatial=tuple(spatial),
            vocabulary_name=vocabulary_name,
        ),
        dtype=weights.dtype,
        device=weights.device,
    )
    total = weights.new_zeros(())
    for edges in NODE_EDGES:
        rows = list(edges)
        total = total + 2.0 * (weights[rows] * table[rows]).sum() / weights[rows].sum()
    total = total * PJ_PER_AC
    return total * timesteps * input_rate


@functools.lru_cache(maxsize=4096)
def cell_macs_table(
    *, c_prev_prev: int, c_prev: int, c_node: int, spatial: tuple[int, ...], vocabulary_name: str = "spikedhs"
) -> tuple[tuple[float, ...], ...]:
    """MACs per sample and timestep of every (edge, op) of a cell.

    Returns:
        Nested tuple ``(9, num_ops)``.
    """
    names = vocabulary(vocabulary_name)
    c_ins = (c_prev_prev, c_prev, c_prev_prev, c_prev, c_node, c_prev_prev, c_prev, c_node, c_node)
    return tuple(
        tuple(float(op_macs(n, c_in=c_ins[e], c_out=c_node, out_spatial=spatial)) for n in names) for e in range(9)
    )


def budget_penalty(energy: torch.Tensor, target: float, *, weight: float, mode: str = "hinge") -> torch.Tensor:
    """Budget term of the architecture loss.

    ``hinge``: ``weight * max(0, E / target - 1)``; ``log``: ``weight * max(0, log(E / target))``.

    Args:
        energy: expected cost (any unit, same as ``target``), differentiable.
        target: budget, > 0.
        weight: lambda >= 0.
        mode: ``"hinge"`` or ``"log"``.
    """
    if target <= 0:
        raise ValueError(f"energy budget must be > 0, got {target}")
    if weight < 0:
        raise ValueError(f"budget weight lambda must be >= 0, got {weight}")
    if mode not in BUDGET_MODES:
        raise ValueError(f"unknown budget mode {mode!r}; known: {', '.join(BUDGET_MODES)}")
    ratio = energy / target
    excess = ratio - 1 if mode == "hinge" else torch.log(ratio)
    return weight * torch.clamp(excess, min=0)


def budget_term(
    energy: torch.Tensor, budget: float | None, *, weight: float
) -> tuple[torch.Tensor, dict[str, float]]:
    """The architecture-loss budget term and its log entries (0 without a budget or weight).

    Returns:
        ``(penalty, {"expected_mj": E, "penalty": ...})`` with :func:`budget_penalty` (hinge).
    """
    if budget is None or weight == 0:
        return energy.new_zeros(()), {"expected_mj": float(energy.detach())}
    penalty = budget_penalty(energy, budget, weight=weight)
    return penalty, {"expected_mj": float(energy.detach()), "penalty": float(penalty.detach())}


@dataclass
class LayerEnergy:
    """Energy of one conv/linear layer, per sample, summed over timesteps and calls.

    Attributes:
        name: module name in the network.
        kind: ``"conv"`` or ``"linear"``.
        spiking_input: whether every input value was 0 or 1.
        macs: multiply-accumulates.
        input_rate: fraction of non-zero inputs (spiking layers; 1.0 for real-valued inputs).
        acs: synaptic accumulates charged (0 for real-valued inputs).
        energy_mj: energy in millijoules.
    """

    name: str
    kind: str
    spiking_input: bool
    macs: float
    input_rate: float
    acs: float
    energy_mj: float


@dataclass
class EnergyReport:
    """Per-layer and total energy of a network on one batch, per sample."""

    layers: list[LayerEnergy] = field(default_factory=list)

    @property
    def total_mj(self) -> float:
        return sum(layer.energy_mj for layer in self.layers)

    @property
    def total_macs(self) -> float:
        return sum(layer.macs for layer in self.layers)

    @property
    def total_acs(self) -> float:
        return sum(layer.acs for layer in self.layers)

    @property
    def ann_equivalent_mj(self) -> float:
        """Energy of the same network if every layer were charged MACs (an ANN of equal shape)."""
        return self.total_macs * PJ_PER_MAC / PJ_PER_MJ

    def to_markdown(self) -> str:
        """Markdown table: one row per layer and a total row."""
        lines = [
            "| layer | input | MACs | firing rate | ACs | energy (mJ) |",
            "|---|---|---:|---:|---:|---:|",
        ]
        for row in self.layers:
            lines.append(
                f"| {row.name} | {'spikes' if row.spiking_input else 'real'} | {row.macs:.3e} | "
                f"{row.input_rate:.4f} | {row.acs:.3e} | {row.energy_mj:.4f} |"
            )
        lines.append(f"| **total** | | {self.total_macs:.3e} | | {self.total_acs:.3e} | {self.total_mj:.4f} |")
        return "\n".join(lines)

    def to_rich_table(self):
        """A ``rich.table.Table`` of the same content (rich imported lazily)."""
        from rich.table import Table

        table = Table(title=f"Energy per sample: {self.total_mj:.4f} mJ")
        for column in ("layer", "input", "MACs", "firing rate", "ACs", "mJ"):
            table.add_column(column, justify="left" if column in ("layer", "input") else "right")
        for row in self.layers:
            table.add_row(
                row.name,
                "spikes" if row.spiking_input else "real",
                f"{row.macs:.3e}",
                f"{row.input_rate:.4f}",
                f"{row.acs:.3e}",
                f"{row.energy_mj:.4f}",
            )
        return table

    def to_dict(self) -> dict:
        return {
            "total_mj": self.total_mj,
            "total_macs": self.total_macs,
            "total_acs": self.total_acs,
            "layers": [vars(layer) for layer in self.layers],
        }


_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)


def _layer_macs(module: nn.Module, out: torch.Tensor) -> float:
    if isinstance(module, nn.Linear):
        return float(out.numel()) * module.in_features
    kernel = math.prod(module.kernel_size)
    return float(out.numel()) * kernel * (module.in_channels // module.groups)


# Firing rates, and so the energy, vary from window to window: reports average this many.
ENERGY_SAMPLES = 4


@torch.no_grad()
def energy_report(model: nn.Module, *inputs: torch.Tensor, num_samples: int) -> EnergyReport:
    """Measure MACs, firing rates, ACs and energy of every conv/linear layer of any network.

    Runs ``model(*inputs)`` once with forward hooks (in the model's current train/eval mode). A
    layer whose input holds only 0s and 1s is charged ``ACs = MACs * rate`` (rate = fraction of
    ones); any other input is charged MACs. Time folded into the batch is summed automatically.

    Args:
        model: any module built from ``nn.Conv*d`` / ``nn.Linear`` layers.
        inputs: forward arguments.
        num_samples: samples in the batch (the result is per sample).

    Returns:
        :class:`EnergyReport`, layers in first-call order.
    """
    if num_samples < 1:
        raise ValueError(f"num_samples must be >= 1, got {num_samples}")
    stats: dict[str, dict[str, float]] = {}
    names = {module: name for name, module in model.named_modules()}

    def hook(module: nn.Module, args: tuple, out: torch.Tensor) -> None:
        x = args[0]
        entry = stats.setdefault(
            names[module],
            {
                "macs": 0.0,
                "acs": 0.0,
                "ones": 0.0,
                "count": 0.0,
                "spiking": 1.0,
                "linear": float(isinstance(module, nn.Linear)),
            },
        )
        macs = _layer_macs(module, out)
        binary = bool(((x == 0) | (x == 1)).all())
        entry["macs"] += macs
        if binary:
            rate = int((x != 0).sum()) / x.numel()
            entry["acs"] += macs * rate
            entry["ones"] += rate * x.numel()
        else:
            entry["spiking"] = 0.0
            entry["ones"] += x.numel()
        entry["count"] += x.numel()

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (*_CONVS, nn.Linear))]
    try:
        model(*inputs)
    finally:
        for handle in handles:
            handle.remove()
    report = EnergyReport()
    for name, entry in stats.items():
        spiking = entry["spiking"] == 1.0
        macs, acs = entry["macs"] / num_samples, entry["acs"] / num_samples if spiking else 0.0
        energy = acs * PJ_PER_AC if spiking else macs * PJ_PER_MAC
        report.layers.append(
            LayerEnergy(
                name=name or type(model).__name__,
                kind="linear" if entry["linear"] else "conv",
                spiking_input=spiking,
                macs=macs,
                input_rate=entry["ones"] / max(entry["count"], 1.0),
                acs=acs,
                energy_mj=energy / PJ_PER_MJ,
            )
        )
    return report
