"""``stereo preprocess``: turn a recording into a cache of event tensors and GT disparity."""

from __future__ import annotations

from pathlib import Path

import typer


def preprocess(
    data: Path = typer.Argument(..., help="MVSEC-layout *_data.hdf5 file."),
    out: Path = typer.Option(..., "--out", help="Output HDF5 cache."),
    gt: Path = typer.Option(None, "--gt", help="Matching *_gt.hdf5 file (default: DATA with _data -> _gt)."),
    representation: str = typer.Option("voxel", "--representation", help="Event tensor: voxel, sbt or count."),
    bins: int = typer.Option(5, "--bins", help="Time bins of the voxel grid / SBT."),
    window_ms: float = typer.Option(50.0, "--window-ms", help="Window length in ms, ending at each GT time."),
    calib: Path = typer.Option(None, "--calib", help="Rectification: folder of MVSEC *_map.txt files, an .npz "
                                                     "of maps or a calibration .yaml. Not needed for files "
                                                     "marked rectified (synthetic)."),
    focal_baseline: float = typer.Option(None, "--focal-baseline", help="fB in px*m (focal length x baseline). "
                                         "Default: a focal_baseline attribute of the GT or data file, else the MVSEC "
                                         "scene in the file names (indoor_flying, outdoor_day, ...)."),
    workers: int = typer.Option(0, "--workers", help="Worker threads (0 = all cores)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output file."),
) -> None:
    """Cut a window ending at each ground-truth time, rectify, and cache event tensors + disparity.

    Resumable (rerun the same command after an interruption) and atomic (the output appears only
    when complete).

    Examples:

        stereo preprocess s_data.hdf5 --gt s_gt.hdf5 --out s.h5

        stereo preprocess indoor_flying1_data.hdf5 --calib mvsec_calib/ --out flying1.h5 --representation sbt

        stereo preprocess my_rig_data.hdf5 --gt my_rig_gt.hdf5 --calib rig.yaml --focal-baseline 21.3 --out rig.h5
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from datasets.cache import preprocess_recording

    with Progress(TextColumn("preprocess"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  transient=True) as bar:
        task = bar.add_task("frames", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        report = preprocess_recording(
            data, out, gt_path=gt, representation=representation, num_bins=bins, window_ms=window_ms,
            calib=calib, focal_baseline=focal_baseline, workers=None if workers == 0 else workers,
            overwrite=overwrite, progress=progress,
        )
    skipped = report.skipped_before + report.skipped_after
    resumed = f", {report.frames_resumed} resumed" if report.frames_resumed else ""
    typer.echo(f"wrote {report.path}: {report.frames} frames{resumed}, {report.events:,} events in "
               f"{report.seconds:.1f} s; skipped {skipped} windows outside the events "
               f"({report.skipped_before} before, {report.skipped_after} after)")
