"""Recipe: reproduce the default model shipped in ``stereo/default/`` from scratch, on the CPU alone.

Steps (each skipped when its output exists, so a killed run resumes):

1. ``stereo synth`` the 18 training recordings (seeds 101-106 and 108-119) and the validation
   recording (seed 107), 3 s each, and ``stereo preprocess`` them (voxel grid, 5 bins, 50 ms
   windows);
2. train from scratch the authors' searched MVSEC genotype (feature path [1, 0], matching path
   [1, 2, 2, 1]) at a laptop-sized width (feature filter multiplier 4, matching 2, T = 2) with the
   coincidence cost volume and aligned cost upsampling: 30 epochs, 112 x 224 crops, batch 2, Adam
   lr 5e-3 halved after epochs 8 and 10, sub-pixel cross-entropy, seed 0, validation every epoch,
   in ``WORKDIR/run`` (1.6-2.0 hours on 2 threads, AMD EPYC Zen 4: 3.1-4.1 minutes an epoch);
3. add a full-resolution refinement head (12 channels, dilations 1, 2, 4, 8, the candidate
   probabilities projected to 8 channels; see ``stereo.refinement``) to the last checkpoint of
   step 2 and train only the head, the spiking feature and matching nets frozen, on the same
   recordings: 3 epochs of 300 steps, batch 2, whole frames, Adam lr 1e-3 halved after epoch 2,
   in ``WORKDIR/refine`` (11-18 minutes on 2 threads). ``--refine-from CKPT`` starts this step
   from another model instead (and skips step 2);
4. export the last checkpoint of step 3 (no selection on the validation recording) without
   optimiser state to ``stereo/default/model.pt`` (``--export-dir`` for elsewhere) with both
   steps' training logs and run configs and its metrics.

Every step is bit-for-bit reproducible on the same machine type and thread count (``--threads``,
default 2): every random choice is seeded and the data loader runs in-process. Step 2 is also the
run that :mod:`tools.recipe_small_scale` stops after 28 minutes; its epoch count only says where
it stops (the learning-rate schedule does not depend on it), so ``--epochs`` higher than a
finished run's continues that run exactly as one longer run would have gone.

Usage::

    python -m tools.recipe_default_model --workdir runs/default_model
    python -m tools.recipe_default_model --workdir runs/default_model --export-only
    python -m tools.recipe_default_model --workdir /tmp/default_dry --dry-run
    python -m tools.recipe_default_model --workdir runs/head --refine-from backbone.pt --export-dir runs/head/export
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

TRAIN_SEEDS = (101, 102, 103, 104, 105, 106, *range(108, 120))
VAL_SEED = 107
# step 2: the spiking network from scratch
SCRATCH = {"epochs": 30, "milestones": (8, 10), "lr": 5e-3, "batch_size": 2, "crop": (112, 224)}
# step 3: the refinement head on top of step 2's network
# (whole frames: the head must see the frozen network's output on whole frames, as at inference)
REFINE = {"epochs": 3, "steps_per_epoch": 300, "batch_size": 2, "milestones": (2,), "lr": 1e-3, "crop": (260, 346),
          "channels": 12, "dilations": (1, 2, 4, 8), "probability_channels": 8, "dir": "refine"}
SECONDS = 3.0
DEFAULT_DIR = Path(__file__).resolve().parent.parent / "stereo" / "default"


def _stereo(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "stereo", *args], check=True)


def make_data(data_dir: Path, *, seconds: float = SECONDS, seeds: tuple[int, ...] = (*TRAIN_SEEDS, VAL_SEED),
              jobs: int = 1) -> tuple[list[str], str]:
    """Synthesise and preprocess the recordings; returns the caches of all seeds but the last, and the last.

    Args:
        jobs: recordings made at once (each seed is independent, so the files do not depend on it).
    """
    from concurrent.futures import ThreadPoolExecutor

    data_dir.mkdir(parents=True, exist_ok=True)

    def one(seed: int) -> str:
        prefix = data_dir / f"seed{seed}"
        if not Path(f"{prefix}_data.hdf5").exists():
            _stereo("synth", str(prefix), "--seconds", str(seconds), "--seed", str(seed), "--overwrite")
        cache = data_dir / f"seed{seed}.h5"
        if not cache.exists():
            _stereo("preprocess", f"{prefix}_data.hdf5", "--out", str(cache), "--representation", "voxel",
                    "--bins", "5", "--window-ms", "50")
        return str(cache)

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        caches = list(pool.map(one, seeds))
    return caches[:-1], caches[-1]


def train_config(train: list[str], val: str, run_dir: Path, *, epochs: int = SCRATCH["epochs"], tiny: bool = False):
    """Step 2: the spiking network from scratch."""
    from stereo.network import StereoNetConfig
    from stereo.train import StereoTrainConfig

    network = StereoNetConfig(in_channels=5, max_disparity=48, timesteps=1 if tiny else 2, input_mode="repeat",
                              feature_filter_multiplier=1 if tiny else 4, matching_filter_multiplier=1 if tiny else 2,
                              cost_volume="coincidence", cost_upsampling="aligned")
    return StereoTrainConfig(
        train=tuple(train), val=(val,), genotype="spikedhs_mvsec", out=str(run_dir), epochs=epochs,
        batch_size=SCRATCH["batch_size"], lr=SCRATCH["lr"], milestones=SCRATCH["milestones"], lr_gamma=0.5,
        crop_height=SCRATCH["crop"][0], crop_width=SCRATCH["crop"][1], loss="cross_entropy", seed=0, device="cpu",
        amp=False, workers=0, val_every=1, network=network, max_steps_per_epoch=2 if tiny else None,
    )


def refine_config(train: list[str], val: str, init_from: Path, run_dir: Path, *, epochs: int | None = None,
                  tiny: bool = False):
    """Step 3: a new refinement head on ``init_from``'s frozen network, trained alone."""
    from stereo.refinement import RefinementConfig
    from stereo.train import StereoTrainConfig, load_trained_model

    network = load_trained_model(init_from)[0].config
    if network.refinement is not None:
        raise SystemExit(f"{init_from} already has a refinement head: step 3 needs a model without one")
    head = RefinementConfig(channels=2 if tiny else REFINE["channels"], dilations=REFINE["dilations"],
                            probability_channels=2 if tiny else REFINE["probability_channels"])
    return StereoTrainConfig(
        train=tuple(train), val=(val,), out=str(run_dir), epochs=epochs or REFINE["epochs"],
        batch_size=REFINE["batch_size"], lr=REFINE["lr"], milestones=REFINE["milestones"], lr_gamma=0.5,
        crop_height=REFINE["crop"][0], crop_width=REFINE["crop"][1], loss="cross_entropy", seed=0, device="cpu",
        amp=False, workers=0, val_every=1, network=dataclasses.replace(network, refinement=head),
        max_steps_per_epoch=2 if tiny else REFINE["steps_per_epoch"],
        init_from=str(init_from), freeze=("feature", "matching"),
    )


def export(run_dir: Path, out_dir: Path = DEFAULT_DIR, *, checkpoint: str = "best.pt",
           logs: dict[str, Path] | None = None) -> Path:
    """Copy a checkpoint of ``run_dir`` (weights, genotype, configs only), its log, run config and metrics
    into ``out_dir`` (``model.pt``, ``training_log.csv``, ``run_config.json``, ``metrics.json``).

    Args:
        checkpoint: ``best.pt`` (lowest validation mean disparity error) or ``last.pt``.
        logs: further ``{file name in out_dir: file}`` to copy (the log and config of earlier steps).
    """
    import torch

    from datasets.atomic import atomic_output
    from search.checkpoint import save_checkpoint
    from stereo.train import CHECKPOINT_KIND, load_trained_model

    own = {"training_log.csv": run_dir / "log.csv", "run_config.json": run_dir / "config.json"}
    missing = [str(p) for p in (run_dir / checkpoint, *own.values(), *(logs or {}).values()) if not p.exists()]
    if missing:  # checked before anything in out_dir is replaced
        raise SystemExit(f"cannot export: missing {', '.join(missing)}")
    model, payload = load_trained_model(run_dir / checkpoint)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = save_checkpoint(out_dir / "model.pt", model=model, epoch=payload["epoch"], step=payload["step"],
                             config=payload["config"], genotype=payload["genotype"], kind=CHECKPOINT_KIND,
                             extra=payload["extra"])
    for name, source in {**own, **(logs or {})}.items():
        with atomic_output(out_dir / name) as tmp:
            shutil.copyfile(source, tmp)
    with atomic_output(out_dir / "metrics.json") as tmp:
        tmp.write_text(json.dumps(payload["extra"]["metrics"], indent=2) + "\n")
    size_mb = target.stat().st_size / 1e6
    print(f"exported {target} ({size_mb:.2f} MB, epoch {payload['epoch']}, torch {torch.__version__})")
    return target


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("runs/default_model"))
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads (part of reproducibility)")
    parser.add_argument("--export-only", action="store_true", help="only export an already trained run")
    parser.add_argument("--epochs", type=int, default=SCRATCH["epochs"],
                        help="epochs of step 2 (more continues a finished run)")
    parser.add_argument("--jobs", type=int, default=2, help="recordings synthesised at once in step 1")
    parser.add_argument("--refine-from", type=Path, default=None,
                        help="start step 3 from this model (skipping step 2)")
    parser.add_argument("--refine-epochs", type=int, default=None,
                        help=f"epochs of step 3 (default {REFINE['epochs']})")
    parser.add_argument("--export-dir", type=Path, default=None,
                        help="where the model, logs, configs and metrics go (default: the package's stereo/default, "
                             "replacing the shipped model; WORKDIR/export with --dry-run)")
    parser.add_argument("--dry-run", action="store_true",
                        help="every stage in about a minute: 0.2 s recordings of two seeds, a tiny network, one "
                             "epoch of two steps, exported into WORKDIR/export instead of stereo/default")
    args = parser.parse_args(argv)
    if args.threads < 1 or args.epochs < 1 or args.jobs < 1:
        parser.error("--threads, --epochs and --jobs must be >= 1")
    out_dir = args.export_dir or (args.workdir / "export" if args.dry_run else DEFAULT_DIR)
    existing = next(p for p in (out_dir.resolve(), *out_dir.resolve().parents) if p.exists())
    if not existing.is_dir() or not os.access(existing, os.W_OK):  # found now, not after hours of training
        parser.error(f"cannot export to {out_dir}: {existing} is not a writable folder")

    import torch

    from stereo.train import train_stereo

    torch.set_num_threads(args.threads)
    run_dir, refine_dir = args.workdir / "run", args.workdir / REFINE["dir"]
    if not args.export_only:
        seeds = (TRAIN_SEEDS[0], VAL_SEED) if args.dry_run else (*TRAIN_SEEDS, VAL_SEED)
        train, val = make_data(args.workdir / "data", seconds=0.2 if args.dry_run else SECONDS, seeds=seeds,
                               jobs=args.jobs)
        backbone = args.refine_from
        if backbone is None:
            config = train_config(train, val, run_dir, epochs=1 if args.dry_run else args.epochs, tiny=args.dry_run)
            train_stereo(config, resume=(run_dir / "last.pt").exists())
            backbone = run_dir / "last.pt"
        refine = refine_config(train, val, backbone, refine_dir, epochs=1 if args.dry_run else args.refine_epochs,
                               tiny=args.dry_run)
        train_stereo(refine, resume=(refine_dir / "last.pt").exists())
    earlier = {} if args.refine_from is not None else {"training_log_from_scratch.csv": run_dir / "log.csv",
                                                       "run_config_from_scratch.json": run_dir / "config.json"}
    export(refine_dir, out_dir, checkpoint="last.pt", logs=earlier)


if __name__ == "__main__":
    main()
