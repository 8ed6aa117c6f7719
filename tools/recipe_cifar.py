"""Recipe: reproduce the paper's CIFAR-10 / CIFAR-100 experiment (search, retrain, evaluate).

One command per dataset, with the authors' settings (the defaults of the ``stereo ... classify``
commands, which follow the SpikeDHS code):

1. ``stereo search classify`` on the training set split in two halves (8 layers on a 4-level
   trellis, filter multiplier 8, T = 6, 50 epochs with 15 weight-only warm-up epochs, batch 100)
   -> ``genotype.json``;
2. ``stereo train classify`` of that genotype from scratch (filter multiplier 48, T = 6, 200
   epochs, batch 50, SGD 0.025 cosine, cutout, auxiliary head);
3. ``stereo eval classify`` on the test set: accuracy, energy per image and firing rates,
   next to the published numbers (SpikeDHS CIFAR-10 95.50 %, CIFAR-100 76.25 %).

Expected cost on one GPU (our estimate, not measured: no GPU was available when this was
written): search roughly 5-10 GPU-hours, retraining roughly 20-40 GPU-hours (the wide T = 6
network for 200 epochs); evaluation minutes. Stages are skipped when their output exists, and
search and training resume from their last checkpoint, so a killed run continues.

The data: the standard python pickle folders (``cifar-10-batches-py`` / ``cifar-100-python``) in
``--data-root``, or ``--download`` to fetch them with torchvision where a network is available.
``--skip-search`` retrains the authors' published CIFAR genotype (``spikedhs_cifar``).

``--dry-run`` runs all three stages on a generated image folder of a few 8 x 8 images per class
(:func:`datasets.classify.write_shapes_dataset`) with a tiny network: about a minute on a CPU.

Usage::

    python -m tools.recipe_cifar --dataset cifar10 --data-root data/ --workdir runs/cifar10
    python -m tools.recipe_cifar --dataset cifar100 --data-root data/ --workdir runs/cifar100 --skip-search
    python -m tools.recipe_cifar --dry-run --workdir /tmp/cifar_dry
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tools.recipe_steps import run_stereo

PUBLISHED = {"cifar10": 95.50, "cifar100": 76.25}  # SpikeDHS top-1 accuracy (%), DESIGN.md section 5
DRY_DATA = ("--dataset", "folder", "--image-size", "8", "--batch-size", "4", "--no-progress")
DRY_SEARCH = ("--layers", "2", "--levels", "2", "--filter-multiplier", "2", "--timesteps", "2", "--epochs", "2",
              "--warmup-epochs", "1")
DRY_TRAIN = ("--filter-multiplier", "2", "--timesteps", "2", "--epochs", "1")


def run_recipe(dataset: str, *, workdir: Path, data_root: Path | None = None, download: bool = False,
               skip_search: bool = False, device: str = "auto", dry_run: bool = False) -> dict:
    """Run (or resume) search, retraining and evaluation; returns the evaluation metrics, writes ``results.md``."""
    if dataset not in PUBLISHED:
        raise ValueError(f"--dataset must be one of {', '.join(PUBLISHED)}, got {dataset!r}")
    workdir.mkdir(parents=True, exist_ok=True)
    if dry_run:
        import torch

        from datasets.classify import write_shapes_dataset

        torch.set_num_threads(1)  # tiny tensors: threads only add synchronisation on a busy CI machine
        data_root = workdir / "shapes"
        if not data_root.is_dir():
            write_shapes_dataset(data_root, num_classes=2, train_per_class=8, val_per_class=3, image_size=8, seed=0)
        data = (*DRY_DATA, "--data-root", data_root)
        search_args, train_args, device = DRY_SEARCH, DRY_TRAIN, "cpu"
    else:
        if data_root is None:
            raise ValueError("--data-root is required (the folder holding the CIFAR python pickle folder), "
                             "or pass --dry-run")
        data = ("--dataset", dataset, "--data-root", data_root, *(("--download",) if download else ()))
        search_args, train_args = (), ()

    genotype = "spikedhs_cifar"
    if not skip_search:
        search_dir = workdir / "search"
        genotype = str(search_dir / "genotype.json")
        if not Path(genotype).is_file():
            resume = ("--resume",) if (search_dir / "checkpoint.pt").is_file() else ()
            run_stereo("search", "classify", *data, *search_args, "--device", device, "--out", search_dir, *resume)
    train_dir = workdir / "train"
    best = train_dir / "best.pt"
    if not _finished(train_dir, train_args):
        resume = ("--resume",) if (train_dir / "checkpoint.pt").is_file() else ()
        run_stereo("train", "classify", genotype, *data, *train_args, "--device", device, "--out", train_dir, *resume)
    metrics_path = workdir / "eval.json"
    if not metrics_path.is_file():
        run_stereo("eval", "classify", best, "--device", device, "--metrics", metrics_path,
                   *(("--no-progress",) if dry_run else ()))
    metrics = json.loads(metrics_path.read_text())
    note = "dry run on a generated 2-class folder" if dry_run else f"{dataset} test set, {metrics['num_images']} images"
    lines = ["| method | top-1 accuracy (%) | energy (mJ/image) | ANN-equivalent (mJ) | firing rate | notes |",
             "|---|---:|---:|---:|---:|---|",
             f"| ours | {metrics['top1']:.2f} | {metrics['energy_mj_per_sample']:.3g} | "
             f"{metrics['ann_equivalent_mj_per_sample']:.3g} | {metrics['mean_firing_rate']:.3f} | {note} |",
             f"| SpikeDHS (published) | {PUBLISHED[dataset]:.2f} | - | - | - | {dataset} test set, paper |"]
    (workdir / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return metrics


def _finished(train_dir: Path, train_args: tuple[str, ...]) -> bool:
    """Whether ``train_dir`` holds a best checkpoint and a last one at the final epoch."""
    from search.checkpoint import load_checkpoint

    last, best = train_dir / "checkpoint.pt", train_dir / "best.pt"
    if not (last.is_file() and best.is_file()):
        return False
    epochs = int(train_args[train_args.index("--epochs") + 1]) if "--epochs" in train_args else 200
    return int(load_checkpoint(last, map_location="cpu")["epoch"]) >= epochs


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=tuple(PUBLISHED), default="cifar10")
    parser.add_argument("--data-root", type=Path, default=None)
    parser.add_argument("--download", action="store_true", help="fetch CIFAR with torchvision if missing")
    parser.add_argument("--workdir", type=Path, default=None, help="default: runs/<dataset>")
    parser.add_argument("--skip-search", action="store_true", help="retrain the authors' published genotype")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dry-run", action="store_true", help="the whole recipe on a tiny generated folder")
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(f"runs/{args.dataset}{'_dry' if args.dry_run else ''}")
    run_recipe(args.dataset, workdir=workdir, data_root=args.data_root, download=args.download,
               skip_search=args.skip_search, device=args.device, dry_run=args.dry_run)


if __name__ == "__main__":
    main()
