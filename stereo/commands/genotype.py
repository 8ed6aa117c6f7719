"""``stereo genotype show``: print a genotype as a readable table."""

from __future__ import annotations

import typer


def show(
    genotype: str = typer.Argument(..., help="Genotype JSON file or a named genotype (e.g. spikedhs_cifar)."),
) -> None:
    """Print every net of a genotype: its path and, per node, operations, b, decay, spiking or ANN.

    Node settings written by DGS/TPS/HNS are shown; nodes without settings show the defaults the
    builder uses (b = mean of the two chosen operations' temperatures, decay 0.2, LIF).

    Examples:

        stereo genotype show runs/s1/genotype.json

        stereo genotype show spikedhs_cifar
    """
    from rich.console import Console

    from search.genotype_table import genotype_tables
    from search.named_genotypes import resolve_genotype

    console = Console(width=120)
    for table in genotype_tables(resolve_genotype(genotype)):
        console.print(table)
