"""Multi-step spiking neurons with the Dspike surrogate gradient, built on spikingjelly.

Every neuron here maps a current sequence ``[T, N, *]`` to an output sequence of the same shape.
The LIF update (DESIGN.md section 2) is ``u[t] = decay * u[t-1] * (1 - s[t-1]) + I[t]``,
``s[t] = H(u[t] - V_th)`` with ``H(0) = 1``, hard reset to 0; spikingjelly's ``LIFNode`` with
``tau = 1 / (1 - decay)``, ``decay_input=False``, ``v_reset=0`` computes exactly this.

The Dspike surrogate (see :func:`dspike_grad`) is spikingjelly's ``DSpike``; the search cells use
:class:`MixedDSpike`, whose backward pass is a weighted mixture of Dspike windows of several
temperatures while the forward pass stays the exact Heaviside step.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from spikingjelly.activation_based import functional, neuron
from spikingjelly.activation_based.model.spike_dhs import DSpike
from torch import nn

DEFAULT_DECAY = 0.2
DEFAULT_V_THRESHOLD = 0.5
DEFAULT_SURROGATE_B = 3.0
NEURON_KINDS = ("lif", "if", "plif", "ann")


def dspike_grad(x: torch.Tensor, b: float) -> torch.Tensor:
    """Dspike surrogate derivative ``dH/dx`` for ``x = u - V_th`` (reference formula).

    ``b * (1 - tanh(b x)^2) / (2 tanh(b / 2))`` for ``|x| <= 0.5``, zero outside. It integrates to 1
    over ``[-0.5, 0.5]``; small ``b`` is a flat, wide window, large ``b`` a sharp peak.

    Args:
        x: membrane potential minus threshold, any shape.
        b: temperature, > 0.

    Returns:
        Tensor of the shape of ``x``.
    """
    grad = b * (1.0 - torch.tanh(b * x) ** 2) / (2.0 * math.tanh(b / 2.0))
    return grad.masked_fill(x.abs() > 0.5, 0.0)


class _MixedDSpikeFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, bs: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x, bs, weights)
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor):
        x, bs, weights = ctx.saved_tensors
        norm = weights / weights.sum()
        grad = torch.zeros_like(x)
        for b, w in zip(bs.tolist(), norm.unbind(0), strict=True):
            grad = grad + w * dspike_grad(x, b)
        # The forward value sum_k w_k H / sum_k w_k equals H for every w, so d/dw is exactly 0.
        return grad_out * grad, None, None


class MixedDSpike(nn.Module):
    """Surrogate spike function: Heaviside forward, mixture of Dspike windows backward.

    ``s = sum_k w_k DSpike_{b_k}(x) / sum_k w_k``: the forward value is exactly ``H(x)`` and the
    derivative is ``sum_k w_k dspike_grad(x, b_k) / sum_k w_k``. The weights (for example the
    softmax(alpha) mass of each candidate operation entering a node) are set with
    :meth:`set_weights` right before the neuron runs; without weights all temperatures count equally.

    Args:
        bs: candidate temperatures ``b_k``, one per mixture component.
    """

    def __init__(self, bs: Sequence[float]) -> None:
        super().__init__()
        if len(bs) == 0 or min(bs) <= 0:
            raise ValueError(f"MixedDSpike needs at least one positive temperature, got {tuple(bs)}")
        self.register_buffer("bs", torch.tensor([float(b) for b in bs]), persistent=False)
        self._weights: torch.Tensor | None = None

    def set_weights(self, weights: torch.Tensor | None) -> None:
        """Set the mixture weights, shape ``(len(bs),)``, non-negative (detached: no gradient)."""
        if weights is not None and weights.shape != self.bs.shape:
            raise ValueError(
                f"mixture weights must have shape {tuple(self.bs.shape)}, got {tuple(weights.shape)}"
            )
        self._weights = None if weights is None else weights.detach()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = self._weights if self._weights is not None else torch.ones_like(self.bs)
        return _MixedDSpikeFn.apply(x, self.bs.to(x.dtype), weights.to(device=x.device, dtype=x.dtype))


@dataclass(frozen=True)
class NeuronConfig:
    """Settings of one neuron layer (a node).

    Attributes:
        kind: ``"lif"`` (leaky integrate-and-fire), ``"if"`` (no leak), ``"plif"`` (spikingjelly
            ``ParametricLIFNode``, learned tau initialised from ``decay``) or ``"ann"`` (ReLU,
            real-valued output, for hybrid networks).
        decay: membrane decay per timestep in [0, 1) (LIF/PLIF); tau = 1 / (1 - decay).
        v_threshold: firing threshold V_th.
        surrogate_b: Dspike temperature b (> 0).
    """

    kind: str = "lif"
    decay: float = DEFAULT_DECAY
    v_threshold: float = DEFAULT_V_THRESHOLD
    surrogate_b: float = DEFAULT_SURROGATE_B

    def __post_init__(self) -> None:
        if self.kind not in NEURON_KINDS:
            raise ValueError(f"unknown neuron kind {self.kind!r}; known kinds: {', '.join(NEURON_KINDS)}")
        if not 0.0 <= self.decay < 1.0:
            raise ValueError(f"neuron decay must be in [0, 1), got {self.decay}")
        if self.surrogate_b <= 0:
            raise ValueError(f"surrogate temperature b must be > 0, got {self.surrogate_b}")
        if self.v_threshold <= 0:
            raise ValueError(f"v_threshold must be > 0, got {self.v_threshold}")

    @property
    def spiking(self) -> bool:
        """Whether the neuron emits binary spikes (everything but ``"ann"``)."""
        return self.kind != "ann"


def _tau(decay: float) -> float:
    # spikingjelly asserts tau > 1 as a float; decay 0 (no memory) becomes tau = 1 + tiny.
    return max(1.0 / (1.0 - decay), 1.0 + 1e-6)


def _lif(config: NeuronConfig, surrogate: nn.Module) -> nn.Module:
    return neuron.LIFNode(
        tau=_tau(config.decay), decay_input=False, v_threshold=config.v_threshold, v_reset=0.0,
        detach_reset=True, step_mode="m", surrogate_function=surrogate,
    )


def _if(config: NeuronConfig, surrogate: nn.Module) -> nn.Module:
    return neuron.IFNode(
        v_threshold=config.v_threshold, v_reset=0.0, detach_reset=True, step_mode="m",
        surrogate_function=surrogate,
    )


def _plif(config: NeuronConfig, surrogate: nn.Module) -> nn.Module:
    return neuron.ParametricLIFNode(
        init_tau=_tau(config.decay), decay_input=False, v_threshold=config.v_threshold, v_reset=0.0,
        detach_reset=True, step_mode="m", surrogate_function=surrogate,
    )


def _ann(config: NeuronConfig, surrogate: nn.Module) -> nn.Module:
    return nn.ReLU()


NEURONS: dict[str, Callable[[NeuronConfig, nn.Module], nn.Module]] = {
    "lif": _lif,
    "if": _if,
    "plif": _plif,
    "ann": _ann,
}


def make_neuron(config: NeuronConfig | None = None, *, surrogate: nn.Module | None = None) -> nn.Module:
    """Build a multi-step neuron layer ``[T, N, *] -> [T, N, *]`` from its config.

    Args:
        config: neuron settings; default LIF with decay 0.2, V_th 0.5, b 3.
        surrogate: surrogate spike function to use instead of ``DSpike(config.surrogate_b)``
            (for example a :class:`MixedDSpike`); ignored by ``"ann"``.

    Returns:
        A module; spiking kinds hold membrane state until ``spikingjelly.functional.reset_net``.

    Example:
        >>> lif = make_neuron(NeuronConfig())
        >>> lif(torch.full((3, 1, 1), 0.3)).flatten().tolist()  # u = 0.3, 0.36, 0.372: never fires
        [0.0, 0.0, 0.0]
    """
    config = config or NeuronConfig()
    surrogate = surrogate if surrogate is not None else DSpike(alpha=float(config.surrogate_b))
    return NEURONS[config.kind](config, surrogate)


def surrogate_of(node: nn.Module) -> nn.Module | None:
    """The surrogate spike function of a neuron built by :func:`make_neuron` (None for ANN)."""
    return getattr(node, "surrogate_function", None)


def set_surrogate_b(node: nn.Module, b: float) -> None:
    """Change the Dspike temperature of a single-temperature spiking neuron in place."""
    surrogate = surrogate_of(node)
    if not isinstance(surrogate, DSpike):
        raise ValueError(f"neuron {type(node).__name__} has no single Dspike surrogate to set b on")
    if b <= 0:
        raise ValueError(f"surrogate temperature b must be > 0, got {b}")
    surrogate.alpha = float(b)


def get_surrogate_b(node: nn.Module) -> float | None:
    """The Dspike temperature of a single-temperature spiking neuron (None otherwise)."""
    surrogate = surrogate_of(node)
    return float(surrogate.alpha) if isinstance(surrogate, DSpike) else None


def reset_states(module: nn.Module) -> None:
    """Reset the membrane state of every neuron inside ``module`` (spikingjelly ``reset_net``)."""
    functional.reset_net(module)
