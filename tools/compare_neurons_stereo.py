"""Spikes or size? One stereo checkpoint fine-tuned as spiking, hybrid and ANN; the ANN also from scratch.

Every variant trains with the same data, seed, crops and steps and is validated after every epoch
(``stereo.train.train_stereo``); the table compares validation 1PA by epoch:

- ``spiking``: the checkpoint as it is;
- ``hybrid``: every node of the matching cells a ReLU (genotype node kind ``"ann"``), weights kept;
- ``hybrid_feature``: the same for the feature cells (whose compute is small beside the matching net's);
- ``ann``: every neuron a ReLU and one timestep (the "ANN peer" of ``stereo bench``), weights kept;
- ``ann_scratch``: that ANN from random weights, on ``--scratch-train`` with ``--scratch-lr``.

If the ANN does no better than the spiking net under equal training, the spikes are not what limits
accuracy; if no variant gets close to a target, the network's size (or the training) does.

Reproduce the README table (about 80 CPU-minutes in all; variants can run side by side, one per
process, with ``--variants`` and the same ``--workdir``):

    python -m tools.compare_neurons_stereo --workdir runs/neurons \\
        --train data/seed1{01..06}.h5 data/seed1{08..19}.h5 --scratch-train data/seed1{01..06}.h5 \\
        --val data/seed107.h5
"""

from __future__ import annotations

import argparse
import copy
import csv
import json
import sys
from pathlib import Path

# variant -> the nets whose cell nodes become ReLUs ("ann*" also turn every other neuron into one)
RELU_NETS = {"spiking": (), "hybrid": ("matching",), "hybrid_feature": ("feature",),
             "ann": ("feature", "matching"), "ann_scratch": ("feature", "matching")}
VARIANTS = tuple(RELU_NETS)


def neuron_variant(payload: dict, variant: str) -> dict:
    """A copy of a stereo checkpoint payload with its neurons changed as ``variant`` says (weights kept).

    Args:
        payload: what :func:`search.checkpoint.load_checkpoint` returns for a ``stereo train stereo`` checkpoint.
        variant: one of :data:`VARIANTS` (``ann_scratch`` converts like ``ann``).

    Returns:
        The new payload; the input is not modified.
    """
    from search.genotype import NUM_NODES, Genotype, NodeSetting, node_key

    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; known: {', '.join(VARIANTS)}")
    out = copy.deepcopy(payload)
    genotype = Genotype.from_dict(out["genotype"])
    relu = {node_key(net, i, j): NodeSetting(kind="ann")
            for net in RELU_NETS[variant] for i in range(len(genotype.paths[net])) for j in range(NUM_NODES)}
    if relu:
        out["genotype"] = genotype.with_nodes(relu).to_dict()
    if variant.startswith("ann"):
        network = out["extra"]["network"]
        network["neuron"] = {**network["neuron"], "kind": "ann"}
        network["timesteps"] = 1  # a ReLU network gives the same output at every step
    return out


def write_variant(checkpoint: str | Path, variant: str, out: Path) -> Path:
    """Write ``neuron_variant`` of ``checkpoint`` to ``out`` (atomically) and check that it loads."""
    import torch

    from datasets.atomic import atomic_output
    from search.checkpoint import load_checkpoint
    from stereo.train import load_trained_model

    payload = neuron_variant(load_checkpoint(checkpoint), variant)
    with atomic_output(out) as tmp:
        torch.save(payload, tmp)
    load_trained_model(out)
    return out


def validation_curve(run_dir: Path) -> list[float]:
    """Validation 1PA (%) after each epoch, from the run's ``log.csv``."""
    with open(run_dir / "log.csv", newline="") as f:
        return [float(row["val/one_pixel_accuracy"]) for row in csv.DictReader(f)]


def markdown_table(curves: dict[str, list[float]]) -> str:
    """One row per variant, one column per epoch ("-" where a variant ran fewer epochs)."""
    epochs = max((len(c) for c in curves.values()), default=0)
    lines = ["| variant |" + "".join(f" epoch {e + 1} |" for e in range(epochs)),
             "|---|" + "---:|" * epochs]
    for name, curve in curves.items():
        cells = [f"{v:.1f}" for v in curve] + ["-"] * (epochs - len(curve))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run_variant(variant: str, args: argparse.Namespace) -> Path:
    """Train one variant into ``WORKDIR/<variant>`` (resuming a killed run) and return that folder."""
    from datasets.atomic import atomic_output
    from search.checkpoint import load_checkpoint
    from stereo.network import StereoNetConfig
    from stereo.train import StereoTrainConfig, train_stereo

    run_dir = args.workdir / variant
    start = write_variant(args.checkpoint, variant, args.workdir / f"{variant}_start.pt")
    payload = load_checkpoint(start)
    common = dict(val=tuple(map(str, args.val)), out=str(run_dir), epochs=args.epochs, batch_size=args.batch_size,
                  milestones=(10 ** 6,), crop_height=args.crop_height, crop_width=args.crop_width, seed=args.seed,
                  device=args.device, max_steps_per_epoch=args.steps_per_epoch,
                  network=StereoNetConfig.from_dict(payload["extra"]["network"]))
    if variant == "ann_scratch":
        genotype = args.workdir / "ann_scratch_genotype.json"
        with atomic_output(genotype) as tmp:
            tmp.write_text(json.dumps(payload["genotype"]))
        config = StereoTrainConfig(train=tuple(map(str, args.scratch_train or args.train)), genotype=str(genotype),
                                   lr=args.scratch_lr, **common)
    else:
        config = StereoTrainConfig(train=tuple(map(str, args.train)), init_from=str(start), lr=args.lr, **common)
    train_stereo(config, resume=(run_dir / "last.pt").exists())
    return run_dir


def main(argv: list[str] | None = None) -> dict[str, list[float]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--train", type=Path, nargs="+", required=True, help="training caches (fine-tuning)")
    parser.add_argument("--val", type=Path, nargs="+", required=True, help="validation caches")
    parser.add_argument("--scratch-train", type=Path, nargs="+", default=None,
                        help="training caches of ann_scratch (default: --train)")
    parser.add_argument("--checkpoint", default=None, help="stereo checkpoint (default: the shipped model)")
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=list(VARIANTS))
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--steps-per-epoch", type=int, default=150)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate of the fine-tuning variants")
    parser.add_argument("--scratch-lr", type=float, default=5e-3, help="Adam learning rate of ann_scratch")
    parser.add_argument("--crop-height", type=int, default=112)
    parser.add_argument("--crop-width", type=int, default=224)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    try:
        from stereo.infer import default_model_path

        args.checkpoint = args.checkpoint or str(default_model_path())
        args.workdir.mkdir(parents=True, exist_ok=True)
        curves = {}
        for variant in args.variants:
            curves[variant] = validation_curve(run_variant(variant, args))
            print(f"{variant}: validation 1PA by epoch {curves[variant]}", flush=True)
    except (ValueError, FileNotFoundError, PermissionError) as exc:
        sys.exit(f"error: {exc}")
    from datasets.atomic import atomic_output

    table = markdown_table(curves)
    with atomic_output(args.workdir / f"summary_{'_'.join(args.variants)}.md") as tmp:
        tmp.write_text(table + "\n")
    print(table)
    return curves


if __name__ == "__main__":
    main()
