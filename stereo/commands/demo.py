"""``stereo demo``: the quick-start job."""

from __future__ import annotations

from pathlib import Path

import typer


def demo(
    out: Path = typer.Option(Path("demo_out"), help="Folder for the scene, the disparity maps and demo.png."),
    seconds: float = typer.Option(1.0, help="Length of the synthetic scene."),
    seed: int = typer.Option(2026, help="Scene seed (2026 was never used for training)."),
    model: Path = typer.Option(None, "--model", help="Checkpoint to use instead of the shipped default model."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Reuse a non-empty --out folder."),
) -> None:
    """Synthesise a scene, run `stereo infer` with the default model, compare with SGBM, draw a picture.

    Examples:

        stereo demo

        stereo demo --out /tmp/demo --seconds 2 --seed 7 --overwrite
    """
    from stereo.demo import run_demo
    from stereo.protocol import markdown_table, row_from_summary

    report = run_demo(out, seconds=seconds, seed=seed, model_path=model, overwrite=overwrite)
    rows = [row_from_summary("spiking stereo (default model)" if model is None else f"spiking stereo ({model})",
                             report.model_metrics, energy_mj=report.energy_mj, note="exact dense GT"),
            row_from_summary("OpenCV SGBM on event images, holes filled", report.baseline_metrics,
                             note="exact dense GT")]
    typer.echo(markdown_table(rows))
    typer.echo(f"picture: {report.picture}  disparity maps: {report.infer_dir}  ({report.seconds:.0f} s)")
