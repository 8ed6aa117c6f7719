"""``stereo eval stereo``: the MVSEC protocol on cached windows, for a model and/or baselines."""

from __future__ import annotations

from pathlib import Path

import typer


def eval_stereo_command(
    caches: list[Path] = typer.Argument(..., help="Caches written by `stereo preprocess`."),
    model: Path = typer.Option(None, "--model", help="Checkpoint from `stereo train stereo`."),
    baseline: list[str] = typer.Option([], "--baseline", help="Also run a classical baseline: sgbm or bm."),
    split: int = typer.Option(None, help="MVSEC split (1 or 3): keep only that split's frames."),
    subset: str = typer.Option("test", help="With --split: train, val or test."),
    gt: str = typer.Option("exact", help="Ground truth: exact or ddes (round(7d)/7, as DDES)."),
    density: str = typer.Option("dense", help="dense (all valid pixels) or sparse (last 15,000 left events)."),
    out: Path = typer.Option(None, help="Write the results as JSON here."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    batch_size: int = typer.Option(1, help="Windows per forward pass."),
) -> None:
    """Score a trained model (and baselines) with 1PA, depth and disparity errors and energy.

    Examples:

        stereo eval stereo flying1.h5 --model runs/split1/best.pt --split 1 --subset test

        stereo eval stereo held_out.h5 --model runs/s/last.pt --baseline sgbm --out results.json
    """
    from rich.progress import Progress

    from stereo.evaluate import evaluate_on_caches
    from stereo.protocol import GTMode, markdown_table, row_from_summary, write_results_json
    from stereo.train import resolve_device

    if out is not None:
        from datasets.atomic import check_output_file

        check_output_file(out)  # before the evaluation, which can take hours, not after
    gt_mode = GTMode(quantization=gt, density=density)
    with Progress(transient=True) as bar:
        task = bar.add_task("evaluating", total=None)
        records = evaluate_on_caches(
            [str(c) for c in caches], checkpoint=None if model is None else str(model), baselines=tuple(baseline),
            split=split, subset=subset, gt_mode=gt_mode, device=resolve_device(device), batch_size=batch_size,
            progress=lambda n: bar.advance(task, n),
        )
    rows = [row_from_summary(r["method"], r["metrics"], energy_mj=r.get("energy_mj_per_frame"),
                             note=gt_mode.describe()) for r in records]
    typer.echo(markdown_table(rows))
    if records and records[0].get("split_frames_missing"):
        typer.echo(f"warning: the caches lack {records[0]['split_frames_missing']} frames of MVSEC split {split} "
                   f"{subset}; these scores are over fewer frames than the published protocol", err=True)
    if out is not None:
        write_results_json(out, records)
        typer.echo(f"wrote {out}")
