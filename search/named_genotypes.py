"""Published genotypes as named constants, resolved through :data:`NAMED_GENOTYPES`.

Op indices follow the authors' PRIMITIVES order ``("skip_connect", "snn_b3", "snn_b5")``
(Huawei-BIC/SpikeDHS ``genotypes_2d.py``), which is our ``"spikedhs"`` vocabulary.
"""

from __future__ import annotations

import os
from pathlib import Path

from search.genotype import Genotype

# SpikeDHS CIFAR genotype (authors' retrain model; the spikingjelly port ``model/spike_dhs.py``).
SPIKEDHS_CIFAR = Genotype(
    cells={"classify": ((1, 1), (0, 1), (3, 2), (2, 1), (7, 1), (8, 1))},
    paths={"classify": (0, 0, 1, 1, 1, 2, 2, 2)},
)

# SpikeDHS MVSEC stereo genotype (authors' logs/best_model: feature and matching nets).
SPIKEDHS_MVSEC = Genotype(
    cells={
        "feature": ((1, 1), (0, 1), (3, 2), (2, 1), (7, 1), (8, 1)),
        "matching": ((0, 1), (1, 2), (4, 2), (3, 2), (8, 1), (6, 1)),
    },
    paths={"feature": (1, 0), "matching": (1, 2, 2, 1)},
)

NAMED_GENOTYPES: dict[str, Genotype] = {
    "spikedhs_cifar": SPIKEDHS_CIFAR,
    "spikedhs_mvsec": SPIKEDHS_MVSEC,
}


def get_genotype(name: str) -> Genotype:
    """A named genotype; KeyError lists the known names."""
    if name not in NAMED_GENOTYPES:
        raise KeyError(f"unknown genotype name {name!r}; known: {', '.join(NAMED_GENOTYPES)}")
    return NAMED_GENOTYPES[name]


def resolve_genotype(spec: str | os.PathLike[str]) -> Genotype:
    """A genotype from a name in :data:`NAMED_GENOTYPES` or a path to a genotype JSON file.

    Raises:
        FileNotFoundError: ``spec`` is neither a known name nor an existing file.
        ValueError: the file is not a valid genotype.
    """
    if isinstance(spec, str) and spec in NAMED_GENOTYPES:
        return NAMED_GENOTYPES[spec]
    path = Path(spec)
    if not path.is_file():
        raise FileNotFoundError(
            f"genotype {str(spec)!r} is neither a known name ({', '.join(NAMED_GENOTYPES)}) nor a file"
        )
    return Genotype.load_json(path)
