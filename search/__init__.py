"""Differentiable architecture search of spiking networks: SpikeDHS, DGS, TPS, HNS.

The names below load their modules on first use, so ``import search`` (and the ``stereo``
command line, which imports config modules of this package) does not import torch. Network
pieces live in ``search.neurons``, ``search.ops``, ``search.cell``, ``search.trellis``,
``search.derived``, ``search.cost`` and ``search.backends``.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "Genotype": "search.genotype",
    "NodeSetting": "search.genotype",
    "decode_cell": "search.genotype",
    "viterbi": "search.genotype",
    "NAMED_GENOTYPES": "search.named_genotypes",
    "resolve_genotype": "search.named_genotypes",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'search' has no attribute {name!r}")
