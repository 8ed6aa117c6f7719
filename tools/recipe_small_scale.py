"""Issue 5's small-scale check: a spiking stereo net trained for under 30 CPU-minutes against OpenCV SGBM.

1. ``stereo synth`` + ``stereo preprocess`` 18 training recordings of 3 s (seeds 101-106 and
   108-119: the default model's), the validation recording (seed 107) and the held-out test
   recordings (``--test-seeds``, by default 501-502, never used for training or for picking);
2. ``stereo train stereo`` from scratch on the CPU: step 2 of the default model's recipe (the
   authors' MVSEC genotype at laptop width, the coincidence cost volume and aligned cost
   upsampling, 112 x 224 crops, batch 2, Adam 5e-3 halved after epochs 8 and 10), stopped by
   ``--minutes`` (checked at the end of each epoch, so the last epoch may end up to one epoch
   later; the run's ``log.csv`` records the minutes, validation included; a killed run resumes
   under a fresh limit, so a figure for the check must come from one uninterrupted run). With
   ``--cpu-bf16`` the forward pass runs in bfloat16 (``stereo train stereo --cpu-bf16``): on a CPU
   with AVX512-BF16 a step is about 1.5x faster, so more epochs fit in the same minutes (the epoch
   count is raised from 12 to 20 so that the limit still stops the run; the learning-rate schedule
   does not depend on it);
3. ``stereo eval stereo`` of the last checkpoint (not one picked on validation) and of SGBM on
   event-count images (holes filled from the nearest valid pixel on the row) on the validation
   recording and on each held-out recording; the tables are printed and written as JSON.

Reproduce (the README's figures; 2 threads, about 35 minutes with the data):
    python -m tools.recipe_small_scale --workdir runs/small_scale_bf16 --threads 2 --cpu-bf16
    python -m tools.recipe_small_scale --workdir runs/small_scale --threads 2
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from tools import recipe_default_model as default_recipe
from tools.recipe_default_model import TRAIN_SEEDS, VAL_SEED, make_data
from tools.recipe_steps import run_stereo

TEST_SEEDS = (501, 502)
MINUTES = 28.0
EPOCHS = 12  # more than fit in the time limit at float32 speed: the limit stops the run
BF16_EPOCHS = 20  # the same at bfloat16 speed


def train_config(train: list[str], val: str, run_dir: Path, *, minutes: float | None, cpu_bf16: bool = False,
                 tiny: bool = False):
    """Step 2: the default model's from-scratch run under a time limit."""
    epochs = 1 if tiny else (BF16_EPOCHS if cpu_bf16 else EPOCHS)
    config = default_recipe.train_config(train, val, run_dir, epochs=epochs, tiny=tiny)
    return dataclasses.replace(config, time_limit_minutes=minutes, cpu_bf16=cpu_bf16)


def evaluate(checkpoint: Path, caches: dict[str, str], out_dir: Path) -> dict[str, list[dict]]:
    """``stereo eval stereo CACHE --model CHECKPOINT --baseline sgbm --out out_dir/NAME.json`` per cache."""
    results = {}
    for name, cache in caches.items():
        target = out_dir / f"eval_{name}.json"
        if not target.exists():
            run_stereo("eval", "stereo", cache, "--model", checkpoint, "--baseline", "sgbm", "--out", target)
        results[name] = json.loads(target.read_text())
    return results


def summary_table(results: dict[str, list[dict]], minutes: float) -> str:
    """One Markdown row per (recording, method): 1PA, mean / median depth error, mean disparity error."""
    lines = ["| recording | method | 1PA (%) | mean depth err (cm) | median depth err (cm) | mean disp err (px) |",
             "|---|---|---:|---:|---:|---:|"]
    for name, records in results.items():
        for record in records:
            m = record["metrics"]
            method = f"spiking net, {minutes:.1f} CPU-minutes" if "checkpoint" in record else "OpenCV SGBM"
            lines.append(f"| {name} | {method} | {m['one_pixel_accuracy']:.1f} | {100 * m['mean_depth_error']:.1f} "
                         f"| {100 * m['median_depth_error']:.1f} | {m['mean_disparity_error']:.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("runs/small_scale"))
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    parser.add_argument("--minutes", type=float, default=MINUTES,
                        help="training time limit, checked after each epoch (validation included)")
    parser.add_argument("--test-seeds", default=",".join(map(str, TEST_SEEDS)),
                        help="held-out recordings, comma-separated synth seeds")
    parser.add_argument("--jobs", type=int, default=2, help="recordings synthesised at once")
    parser.add_argument("--cpu-bf16", action="store_true",
                        help="the training forward pass in bfloat16 (faster on CPUs with AVX512-BF16 or AMX)")
    parser.add_argument("--dry-run", action="store_true",
                        help="every step in about a minute: 0.2 s recordings, a tiny network, two steps")
    args = parser.parse_args(argv)
    try:
        test_seeds = tuple(int(s) for s in args.test_seeds.split(",") if s.strip())
    except ValueError:
        parser.error(f"--test-seeds must be comma-separated integers, got {args.test_seeds!r}")
    used = {*TRAIN_SEEDS, VAL_SEED}
    if not test_seeds or used & set(test_seeds):
        parser.error(f"--test-seeds must be given and must not overlap the training/validation seeds "
                     f"{sorted(used & set(test_seeds)) or ''}".rstrip())
    if args.minutes <= 0 or args.threads < 1:
        parser.error("--minutes must be > 0 and --threads >= 1")

    import torch

    from datasets.atomic import atomic_output
    from search.checkpoint import load_checkpoint
    from stereo.train import train_stereo

    torch.set_num_threads(args.threads)
    data_dir, run_dir = args.workdir / "data", args.workdir / "run"
    if args.dry_run:
        train, val = make_data(data_dir, seconds=0.2, seeds=(TRAIN_SEEDS[0], VAL_SEED), jobs=args.jobs)
        tests, _ = make_data(data_dir, seconds=0.2, seeds=(*test_seeds[:1], VAL_SEED), jobs=args.jobs)
    else:
        train, val = make_data(data_dir, seeds=(*TRAIN_SEEDS, VAL_SEED), jobs=args.jobs)
        tests, _ = make_data(data_dir, seeds=(*test_seeds, VAL_SEED), jobs=args.jobs)
    finished = run_dir / "finished"
    if not finished.exists():  # a finished run is not resumed: that would train on under a new time limit
        config = train_config(train, val, run_dir, minutes=args.minutes, cpu_bf16=args.cpu_bf16, tiny=args.dry_run)
        train_stereo(config, resume=(run_dir / "last.pt").exists())
        with atomic_output(finished) as tmp:
            tmp.write_text("training stopped by its epoch count or time limit\n")
    caches = {str(VAL_SEED): val, **{Path(c).stem.removeprefix("seed"): c for c in tests}}
    results = evaluate(run_dir / "last.pt", caches, args.workdir)
    labels = {seed: f"seed {seed} ({'validation' if seed == str(VAL_SEED) else 'held out'})" for seed in caches}
    minutes = float(load_checkpoint(run_dir / "last.pt")["extra"]["metrics"]["minutes"])
    table = summary_table({labels[seed]: records for seed, records in results.items()}, minutes)
    with atomic_output(args.workdir / "summary.md") as tmp:
        tmp.write_text(table + "\n")
    print(table)


if __name__ == "__main__":
    main()
