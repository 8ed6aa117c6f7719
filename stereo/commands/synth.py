"""``stereo synth``: write a synthetic stereo event recording in the MVSEC layout."""

from __future__ import annotations

from pathlib import Path

import typer


def synth(
    prefix: Path = typer.Argument(..., help="Output prefix: writes PREFIX_data.hdf5 and PREFIX_gt.hdf5."),
    seconds: float = typer.Option(2.0, help="Length of the recording in seconds (at least 0.1)."),
    seed: int = typer.Option(0, min=0, help="Random seed; the same seed gives the same files."),
    min_depth: float = typer.Option(0.6, "--min-depth", help="Nearest depth in m: objects stay about 0.45 m beyond "
                                                             "it and the GT reports nothing nearer."),
    max_depth: float = typer.Option(8.0, "--max-depth", help="Farthest depth in m the GT reports."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace existing output files."),
) -> None:
    """Simulate a moving stereo event camera in front of textured surfaces (MVSEC layout).

    A random room (floor, walls, boards, boxes, a window without depth) seen by a rectified
    stereo pair with MVSEC indoor_flying's intrinsics and baseline; events from log-intensity
    threshold crossings; depth ground truth in metres (NaN = none) at 20 Hz.

    Examples:

        stereo synth scene --seconds 1

        stereo synth /tmp/test --seconds 5 --seed 7 --overwrite

        stereo synth near --min-depth 0.1
        (objects from about 0.55 m: disparities up to about 36 px)
    """
    from datasets.synthetic import SynthConfig, synthesize_recording

    data_path, gt_path = synthesize_recording(prefix, SynthConfig(seconds=seconds, seed=seed, min_depth_m=min_depth,
                                                                         max_depth_m=max_depth), overwrite=overwrite)
    typer.echo(f"wrote {data_path} and {gt_path}")
