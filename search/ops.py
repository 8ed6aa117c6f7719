"""Candidate operations of the SpikeDHS search space: one registry for supernet and derived net.

Every operation emits a *current* ``[T, N, C_out, *S']`` from a spike (or real) input
``[T, N, C_in, *S]``; the node it feeds sums currents into one neuron (DESIGN.md section 2).
``dim`` is the number of spatial axes: 2 for ``[T, N, C, H, W]``, 3 for ``[T, N, C, D, H, W]``.

Vocabulary ``"spikedhs"`` (order = the op index in a genotype, as in the authors' PRIMITIVES):

==  ==============  =========================================================================
0   skip_connect    identity when C_in == C_out and stride 1, else 3^dim conv + BN (b = default)
1   snn_b3          3^dim conv + BN feeding a neuron of surrogate temperature 3
2   snn_b5          3^dim conv + BN feeding a neuron of surrogate temperature 5
==  ==============  =========================================================================
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from spikingjelly.activation_based import layer
from torch import nn

CONVS: dict[int, type[nn.Module]] = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
BATCH_NORMS: dict[int, type[nn.Module]] = {1: nn.BatchNorm1d, 2: nn.BatchNorm2d, 3: nn.BatchNorm3d}

VOCABULARIES: dict[str, tuple[str, ...]] = {"spikedhs": ("skip_connect", "snn_b3", "snn_b5")}
DEFAULT_VOCABULARY = "spikedhs"
PRIMITIVES = VOCABULARIES[DEFAULT_VOCABULARY]

# Surrogate temperature each operation asks of the node it feeds; None = the node's default b.
OP_SURROGATE_B: dict[str, float | None] = {"skip_connect": None, "snn_b3": 3.0, "snn_b5": 5.0}


class ConvBN(nn.Module):
    """Multi-step convolution + batch norm, time folded into the batch.

    Args:
        c_in: input channels.
        c_out: output channels.
        kernel_size: cubic kernel size.
        stride: stride on every spatial axis.
        dim: number of spatial axes (1, 2 or 3).

    Shape:
        ``[T, N, c_in, *S] -> [T, N, c_out, *S']`` with ``S' = ceil(S / stride)`` for odd kernels.
    """

    def __init__(self, c_in: int, c_out: int, *, kernel_size: int = 3, stride: int = 1, dim: int = 2) -> None:
        super().__init__()
        if dim not in CONVS:
            raise ValueError(f"dim must be one of {sorted(CONVS)}, got {dim}")
        conv = CONVS[dim](c_in, c_out, kernel_size, stride=stride, padding=kernel_size // 2, bias=False)
        self.conv_bn = layer.SeqToANNContainer(conv, BATCH_NORMS[dim](c_out))
        self.c_in, self.c_out, self.dim = c_in, c_out, dim

    @property
    def conv(self) -> nn.Module:
        return self.conv_bn[0]

    @property
    def bn(self) -> nn.Module:
        return self.conv_bn[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() != self.dim + 3 or x.shape[2] != self.c_in:
            raise ValueError(
                f"ConvBN expects [T, N, {self.c_in}, *{self.dim} spatial], got {tuple(x.shape)}"
            )
        return self.conv_bn(x)


class Identity(nn.Module):
    """Identity operation (the spikes themselves are the current)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


OpFactory = Callable[..., nn.Module]


def _skip(*, c_in: int, c_out: int, stride: int, dim: int) -> nn.Module:
    if c_in == c_out and stride == 1:
        return Identity()
    return ConvBN(c_in, c_out, kernel_size=3, stride=stride, dim=dim)


def _conv3(*, c_in: int, c_out: int, stride: int, dim: int) -> nn.Module:
    return ConvBN(c_in, c_out, kernel_size=3, stride=stride, dim=dim)


OPS: dict[str, OpFactory] = {
    "skip_connect": _skip,
    "snn_b3": _conv3,
    "snn_b5": _conv3,
}


def build_op(name: str, *, c_in: int, c_out: int, stride: int = 1, dim: int = 2) -> nn.Module:
    """Build a current-emitting operation by name.

    Args:
        name: a key of :data:`OPS`.
        c_in: input channels; c_out: output channels; stride: spatial stride; dim: 2 or 3.

    Returns:
        Module ``[T, N, c_in, *S] -> [T, N, c_out, *S']``.

    Raises:
        KeyError: unknown name (the message lists the known names).
    """
    if name not in OPS:
        raise KeyError(f"unknown operation {name!r}; known operations: {', '.join(OPS)}")
    return OPS[name](c_in=c_in, c_out=c_out, stride=stride, dim=dim)


def vocabulary(name: str) -> tuple[str, ...]:
    """Operation names of a vocabulary, in genotype index order."""
    if name not in VOCABULARIES:
        raise KeyError(f"unknown operation vocabulary {name!r}; known: {', '.join(VOCABULARIES)}")
    return VOCABULARIES[name]


def op_surrogate_b(name: str, default_b: float) -> float:
    """Surrogate temperature an operation asks of its node (``default_b`` for skip_connect)."""
    if name not in OP_SURROGATE_B:
        raise KeyError(f"unknown operation {name!r}; known operations: {', '.join(OP_SURROGATE_B)}")
    b = OP_SURROGATE_B[name]
    return default_b if b is None else b
