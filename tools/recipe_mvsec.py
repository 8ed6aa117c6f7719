"""Recipe: reproduce the paper's MVSEC experiment (split 1 or split 3) from the raw recordings.

One command per split, every stage with the authors' settings (DESIGN.md section 5):

1. ``stereo preprocess`` the three indoor_flying recordings (rectified with the MVSEC maps; SBT,
   5 bins of 10 ms, 50 ms windows ending at each GT frame);
2. cut the DDES split: training frames (flying2 160-1579 + flying3 125-1814 for split 1, ...),
   the 200 validation and the remaining test frames of the shuffled test sequence, as caches;
3. ``stereo search stereo`` on the training caches (10 epochs, architecture from epoch 3, batch 1,
   filter multiplier 4, 2 feature / 4 matching layers, T = 4) -> ``genotype.json``;
4. ``stereo train stereo`` of that genotype (200 epochs, batch 2, Adam 1e-3, MultiStepLR at
   50/100/150, crop 200 x 280, filter multiplier 8, sub-pixel cross-entropy), best by validation;
5. ``stereo eval stereo`` on the test and validation frames with DDES-quantised dense GT (the
   authors' protocol) and exact dense GT, with OpenCV SGBM as the classical baseline, and a
   Markdown table next to the published numbers.

Expected cost on one GPU: search about 9 GPU-hours (the authors' figure for their search);
retraining 200 epochs on about 3,100 windows (311,000 steps) is our estimate of 10-20 GPU-hours
(not measured: no GPU was available when this recipe was written); preprocessing about 10 CPU-minutes.
Every stage is skipped when its output exists, so a killed run resumes where it stopped (search
and training resume from their last checkpoint).

``--dry-run`` runs every stage on three short synthetic recordings named like the MVSEC ones
(``stereo synth``), with a scaled-down split (all frames of the training sequences; the test
sequence's shuffled frames cut 1/3 validation, 2/3 test) and tiny network settings: minutes on
a CPU. ``--skip-search`` retrains the authors' published genotype instead of searching.

Usage::

    python -m tools.recipe_mvsec --split 1 --mvsec-dir /data/mvsec --workdir runs/mvsec_split1
    python -m tools.recipe_mvsec --split 3 --mvsec-dir /data/mvsec --workdir runs/mvsec_split3 --skip-search
    python -m tools.recipe_mvsec --split 1 --dry-run --workdir /tmp/mvsec_dry
"""

from __future__ import annotations

import argparse
import json
import random
from dataclasses import dataclass
from pathlib import Path

from tools.recipe_steps import run_stereo, write_subset_cache

SEQUENCES = ("indoor_flying1", "indoor_flying2", "indoor_flying3")
DRY_RUN_SEEDS = {"indoor_flying1": 401, "indoor_flying2": 402, "indoor_flying3": 403}


@dataclass(frozen=True)
class RecipeSettings:
    """Options of each stage, as ``stereo`` command-line arguments."""

    preprocess: tuple[str, ...]
    search: tuple[str, ...]
    train: tuple[str, ...]
    synth_seconds: float = 0.0


AUTHORS = RecipeSettings(
    preprocess=("--representation", "sbt", "--bins", "5", "--window-ms", "50"),
    search=("--epochs", "10", "--arch-start-epoch", "3", "--batch-size", "1", "--filter-multiplier", "4",
            "--feature-layers", "2", "--matching-layers", "4", "--timesteps", "4", "--crop-height", "200",
            "--crop-width", "280", "--max-disparity", "48"),
    train=("--epochs", "200", "--batch-size", "2", "--lr", "1e-3", "--milestones", "50,100,150",
           "--crop-height", "200", "--crop-width", "280", "--feature-filter-multiplier", "8",
           "--matching-filter-multiplier", "8", "--timesteps", "4", "--max-disparity", "48",
           "--loss", "cross_entropy"),
)
DRY_RUN = RecipeSettings(
    preprocess=("--representation", "sbt", "--bins", "5", "--window-ms", "50", "--workers", "1"),
    search=("--epochs", "2", "--arch-start-epoch", "1", "--batch-size", "1", "--filter-multiplier", "1",
            "--feature-layers", "2", "--matching-layers", "2", "--levels", "2", "--timesteps", "1",
            "--crop-height", "24", "--crop-width", "36", "--max-disparity", "12", "--limit", "2", "--no-progress"),
    train=("--epochs", "1", "--batch-size", "1", "--max-steps-per-epoch", "2", "--crop-height", "24",
           "--crop-width", "36", "--feature-filter-multiplier", "1", "--matching-filter-multiplier", "1",
           "--timesteps", "1", "--max-disparity", "12"),
    synth_seconds=0.3,
)


def split_frames(split: int, available: dict[str, list[int]], *, dry_run: bool) -> dict[str, dict[str, list[int]]]:
    """GT frame indices per subset ("train", "val", "test") and sequence.

    The real split comes from :func:`datasets.splits.mvsec_split`. The dry run keeps its structure
    on short recordings: every frame of the training sequences, and the test sequence's frames
    shuffled with ``random.Random(0)``, the first third validation, the rest test.
    """
    from datasets.splits import _SPLITS, mvsec_split

    if not dry_run:
        s = mvsec_split(split)
        out: dict[str, dict[str, list[int]]] = {}
        for subset in ("train", "val", "test"):
            for seq, k in getattr(s, subset):
                out.setdefault(subset, {}).setdefault(seq, []).append(k)
        return out
    train_sequences, test_sequence = _SPLITS[split]
    frames = list(available[test_sequence])
    random.Random(0).shuffle(frames)
    cut = max(1, len(frames) // 3)
    return {"train": {seq: list(available[seq]) for seq in train_sequences},
            "val": {test_sequence: frames[:cut]}, "test": {test_sequence: frames[cut:]}}


def recordings(mvsec_dir: Path | None, workdir: Path, settings: RecipeSettings, *, dry_run: bool) -> dict[str, Path]:
    """``*_data.hdf5`` per sequence: the user's MVSEC files, or synthetic stand-ins in a dry run."""
    if dry_run:
        folder = workdir / "synthetic_mvsec"
        folder.mkdir(parents=True, exist_ok=True)
        found = {}
        for seq in SEQUENCES:
            data = folder / f"{seq}_data.hdf5"
            if not data.is_file():
                run_stereo("synth", folder / seq, "--seconds", settings.synth_seconds, "--seed", DRY_RUN_SEEDS[seq],
                           "--overwrite")
            found[seq] = data
        return found
    if mvsec_dir is None:
        raise ValueError("--mvsec-dir is required (the folder with indoor_flying{1,2,3}_data.hdf5 and _gt.hdf5), "
                         "or pass --dry-run")
    found = {seq: mvsec_dir / f"{seq}_data.hdf5" for seq in SEQUENCES}
    missing = [str(p) for seq, p in found.items()
               if not p.is_file() or not (mvsec_dir / f"{seq}_gt.hdf5").is_file()]
    if missing:
        raise FileNotFoundError(f"MVSEC files missing (need *_data.hdf5 and *_gt.hdf5): {', '.join(missing)}")
    return found


def run_recipe(split: int, *, workdir: Path, mvsec_dir: Path | None = None, calib: Path | None = None,
               dry_run: bool = False, skip_search: bool = False, device: str = "auto") -> dict:
    """Run (or resume) the whole recipe; returns the evaluation records by name and writes ``results.md``."""
    from datasets.cache import StereoCache
    from stereo.protocol import PUBLISHED_SPLIT1, PUBLISHED_SPLIT3, markdown_table, row_from_summary

    if split not in (1, 3):
        raise ValueError(f"--split must be 1 or 3, got {split}")
    settings = DRY_RUN if dry_run else AUTHORS
    if dry_run:
        import torch

        torch.set_num_threads(1)  # tiny tensors: threads only add synchronisation on a busy CI machine
    workdir.mkdir(parents=True, exist_ok=True)
    data = recordings(mvsec_dir, workdir, settings, dry_run=dry_run)

    caches = {}
    for seq, path in data.items():
        cache = workdir / "caches" / f"{seq}.h5"
        cache.parent.mkdir(parents=True, exist_ok=True)
        if not cache.is_file():
            calib_args = () if dry_run else ("--calib", calib or mvsec_dir)
            run_stereo("preprocess", path, "--gt", str(path).replace("_data.hdf5", "_gt.hdf5"), "--out", cache,
                       *calib_args, *settings.preprocess)
        caches[seq] = cache
    available = {}
    for seq, cache in caches.items():
        with StereoCache(cache) as c:
            available[seq] = [int(k) for k in c.frame_index]
    subsets: dict[str, list[Path]] = {}
    for subset, by_seq in split_frames(split, available, dry_run=dry_run).items():
        for seq, frames in by_seq.items():
            target = workdir / f"split{split}" / f"{subset}_{seq}.h5"
            target.parent.mkdir(parents=True, exist_ok=True)
            if not target.is_file():
                n = write_subset_cache(caches[seq], target, frames)
                print(f"{subset}: {n} frames of {seq} -> {target}", flush=True)
            subsets.setdefault(subset, []).append(target)

    device_args = ("--device", "cpu" if dry_run else device)
    genotype = "spikedhs_mvsec"
    if not skip_search:
        search_dir = workdir / f"split{split}" / "search"
        genotype = str(search_dir / "genotype.json")
        if not Path(genotype).is_file():
            resume = ("--resume",) if (search_dir / "checkpoint.pt").is_file() else ()
            run_stereo("search", "stereo", *subsets["train"], "--val", subsets["val"][0], "--out", search_dir,
                       *settings.search, *device_args, *resume)
    run_dir = workdir / f"split{split}" / "train"
    if not _finished(run_dir, settings):
        resume = ("--resume",) if (run_dir / "last.pt").is_file() else ()
        run_stereo("train", "stereo", *subsets["train"], "--val", subsets["val"][0], "--genotype", genotype,
                   "--out", run_dir, *settings.train, *device_args, *resume)

    results: dict[str, list[dict]] = {}
    rows = []
    for subset in ("test", "val"):
        for gt in ("ddes", "exact"):
            out = workdir / f"split{split}" / f"eval_{subset}_{gt}.json"
            if not out.is_file():
                run_stereo("eval", "stereo", *subsets[subset], "--model", run_dir / "best.pt", "--baseline", "sgbm",
                           "--gt", gt, "--out", out, *device_args)
            results[f"{subset}_{gt}"] = json.loads(out.read_text())
            for record in results[f"{subset}_{gt}"]:
                label = "ours" if record["method"].startswith("spiking") else record["method"]
                rows.append(row_from_summary(f"{label} ({'synthetic dry run, ' if dry_run else ''}{subset}, {gt} GT)",
                                             record["metrics"], energy_mj=record.get("energy_mj_per_frame"),
                                             note=record["gt_mode"]["description"]))
    published = PUBLISHED_SPLIT1 if split == 1 else PUBLISHED_SPLIT3
    table = markdown_table([*rows, *published])
    (workdir / f"split{split}" / "results.md").write_text(f"# MVSEC split {split}\n\n{table}\n")
    print(table)
    return results


def _finished(run_dir: Path, settings: RecipeSettings) -> bool:
    """Whether the training run in ``run_dir`` has a best checkpoint and its last one reached the last epoch."""
    from search.checkpoint import load_checkpoint

    last = run_dir / "last.pt"
    if not (last.is_file() and (run_dir / "best.pt").is_file()):
        return False
    epochs = int(settings.train[settings.train.index("--epochs") + 1])
    return int(load_checkpoint(last, map_location="cpu")["epoch"]) >= epochs


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", type=int, choices=(1, 3), default=1)
    parser.add_argument("--workdir", type=Path, default=None, help="default: runs/mvsec_splitN")
    parser.add_argument("--mvsec-dir", type=Path, default=None,
                        help="folder with indoor_flying{1,2,3}_data.hdf5 / _gt.hdf5 (and the *_map.txt maps)")
    parser.add_argument("--calib", type=Path, default=None, help="rectification maps (default: --mvsec-dir)")
    parser.add_argument("--skip-search", action="store_true", help="retrain the authors' published genotype")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--dry-run", action="store_true", help="the whole recipe on synthetic data, tiny settings")
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(f"runs/mvsec_split{args.split}{'_dry' if args.dry_run else ''}")
    run_recipe(args.split, workdir=workdir, mvsec_dir=args.mvsec_dir, calib=args.calib, dry_run=args.dry_run,
               skip_search=args.skip_search, device=args.device)


if __name__ == "__main__":
    main()
