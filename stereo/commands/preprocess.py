"""``stereo preprocess``: turn a recording into a cache of event tensors and GT disparity."""

from __future__ import annotations

from pathlib import Path

import typer


def preprocess(
    data: Path = typer.Argument(..., help="MVSEC-layout *_data.hdf5 file."),
    out: Path = typer.Option(..., "--out", help="Output HDF5 cache."),
    gt: Path = typer.Option(None, "--gt", help="Matching *_gt.hdf5 file (windows end at its timestamps)."),
) -> None:
    """Cut 50 ms windows ending at each ground-truth time and cache their tensors.

    Examples:

        stereo preprocess s_data.hdf5 --gt s_gt.hdf5 --out s.h5
    """
    raise NotImplementedError("preprocess is being written")
