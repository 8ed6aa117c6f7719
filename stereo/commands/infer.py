"""``stereo infer``: disparity maps for every window of a recording with a trained (or the default) model."""

from __future__ import annotations

from pathlib import Path

import typer


def infer(
    recording: Path = typer.Argument(..., help="MVSEC *_data.hdf5, DSEC sequence folder, or plain event file "
                                               "(npz/h5 with left and right arrays, or the left file with --right)."),
    out: Path = typer.Option(..., "--out", help="Output folder (must not exist or be empty)."),
    gt: Path = typer.Option(None, "--gt", help="MVSEC *_gt.hdf5: windows end at its timestamps and metrics.json "
                                              "is written. Only used when given."),
    model: Path = typer.Option(None, "--model", help="Checkpoint from `stereo train stereo` (default: the "
                                                    "shipped model)."),
    every_ms: float = typer.Option(50.0, "--every-ms", help="Window spacing in ms when there is no GT."),
    batch_size: int = typer.Option(4, "--batch-size", help="Windows per forward pass."),
    depth: str = typer.Option(None, "--depth", help="Also write metric depth: png (uint16 mm) or npy (float32 m)."),
    video: Path = typer.Option(None, "--video", help="Also write an .mp4 of colour disparity beside the events."),
    right: Path = typer.Option(None, "--right", help="Right-camera event file when RECORDING holds only the left "
                                                    "camera."),
    calib: Path = typer.Option(None, "--calib", help="Rectification maps for raw MVSEC files (folder of "
                                                    "*_map.txt, .npz or .yaml)."),
    width: int = typer.Option(None, "--width", help="Frame width in px (plain files; MVSEC without GT)."),
    height: int = typer.Option(None, "--height", help="Frame height in px (plain files; MVSEC without GT)."),
    focal_baseline: float = typer.Option(None, "--focal-baseline", help="fB in px*m for depth and its metrics "
                                         "(default: from the recording, else from the model's training data)."),
    near_events: int = typer.Option(None, "--near-events", help="Semi-dense maps: keep estimates only within this "
                                                                "many px of a left event of the window (0 = event "
                                                                "pixels only); real sensors with an empty background."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output folder / video."),
    device: str = typer.Option("auto", "--device", help="auto, cpu or cuda."),
) -> None:
    """Estimate disparity for each window of a stereo event recording.

    Writes disparity/NNNNNN.png (uint16, 256 x disparity, 0 = no estimate), colour/NNNNNN.png,
    timestamps.txt (window ends in s) and, with --gt, metrics.json (1PA %, disparity error px,
    mean/median depth error m). The model and its preprocessing come from the checkpoint.

    Examples:

        stereo infer scene_data.hdf5 --gt scene_gt.hdf5 --out scene_out

        stereo infer pendulum.npz --width 128 --height 128 --out pend --video pend/video.mp4 --near-events 3

        stereo infer dsec/zurich_city_04_a --model runs/s/best.pt --out z04 --depth png
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TextColumn
    from rich.text import Text

    from stereo.infer import infer_recording
    from stereo.train import resolve_device

    class _Rate(ProgressColumn):
        def render(self, task) -> Text:
            return Text(f"{task.speed or 0.0:.2f} windows/s")

    with Progress(TextColumn("infer"), BarColumn(), MofNCompleteColumn(), _Rate(), transient=True) as bar:
        task = bar.add_task("windows", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        report = infer_recording(
            recording, out, model_path=model, gt=gt, right=right, calib=calib, every_ms=every_ms,
            batch_size=batch_size, depth=depth, video=video, overwrite=overwrite, width=width, height=height,
            focal_baseline=focal_baseline,
            device=resolve_device(device), near_events_px=near_events, progress=progress,
        )
    typer.echo(f"stereo infer: {report.summary_line()}")
