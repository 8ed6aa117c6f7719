"""Base class of supernets: architecture parameters apart from weights, by name.

Architecture logits are ``nn.Parameter`` attributes whose names start with ``arch_`` (e.g.
``arch_alpha``, ``arch_beta``), so they are saved in ``state_dict`` and the two optimizer groups
are built by name: :meth:`Supernet.arch_parameters` and :meth:`Supernet.weight_parameters`.
"""

from __future__ import annotations

from torch import nn

ARCH_PREFIX = "arch_"


def is_arch_parameter(name: str) -> bool:
    """Whether a parameter name (possibly dotted) is an architecture parameter."""
    return name.rsplit(".", 1)[-1].startswith(ARCH_PREFIX)


class Supernet(nn.Module):
    """Module with architecture parameters named ``arch_*`` and ordinary weights."""

    def arch_parameters(self) -> list[nn.Parameter]:
        """Architecture logits (alpha, beta, ...), in registration order."""
        return [p for name, p in self.named_parameters() if is_arch_parameter(name)]

    def weight_parameters(self) -> list[nn.Parameter]:
        """Every other parameter (convolutions, batch norms, heads)."""
        return [p for name, p in self.named_parameters() if not is_arch_parameter(name)]
