"""Recipe: reproduce the default model shipped in ``stereo/default/`` from scratch.

Steps (each skipped when its output exists, so a killed run resumes):

1. ``stereo synth`` the training recordings (seeds 101-106) and the validation recording
   (seed 107), 3 s each, and ``stereo preprocess`` them (voxel grid, 5 bins, 50 ms windows);
2. on the CPU, train the authors' searched MVSEC genotype (feature path [1, 0], matching path
   [1, 2, 2, 1]) at a laptop-sized width (feature filter multiplier 4, matching 2, T = 2) for 8
   epochs (Adam lr 5e-3, halved after epoch 6; 112 x 224 crops, batch 2, sub-pixel cross-entropy)
   with seed 0 (46 CPU-minutes);
3. fine-tune the best checkpoint of step 2 on more varied scenes, the six recordings plus twelve
   new ones (seeds 108-119), with a fresh Adam at lr 2.5e-3 and validation every epoch:

   - ``--finetune-device cuda`` (the shipped model): 29 epochs, batch 8, lr halved after epochs
     14 and 24, 6 loader workers, in ``WORKDIR/finetune_cuda`` (4.6 minutes on an H200);
   - ``--finetune-device cpu``: 5 epochs, batch 2, lr halved after epoch 3, in
     ``WORKDIR/finetune`` (about 80 CPU-minutes; a weaker model, see ``stereo/default/README.md``);

4. on the CPU (``--threads 2``), add a full-resolution refinement head (12 channels, dilations
   1, 2, 4, 8, the candidate probabilities projected to 8 channels; see ``stereo.refinement``) to
   the best checkpoint of step 3 and train only the head, the spiking feature and matching nets
   frozen, on the 18 recordings: 3 epochs of 300 steps, batch 2, whole frames, Adam lr 1e-3 halved
   after epoch 2, in ``WORKDIR/refine`` (about 25 minutes on 2 cores). ``--refine-from CKPT``
   starts this step from another model instead (and skips steps 2 and 3): the shipped head was
   trained on the model shipped before it, ``git show 82e5d32:stereo/default/model.pt > backbone.pt``;
5. export the last checkpoint of step 4 (no selection on the validation recording) without
   optimiser state to ``stereo/default/model.pt`` with the training logs and its metrics.

Steps 1, 2 and the CPU variant of 3 are bit-for-bit reproducible on the same machine type and
thread count (``--threads``, default 1): every random choice is seeded and the data loader runs
in-process. CUDA training is only repeatable with deterministic algorithms, which the CUDA variant
uses unless ``--no-deterministic`` is given; the shipped weights come from a run made before that
switch existed (same settings otherwise), so a rerun gives a model of the same quality, not the
same weights.

Usage::

    python -m tools.recipe_default_model --workdir runs/default_model                 # needs a GPU for step 3
    python -m tools.recipe_default_model --workdir runs/default_model --finetune-device cpu
    python -m tools.recipe_default_model --workdir runs/default_model --export-only
    python -m tools.recipe_default_model --workdir /tmp/default_dry --dry-run
    python -m tools.recipe_default_model --workdir runs/default_model --jobs 16   # data in parallel
    python -m tools.recipe_default_model --workdir runs/default_model --refine-from backbone.pt --threads 2
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import subprocess
import sys
from pathlib import Path

TRAIN_SEEDS = (101, 102, 103, 104, 105, 106)
VAL_SEED = 107
FINETUNE_SEEDS = tuple(range(108, 120))
# step 3 per device: epochs, batch, lr milestones, loader workers, run folder
FINETUNE = {"cuda": {"epochs": 29, "batch_size": 8, "milestones": (14, 24), "workers": 6, "dir": "finetune_cuda"},
            "cpu": {"epochs": 5, "batch_size": 2, "milestones": (3,), "workers": 0, "dir": "finetune"}}
# step 4: the refinement head on top of step 3's network
# (whole frames: the head must see the frozen network's output on whole frames, as at inference)
REFINE = {"epochs": 3, "steps_per_epoch": 300, "batch_size": 2, "milestones": (2,), "lr": 1e-3, "crop": (260, 346),
          "channels": 12, "dilations": (1, 2, 4, 8), "probability_channels": 8, "dir": "refine"}
SECONDS = 3.0
DEFAULT_DIR = Path(__file__).resolve().parent.parent / "stereo" / "default"


def _stereo(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "stereo", *args], check=True)


def make_data(data_dir: Path, *, seconds: float = SECONDS, seeds: tuple[int, ...] = (*TRAIN_SEEDS, VAL_SEED),
              jobs: int = 1) -> tuple[list[str], str]:
    """Synthesise and preprocess the recordings; returns the training caches and the validation cache.

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


def train_config(train: list[str], val: str, run_dir: Path, *, lr: float = 5e-3, epochs: int = 8, tiny: bool = False):
    """Step 2: the from-scratch run."""
    from stereo.network import StereoNetConfig
    from stereo.train import StereoTrainConfig

    network = StereoNetConfig(in_channels=5, max_disparity=48, timesteps=1 if tiny else 2, input_mode="repeat",
                              feature_filter_multiplier=1 if tiny else 4, matching_filter_multiplier=1 if tiny else 2)
    return StereoTrainConfig(
        train=tuple(train), val=(val,), genotype="spikedhs_mvsec", out=str(run_dir), epochs=epochs, batch_size=2,
        lr=lr, milestones=(6,), lr_gamma=0.5, crop_height=112, crop_width=224, loss="cross_entropy",
        seed=0, device="cpu", amp=False, workers=0, val_every=2, network=network,
    )


def finetune_config(train: list[str], val: str, init_from: Path, run_dir: Path, *, device: str = "cuda",
                    epochs: int | None = None, deterministic: bool = True, tiny: bool = False):
    """Step 3: continue from step 2's best weights on all training scenes with a fresh optimiser."""
    settings = FINETUNE[device]
    config = train_config(train, val, run_dir, lr=2.5e-3, epochs=epochs or settings["epochs"], tiny=tiny)
    return dataclasses.replace(config, batch_size=settings["batch_size"], milestones=settings["milestones"],
                               workers=0 if tiny else settings["workers"], val_every=1, device=device,
                               init_from=str(init_from), deterministic=deterministic and device == "cuda")


def refine_config(train: list[str], val: str, init_from: Path, run_dir: Path, *, epochs: int | None = None,
                  tiny: bool = False):
    """Step 4: a new refinement head on ``init_from``'s frozen network, trained alone."""
    from stereo.refinement import RefinementConfig
    from stereo.train import StereoTrainConfig, load_trained_model

    network = load_trained_model(init_from)[0].config
    if network.refinement is not None:
        raise SystemExit(f"{init_from} already has a refinement head: step 4 needs a model without one "
                         f"(e.g. git show 82e5d32:stereo/default/model.pt)")
    head = RefinementConfig(channels=2 if tiny else REFINE["channels"], dilations=REFINE["dilations"],
                            probability_channels=2 if tiny else REFINE["probability_channels"])
    return StereoTrainConfig(
        train=tuple(train), val=(val,), out=str(run_dir), epochs=epochs or REFINE["epochs"],
        batch_size=REFINE["batch_size"], lr=REFINE["lr"], milestones=REFINE["milestones"], lr_gamma=0.5,
        crop_height=REFINE["crop"][0], crop_width=REFINE["crop"][1], loss="cross_entropy", seed=0, device="cpu",
        amp=False, workers=0, val_every=1, network=dataclasses.replace(network, refinement=head),
        max_steps_per_epoch=REFINE["steps_per_epoch"],
        init_from=str(init_from), freeze=("feature", "matching"),
    )


def export(run_dir: Path, out_dir: Path = DEFAULT_DIR, *, checkpoint: str = "best.pt",
           logs: dict[str, Path] | None = None) -> Path:
    """Copy a checkpoint of ``run_dir`` (weights, genotype, configs only), its log and metrics into ``out_dir``.

    Args:
        checkpoint: ``best.pt`` (lowest validation mean disparity error) or ``last.pt``.
        logs: further ``{file name in out_dir: log.csv}`` to copy (the logs of earlier steps).
    """
    import torch

    from search.checkpoint import save_checkpoint
    from stereo.train import CHECKPOINT_KIND, load_trained_model

    missing = [str(p) for p in (run_dir / checkpoint, run_dir / "log.csv", *(logs or {}).values()) if not p.exists()]
    if missing:  # checked before anything in out_dir is replaced
        raise SystemExit(f"cannot export: missing {', '.join(missing)}")
    model, payload = load_trained_model(run_dir / checkpoint)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = save_checkpoint(out_dir / "model.pt", model=model, epoch=payload["epoch"], step=payload["step"],
                             config=payload["config"], genotype=payload["genotype"], kind=CHECKPOINT_KIND,
                             extra=payload["extra"])
    shutil.copyfile(run_dir / "log.csv", out_dir / "training_log.csv")
    for name, source in (logs or {}).items():
        shutil.copyfile(source, out_dir / name)
    metrics = {k: v for k, v in payload["extra"]["metrics"].items()}
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    size_mb = target.stat().st_size / 1e6
    print(f"exported {target} ({size_mb:.2f} MB, epoch {payload['epoch']}, torch {torch.__version__})")
    return target


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("runs/default_model"))
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (part of reproducibility)")
    parser.add_argument("--export-only", action="store_true", help="only export an already trained run")
    parser.add_argument("--lr", type=float, default=5e-3, help="Adam learning rate")
    parser.add_argument("--epochs", type=int, default=8, help="epochs of the from-scratch run (step 2)")
    parser.add_argument("--finetune-device", choices=sorted(FINETUNE), default="cuda",
                        help="device of the fine-tuning step 3 (cuda: the shipped model)")
    parser.add_argument("--finetune-epochs", type=int, default=None,
                        help="epochs of step 3 (default: 29 on cuda, 5 on cpu; more continues a finished run)")
    parser.add_argument("--no-deterministic", dest="deterministic", action="store_false",
                        help="CUDA step 3 without deterministic algorithms (faster, not repeatable)")
    parser.add_argument("--jobs", type=int, default=1,
                        help="recordings synthesised at once in step 1 (e.g. the core count on a GPU machine)")
    parser.add_argument("--refine-from", type=Path, default=None,
                        help="start step 4 from this model (skipping steps 2 and 3), e.g. the shipped backbone")
    parser.add_argument("--refine-epochs", type=int, default=None,
                        help=f"epochs of step 4 (default {REFINE['epochs']})")
    parser.add_argument("--dry-run", action="store_true",
                        help="every stage in about a minute: 0.2 s recordings of two seeds, a tiny network, one "
                             "epoch, exported into WORKDIR/export instead of stereo/default")
    args = parser.parse_args(argv)

    import torch

    from stereo.train import train_stereo

    torch.set_num_threads(args.threads)
    device = "cpu" if args.dry_run else args.finetune_device
    run_dir, finetune_dir = args.workdir / "run", args.workdir / FINETUNE[device]["dir"]
    refine_dir = args.workdir / REFINE["dir"]
    if not args.export_only:
        if device == "cuda" and not torch.cuda.is_available() and args.refine_from is None:
            raise SystemExit("step 3 runs on a GPU by default (the shipped model); this machine has none: pass "
                             "--finetune-device cpu for the CPU variant")
        if args.dry_run:
            train, val = make_data(args.workdir / "data", seconds=0.2, seeds=(TRAIN_SEEDS[0], VAL_SEED), jobs=args.jobs)
            more, _ = make_data(args.workdir / "data", seconds=0.2, seeds=(FINETUNE_SEEDS[0], VAL_SEED), jobs=args.jobs)
        else:
            train, val = make_data(args.workdir / "data", jobs=args.jobs)
            more, _ = make_data(args.workdir / "data", seeds=(*FINETUNE_SEEDS, VAL_SEED), jobs=args.jobs)
        backbone = args.refine_from
        if backbone is None:
            config = train_config(train, val, run_dir, lr=args.lr, epochs=1 if args.dry_run else args.epochs,
                                  tiny=args.dry_run)
            train_stereo(config, resume=(run_dir / "last.pt").exists())
            finetune = finetune_config([*train, *more], val, run_dir / "best.pt", finetune_dir, device=device,
                                       epochs=1 if args.dry_run else args.finetune_epochs,
                                       deterministic=args.deterministic, tiny=args.dry_run)
            train_stereo(finetune, resume=(finetune_dir / "last.pt").exists())
            backbone = finetune_dir / "best.pt"
        refine = refine_config([*train, *more], val, backbone, refine_dir,
                               epochs=1 if args.dry_run else args.refine_epochs, tiny=args.dry_run)
        train_stereo(refine, resume=(refine_dir / "last.pt").exists())
    earlier = {} if args.refine_from is not None else {"training_log_from_scratch.csv": run_dir / "log.csv",
                                                      "training_log_finetune.csv": finetune_dir / "log.csv"}
    export(refine_dir, args.workdir / "export" if args.dry_run else DEFAULT_DIR, checkpoint="last.pt",
           logs=earlier)

if __name__ == "__main__":
    main()
