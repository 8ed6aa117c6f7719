"""``stereo search stereo``: SpikeDHS search of the spiking feature and matching nets.

Each option has the name and help text of a field of
:class:`search.backends.stereo_config.StereoSearchConfig`; the command builds the config, calls
:func:`search.backends.stereo.search_stereo` and prints a summary.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from search.backends.stereo_config import StereoSearchConfig, default_of, help_of


def _opt(name: str, *flags: str) -> Any:
    return typer.Option(default_of(name), *flags, help=help_of(name))


def search_stereo(
    train: list[Path] = typer.Argument(..., help=help_of("train"), show_default=False),
    val: list[Path] = typer.Option([], "--val", help=help_of("val") + " Repeat for several caches.",
                                   show_default=False),
    out: str = _opt("out"),
    epochs: int = _opt("epochs"),
    arch_start_epoch: int = _opt("arch_start_epoch"),
    batch_size: int = _opt("batch_size"),
    crop_height: int = _opt("crop_height"),
    crop_width: int = _opt("crop_width"),
    max_disparity: int = _opt("max_disparity"),
    timesteps: int = _opt("timesteps"),
    feature_layers: int = _opt("feature_layers"),
    matching_layers: int = _opt("matching_layers"),
    levels: int = _opt("levels"),
    filter_multiplier: int = _opt("filter_multiplier"),
    loss: str = _opt("loss"),
    lr: float = _opt("lr"),
    lr_min: float = _opt("lr_min"),
    momentum: float = _opt("momentum"),
    weight_decay: float = _opt("weight_decay"),
    grad_clip: float = _opt("grad_clip"),
    arch_lr: float = _opt("arch_lr"),
    arch_weight_decay: float = _opt("arch_weight_decay"),
    budget_mj: float | None = _opt("budget_mj"),
    budget_weight: float = _opt("budget_weight"),
    limit: int = _opt("limit"),
    seed: int = _opt("seed"),
    device: str = _opt("device"),
    num_workers: int = _opt("num_workers"),
    dgs: bool = _opt("dgs", "--dgs/--no-dgs"),
    dgs_deltas: str = _opt("dgs_deltas"),
    dgs_sites_per_batch: int = _opt("dgs_sites_per_batch"),
    tps: bool = _opt("tps", "--tps/--no-tps"),
    tps_decays: str = _opt("tps_decays"),
    tps_kinds: str = _opt("tps_kinds"),
    hns: bool = _opt("hns", "--hns/--no-hns"),
    hns_budget_mj: float | None = _opt("hns_budget_mj"),
    hns_budget_weight: float = _opt("hns_budget_weight"),
    local_every: int = _opt("local_every"),
    local_batches: int = _opt("local_batches"),
    local_lr: float = _opt("local_lr"),
    resume: bool = _opt("resume", "--resume/--no-resume"),
    progress: bool = _opt("progress", "--progress/--no-progress"),
) -> None:
    """Search the spiking stereo network (feature and matching cells and paths) on preprocessed caches.

    Writes OUT/genotype.json (and OUT/genotypes/epoch_NNN.json, log.csv, validation/log.csv,
    checkpoint.pt); retrain the result with `stereo train stereo`.

    Examples:

        stereo search stereo flying2.h5 flying3.h5 --val flying1_val.h5 --out runs/search1

        stereo search stereo synth.h5 --epochs 3 --arch-start-epoch 1 --crop-height 48 --crop-width 48
        --max-disparity 24 --timesteps 2 --filter-multiplier 2 --limit 8 --out runs/tiny

        stereo search stereo flying2.h5 --budget-mj 5 --budget-weight 2 --out runs/budget5

        stereo search stereo flying2.h5 --out runs/search1 --resume

        stereo search stereo flying2.h5 --dgs --tps --hns --local-every 5 --local-batches 200 --out runs/local
    """
    from search.backends.stereo import search_stereo as run

    options = dict(locals())
    del options["run"]
    options["train"] = tuple(str(p) for p in train)
    options["val"] = tuple(str(p) for p in val)
    config = StereoSearchConfig(**options)
    result = run(config)
    genotype = result.genotype
    for name in ("feature", "matching"):
        typer.echo(f"{name}: cell {[list(p) for p in genotype.cell(name)]} path {list(genotype.path(name))}")
    typer.echo(f"expected energy of the genotype: {result.decoded_mj:.4g} mJ per frame")
    if result.validation and len(result.validation[-1]) > 1:
        last = result.validation[-1]
        typer.echo(f"validation (supernet): 1PA {last['val/one_pixel_accuracy']:.2f}%  mean disparity error "
                   f"{last['val/mean_disparity_error']:.3f} px")
    typer.echo(f"wrote {Path(config.out) / 'genotype.json'}")
