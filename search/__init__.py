"""Differentiable architecture search of spiking networks: SpikeDHS, DGS, TPS, HNS.

Light exports only (no network code is imported here): the genotype value type and the named
genotypes. Network pieces live in ``search.neurons``, ``search.ops``, ``search.cell``,
``search.trellis``, ``search.derived``, ``search.cost`` and ``search.backends``.
"""

from search.genotype import Genotype, NodeSetting, decode_cell, viterbi
from search.named_genotypes import NAMED_GENOTYPES, resolve_genotype

__all__ = ["Genotype", "NodeSetting", "decode_cell", "viterbi", "NAMED_GENOTYPES", "resolve_genotype"]
