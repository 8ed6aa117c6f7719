"""``stereo bench``: preprocessing and inference throughput, accuracy and energy in one run."""

from __future__ import annotations

from pathlib import Path

import typer


def bench(
    out: Path = typer.Option(Path("bench_results"), help="Output folder: bench.json, bench.md, PNG plots."),
    model: Path | None = typer.Option(None, help="Stereo checkpoint; default: the model shipped with the package."),
    quick: bool = typer.Option(False, "--quick", help="The small run (under 5 minutes on a 2-core CPU)."),
    cache_dir: Path | None = typer.Option(None, help="Where the benchmark recordings are synthesised once "
                                                     "(default: ~/.cache/stereo/bench)."),
    device: str = typer.Option("auto", help="auto (CPU, plus CUDA when present), cpu or cuda."),
    height: int = typer.Option(260, min=1, help="Frame height of the throughput runs, px."),
    width: int = typer.Option(346, min=1, help="Frame width of the throughput runs, px."),
    seconds: float | None = typer.Option(None, help="Length of each benchmark recording, s "
                                                     "(quick 0.5, full 2)."),
    windows: int | None = typer.Option(None, min=1, help="Windows scored for accuracy (quick 16, full: all)."),
    repeats: int | None = typer.Option(None, min=1, help="Timed batches per throughput number (quick 2, full 5)."),
    events: int | None = typer.Option(None, min=1, help="Events of the preprocessing benchmark "
                                                         "(quick 1e6, full 5e6)."),
    batch: list[int] | None = typer.Option(None, min=1, help="Batch size of the throughput runs; repeatable "
                                                              "(quick 1, full 1 and 4)."),
    section: list[str] | None = typer.Option(None, help="Run only these sections (preprocess, inference, "
                                                         "accuracy); repeatable."),
    threads: int | None = typer.Option(None, min=1, help="torch CPU threads (default: torch's choice)."),
    seed: list[int] | None = typer.Option(None, help="Seed of a held-out accuracy recording; repeatable "
                                                      "(default 301 and 302)."),
) -> None:
    """Benchmark the pipeline on this machine and write tables and plots.

    Preprocessing throughput (events/s) against tonic and numpy; inference windows/s at 260x346
    of the model and of the authors' MVSEC genotype, each next to the same network as a plain
    ReLU ANN; accuracy and energy on held-out synthetic recordings (seeds 301, 302) against
    OpenCV SGBM/BM and dv-processing's SemiDenseStereoMatcher (if installed).

    Examples:

        stereo bench --quick

        stereo bench --model runs/split1/best.pt --out bench_split1 --device cuda --batch 1 --batch 8

        stereo bench --section accuracy --seconds 3 --seed 311 --seed 312 --seed 313 --seed 314
    """
    from tools.bench import SECTIONS, BenchConfig, default_cache_dir, run_bench

    config = BenchConfig(out=out, model=None if model is None else str(model), quick=quick,
                         cache_dir=cache_dir or default_cache_dir(), device=device, height=height, width=width,
                         seconds=seconds, windows=windows, repeats=repeats, events=events,
                         batch_sizes=tuple(batch) if batch else None,
                         sections=tuple(section) if section else SECTIONS, threads=threads,
                         seeds=tuple(seed) if seed else BenchConfig.seeds)
    result = run_bench(config, log=lambda line: typer.echo(line, err=True))
    typer.echo((out / "bench.md").read_text())
    typer.echo(f"wall time {result['wall_seconds']:.0f} s; wrote {out}")
