"""``stereo search classify``, ``stereo train classify``, ``stereo eval classify``.

Each option has the name and help text of a field of the command's config
(``search.backends.classify_config``); the command builds the config, calls one library
function and prints a summary.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from search.backends.classify_config import (
    EvalClassifyConfig as E,
)
from search.backends.classify_config import (
    SearchClassifyConfig as S,
)
from search.backends.classify_config import (
    TrainClassifyConfig as T,
)
from search.backends.classify_config import (
    default_of,
    help_of,
)


def _opt(config_type: type, name: str, *flags: str) -> Any:
    return typer.Option(default_of(config_type, name), *flags, help=help_of(config_type, name))


def search_classify(
    dataset: str = _opt(S, "dataset"),
    data_root: str = _opt(S, "data_root"),
    image_size: int = _opt(S, "image_size"),
    limit: int = _opt(S, "limit"),
    download: bool = _opt(S, "download", "--download/--no-download"),
    num_workers: int = _opt(S, "num_workers"),
    layers: int = _opt(S, "layers"),
    levels: int = _opt(S, "levels"),
    filter_multiplier: int = _opt(S, "filter_multiplier"),
    timesteps: int = _opt(S, "timesteps"),
    epochs: int = _opt(S, "epochs"),
    warmup_epochs: int = _opt(S, "warmup_epochs"),
    batch_size: int = _opt(S, "batch_size"),
    lr: float = _opt(S, "lr"),
    lr_min: float = _opt(S, "lr_min"),
    momentum: float = _opt(S, "momentum"),
    weight_decay: float = _opt(S, "weight_decay"),
    grad_clip: float = _opt(S, "grad_clip"),
    arch_lr: float = _opt(S, "arch_lr"),
    arch_weight_decay: float = _opt(S, "arch_weight_decay"),
    budget_mj: float | None = _opt(S, "budget_mj"),
    budget_weight: float = _opt(S, "budget_weight"),
    dgs: bool = _opt(S, "dgs", "--dgs/--no-dgs"),
    dgs_deltas: str = _opt(S, "dgs_deltas"),
    dgs_sites_per_batch: int = _opt(S, "dgs_sites_per_batch"),
    tps: bool = _opt(S, "tps", "--tps/--no-tps"),
    tps_decays: str = _opt(S, "tps_decays"),
    tps_kinds: str = _opt(S, "tps_kinds"),
    hns: bool = _opt(S, "hns", "--hns/--no-hns"),
    hns_budget_mj: float | None = _opt(S, "hns_budget_mj"),
    hns_budget_weight: float = _opt(S, "hns_budget_weight"),
    local_every: int = _opt(S, "local_every"),
    local_batches: int = _opt(S, "local_batches"),
    local_lr: float = _opt(S, "local_lr"),
    seed: int = _opt(S, "seed"),
    device: str = _opt(S, "device"),
    out: str = _opt(S, "out"),
    resume: bool = _opt(S, "resume", "--resume/--no-resume"),
    progress: bool = _opt(S, "progress", "--progress/--no-progress"),
) -> None:
    """Search a spiking classification network (SpikeDHS) and write its genotype.

    Writes OUT/genotype.json, OUT/genotypes/epoch_NNN.json, OUT/log.csv and OUT/checkpoint.pt.

    Examples:

        stereo search classify --dataset cifar10 --data-root ~/data --out runs/s1

        stereo search classify --dataset folder --data-root shapes --image-size 16 --layers 3 --levels 3

        stereo search classify --out runs/s1 --resume

        stereo search classify --dgs --tps --hns --hns-budget-mj 0.5 --local-every 2 --out runs/s2
    """
    from search.backends.classify import search_classify as run

    options = dict(locals())
    del options["run"]
    config = S(**options)
    result = run(config)
    typer.echo(f"genotype: {result.genotype.cell('classify')} path {list(result.genotype.path('classify'))}")
    typer.echo(f"wrote {Path(config.out) / 'genotype.json'}")


def train_classify(
    genotype: str = typer.Argument(..., help=help_of(T, "genotype")),
    dataset: str = _opt(T, "dataset"),
    data_root: str = _opt(T, "data_root"),
    image_size: int = _opt(T, "image_size"),
    limit: int = _opt(T, "limit"),
    download: bool = _opt(T, "download", "--download/--no-download"),
    num_workers: int = _opt(T, "num_workers"),
    filter_multiplier: int = _opt(T, "filter_multiplier"),
    timesteps: int = _opt(T, "timesteps"),
    epochs: int = _opt(T, "epochs"),
    batch_size: int = _opt(T, "batch_size"),
    lr: float = _opt(T, "lr"),
    momentum: float = _opt(T, "momentum"),
    weight_decay: float = _opt(T, "weight_decay"),
    grad_clip: float = _opt(T, "grad_clip"),
    cutout: bool = _opt(T, "cutout", "--cutout/--no-cutout"),
    cutout_px: int = _opt(T, "cutout_px"),
    auxiliary: bool = _opt(T, "auxiliary", "--auxiliary/--no-auxiliary"),
    auxiliary_weight: float = _opt(T, "auxiliary_weight"),
    dgs: bool = _opt(T, "dgs", "--dgs/--no-dgs"),
    dgs_deltas: str = _opt(T, "dgs_deltas"),
    dgs_sites_per_batch: int = _opt(T, "dgs_sites_per_batch"),
    tps: bool = _opt(T, "tps", "--tps/--no-tps"),
    tps_decays: str = _opt(T, "tps_decays"),
    tps_kinds: str = _opt(T, "tps_kinds"),
    hns: bool = _opt(T, "hns", "--hns/--no-hns"),
    hns_budget_mj: float | None = _opt(T, "hns_budget_mj"),
    hns_budget_weight: float = _opt(T, "hns_budget_weight"),
    local_every: int = _opt(T, "local_every"),
    local_batches: int = _opt(T, "local_batches"),
    local_lr: float = _opt(T, "local_lr"),
    seed: int = _opt(T, "seed"),
    device: str = _opt(T, "device"),
    out: str = _opt(T, "out"),
    resume: bool = _opt(T, "resume", "--resume/--no-resume"),
    progress: bool = _opt(T, "progress", "--progress/--no-progress"),
) -> None:
    """Retrain a searched genotype from scratch on a classification set.

    Writes OUT/checkpoint.pt (each epoch, resumable), OUT/best.pt and OUT/log.csv.

    Checkpoints store model config, genotype and data config: `stereo eval classify` needs only the path.

    Examples:

        stereo train classify runs/s1/genotype.json --dataset cifar10 --data-root ~/data

        stereo train classify spikedhs_cifar --epochs 600 --out runs/t1

        stereo train classify runs/tiny/genotype.json --dataset folder --data-root shapes --epochs 4

        stereo train classify spikedhs_cifar --dgs --tps --local-every 5 --local-batches 200
    """
    from search.backends.classify import train_classify as run

    options = dict(locals())
    del options["run"]
    config = T(**options)
    result = run(config)
    typer.echo(f"top-1 {result['top1']:.2f}%  top-5 {result['top5']:.2f}%  (test, last epoch)")
    typer.echo(f"wrote {Path(config.out) / 'checkpoint.pt'}")


def eval_classify(
    checkpoint: str = typer.Argument(..., help=help_of(E, "checkpoint")),
    data_root: str = _opt(E, "data_root"),
    limit: int = _opt(E, "limit"),
    batch_size: int = _opt(E, "batch_size"),
    energy_samples: int = _opt(E, "energy_samples"),
    device: str = _opt(E, "device"),
    metrics: str = _opt(E, "metrics"),
    progress: bool = _opt(E, "progress", "--progress/--no-progress"),
) -> None:
    """Evaluate a trained classification checkpoint: top-1/top-5 and energy per sample.

    Examples:

        stereo eval classify runs/t1/best.pt

        stereo eval classify runs/t1/best.pt --data-root ~/data --metrics runs/t1/test.json
    """
    from search.backends.classify import evaluate_classify as run

    options = dict(locals())
    del options["run"]
    config = E(**options)
    result = run(config)
    typer.echo(result["report_text"])
    typer.echo(f"top-1 {result['top1']:.2f}%  top-5 {result['top5']:.2f}%  "
               f"energy {result['energy_mj_per_sample']:.4g} mJ/sample  ({result['num_images']} images)")
    typer.echo(f"wrote {result['metrics_path']}")
