"""The benchmark suite behind ``stereo bench`` (also ``python -m tools.bench``).

In one process, on the CPU (and on CUDA when present):

1. preprocessing throughput (events/s) of ``datasets.events_to_voxel`` vs tonic's
   ``to_voxel_grid_numpy`` vs a plain numpy ``np.add.at`` voxel grid, single-threaded, with ratios
   (:mod:`tools.bench_voxel`);
2. inference throughput (windows/s at 260 x 346) and peak memory of the model and of the authors'
   MVSEC genotype (filter multiplier 8, T = 4), each next to its plain ReLU ANN peer
   (:mod:`tools.bench_inference`);
3. accuracy on the held-out synthetic benchmark (seeds 301, 302, or ``--seeds``): the model vs OpenCV StereoSGBM
   and StereoBM on event images and dv-processing's SemiDenseStereoMatcher when installed, all
   with the same hole filling; 1PA, 2PA, mean/median depth error, mean disparity error, energy
   (mJ/frame) and firing rates (:mod:`tools.bench_accuracy`).

Writes ``bench.json``, ``bench.md`` (the tables), ``accuracy_vs_energy.png`` and ``throughput.png``
into the output folder.

Reproduce:
    python -m tools.bench --quick --out bench_results
    stereo bench --out bench_results            # the full run
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from tools.bench_accuracy import BENCH_SEEDS

QUICK = {"seconds": 0.5, "windows": 16, "repeats": 2, "events": 1_000_000, "batch_sizes": (1,)}
FULL = {"seconds": 2.0, "windows": None, "repeats": 5, "events": 5_000_000, "batch_sizes": (1, 4)}
SECTIONS = ("preprocess", "inference", "accuracy")


def default_cache_dir() -> Path:
    """Where benchmark recordings are kept between runs (``$XDG_CACHE_HOME/stereo/bench``)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "stereo" / "bench"


@dataclass(frozen=True)
class BenchConfig:
    """Settings of one benchmark run (None: the ``quick`` or full default).

    Attributes:
        out: output folder (bench.json, bench.md, PNG plots).
        model: stereo checkpoint; None = the shipped default model.
        quick: the small run (under 5 minutes on a 2-core CPU).
        cache_dir: where the benchmark recordings are synthesised once and reused.
        device: "auto" (CPU, plus CUDA when present), "cpu" or "cuda".
        height, width: frame size of the inference throughput runs, px.
        seconds: length of each benchmark recording, s.
        windows: windows scored in the accuracy section (None: all).
        repeats: timed batches per throughput measurement.
        events: events in the preprocessing benchmark.
        batch_sizes: batch sizes of the throughput runs.
        sections: which of :data:`SECTIONS` to run.
        threads: torch CPU threads (None: torch's default).
        seeds: ``stereo synth`` seeds of the accuracy recordings (default 301, 302); never a
            seed used for training (101-119) or tuning.
    """

    out: Path = Path("bench_results")
    model: str | None = None
    quick: bool = False
    cache_dir: Path = field(default_factory=default_cache_dir)
    device: str = "auto"
    height: int = 260
    width: int = 346
    seconds: float | None = None
    windows: int | None = None
    repeats: int | None = None
    events: int | None = None
    batch_sizes: tuple[int, ...] | None = None
    sections: tuple[str, ...] = SECTIONS
    threads: int | None = None
    seeds: tuple[int, ...] = BENCH_SEEDS

    def resolved(self) -> BenchConfig:
        """A copy with every None filled from the quick or full defaults (``windows`` may stay None)."""
        defaults = QUICK if self.quick else FULL
        values = {k: (getattr(self, k) if getattr(self, k) is not None else v) for k, v in defaults.items()}
        config = replace(self, **values)
        unknown = set(config.sections) - set(SECTIONS)
        if unknown:
            raise ValueError(f"unknown bench section(s) {', '.join(sorted(unknown))}; known: {', '.join(SECTIONS)}")
        if min(config.height, config.width, config.repeats, config.events, *config.batch_sizes) < 1:
            raise ValueError("--height, --width, --repeats, --events and batch sizes must be >= 1")
        if config.seconds < 0.2:
            raise ValueError(f"--seconds must be >= 0.2 (one GT frame after the first window), got {config.seconds}")
        if not config.seeds or min(config.seeds) < 0:
            raise ValueError(f"--seed: one or more seeds >= 0 are needed, got {list(config.seeds)}")
        if config.device not in ("auto", "cpu") and not config.device.startswith("cuda"):
            raise ValueError(f"--device must be auto, cpu or cuda, got {config.device!r}")
        return config


def _devices(name: str) -> tuple[str, ...]:
    import torch

    if name == "auto":
        return ("cpu", "cuda") if torch.cuda.is_available() else ("cpu",)
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"--device {name}: no CUDA device is available on this machine")
    return (name,)


def preprocessing_throughput(num_events: int, *, num_bins: int = 5, repeats: int = 3) -> dict:
    """events/s of ``events_to_voxel`` vs tonic vs numpy on the same random 260 x 346 events, one thread.

    Each round times every method as the best of a few calls in a row
    (:func:`tools.bench_voxel.time_rounds`); rates are from each method's fastest round, ratios
    the median of the per-round ratios.

    Returns:
        dict with ``events``, ``bins``, ``events_per_s`` per implementation (tonic None when not installed),
        the ratios to ours and the max abs difference to the numpy reference.
    """
    from datasets.representations import events_to_voxel
    from tools.bench_voxel import HEIGHT, WIDTH, median_ratio, numpy_voxel, random_events, time_rounds

    n = num_events
    x, y, t, p = random_events(n)
    diff = float(np.abs(events_to_voxel(x, y, t, p, num_bins, HEIGHT, WIDTH)
                        - numpy_voxel(x, y, t, p, num_bins, HEIGHT, WIDTH)).max())
    rounds = time_rounds(x, y, t, p, num_bins, repeats)
    names = {"ours": "datasets.events_to_voxel", "numpy": "numpy np.add.at", "tonic": "tonic to_voxel_grid_numpy"}
    rates = {label: (n / max(min(r[key] for r in rounds), 1e-9) if key in rounds[0] else None)
             for key, label in names.items()}
    speedups = {label: (median_ratio(rounds, key, "ours") if key in rounds[0] else None)
                for key, label in names.items()}
    return {"events": n, "bins": num_bins, "size": [HEIGHT, WIDTH], "threads": 1, "events_per_s": rates,
            "speedup_of_ours": speedups, "max_abs_diff_to_numpy": diff}


def load_model(spec: str | None):
    """``(path, model in eval mode, checkpoint payload)`` of a checkpoint path, or of the shipped model for None."""
    from stereo.infer import default_model_path
    from stereo.train import load_trained_model

    path = Path(spec) if spec is not None else default_model_path()
    if not path.is_file():
        raise FileNotFoundError(f"model checkpoint not found: {path}")
    model, payload = load_trained_model(path)
    return path, model, payload


def run_bench(config: BenchConfig, *, log=print) -> dict:
    """Run the selected sections and write ``bench.json``, ``bench.md`` and the PNG plots into ``config.out``.

    Args:
        config: the run settings.
        log: called with one line of progress at a time.

    Returns:
        The content of ``bench.json``.

    Raises:
        FileNotFoundError: no model (none shipped and no ``model`` given) or a missing folder.
        ValueError: bad settings.
    """
    import torch

    from stereo.protocol import write_results_json
    from tools.bench_accuracy import benchmark_recordings, evaluate_benchmark
    from tools.bench_inference import authors_mvsec_network, inference_suite

    config = config.resolved()
    devices = _devices(config.device)
    if config.threads is not None:
        torch.set_num_threads(config.threads)
    needs_model = "inference" in config.sections or "accuracy" in config.sections
    model_path, model, payload = load_model(config.model) if needs_model else (None, None, None)
    out = Path(config.out)
    for folder, option in ((out, "--out"), (Path(config.cache_dir), "--cache-dir")):
        if folder.exists() and not folder.is_dir():
            raise NotADirectoryError(f"{option} {folder} is a file, not a folder")
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    result: dict = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                    "cpu_count": os.cpu_count(), "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
                    "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None},
        "config": {**asdict(config), "out": str(config.out), "cache_dir": str(config.cache_dir)},
        "model": None if model_path is None else str(model_path),
        "argv": list(sys.argv),
    }
    if "preprocess" in config.sections:
        log(f"preprocessing: {config.events:,} events, voxel grid, 1 thread")
        result["preprocess"] = preprocessing_throughput(config.events, repeats=config.repeats + 1)
    if "inference" in config.sections:
        networks = {"model": model, "authors' MVSEC genotype (fm 8, T 4, untrained)": authors_mvsec_network()}
        rows = inference_suite(networks, height=config.height, width=config.width, batch_sizes=config.batch_sizes,
                               repeats=config.repeats, devices=devices,
                               progress=lambda label: log(f"inference: {label}"))
        result["inference"] = [asdict(r) for r in rows]
    if "accuracy" in config.sections:
        log(f"accuracy: benchmark recordings in {config.cache_dir}")
        recordings = benchmark_recordings(config.cache_dir, seeds=config.seeds, seconds=config.seconds)
        from rich.progress import Progress

        with Progress(transient=True) as bar:
            task = bar.add_task("accuracy: windows", total=config.windows)
            scores = evaluate_benchmark(model, payload, recordings, model_name=f"spiking stereo ({model_path.name})",
                                        max_windows=config.windows, device=devices[-1],
                                        progress=lambda n: bar.advance(task, n))
        result["accuracy"] = {"recordings": [str(d) for d, _ in recordings], "gt_mode": "exact dense GT",
                              "scores": [asdict(s) for s in scores]}
    result["wall_seconds"] = time.monotonic() - started
    from tools.bench_report import bench_markdown, write_plots

    markdown = bench_markdown(result)
    write_results_json(out / "bench.json", result)
    from datasets.atomic import atomic_output

    with atomic_output(out / "bench.md") as tmp:
        tmp.write_text(markdown + "\n")
    result["plots"] = [str(p) for p in write_plots(result, out)]
    write_results_json(out / "bench.json", result)
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("bench_results"))
    parser.add_argument("--model", default=None, help="stereo checkpoint (default: the shipped default model)")
    parser.add_argument("--quick", action="store_true", help="the small run (< 5 min on a 2-core CPU)")
    parser.add_argument("--cache-dir", type=Path, default=default_cache_dir())
    parser.add_argument("--device", default="auto")
    parser.add_argument("--height", type=int, default=260)
    parser.add_argument("--width", type=int, default=346)
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--windows", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--events", type=int, default=None)
    parser.add_argument("--batch", type=int, nargs="+", default=None)
    parser.add_argument("--sections", nargs="+", default=list(SECTIONS), choices=SECTIONS)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--seeds", type=int, nargs="+", default=list(BENCH_SEEDS), help="held-out recording seeds")
    args = parser.parse_args(argv)
    config = BenchConfig(out=args.out, model=args.model, quick=args.quick, cache_dir=args.cache_dir,
                         device=args.device, height=args.height, width=args.width, seconds=args.seconds,
                         windows=args.windows, repeats=args.repeats, events=args.events,
                         batch_sizes=None if args.batch is None else tuple(args.batch), sections=tuple(args.sections),
                         threads=args.threads, seeds=tuple(args.seeds))
    result = run_bench(config, log=lambda line: print(line, flush=True))
    print((Path(args.out) / "bench.md").read_text())
    print(f"wall time {result['wall_seconds']:.0f} s; wrote {args.out}")


if __name__ == "__main__":
    main()
