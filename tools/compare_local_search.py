"""Compare plain training, DGS, PLIF and TPS on the same tiny classification task and seeds.

Retrains one genotype four ways with ``search.backends.classify.train_classify`` on a generated
shapes dataset (``datasets.classify.write_shapes_dataset``), then evaluates each checkpoint
(top-1 on the held-out split, energy per sample from ``search.cost.energy_report``):

- plain: LIF nodes, decay 0.2, b from the operations;
- dgs: the same with ``--dgs`` (rounds every ``--local-every`` epochs);
- plif: every node a spikingjelly ParametricLIFNode (tau learned by gradient), the TPS baseline;
- tps: the same as plain with ``--tps``.

Run:
    .venv/bin/python tools/compare_local_search.py --out /tmp/compare_local
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

# variant -> (genotype file, train switches)
VARIANTS = {"plain": ("plain", {}), "dgs": ("plain", {"dgs": True}), "plif": ("plif", {}),
            "tps": ("plain", {"tps": True})}


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--image-size", type=int, default=16)
    parser.add_argument("--per-class", type=int, default=60)
    parser.add_argument("--local-every", type=int, default=2)
    parser.add_argument("--local-batches", type=int, default=6)
    parser.add_argument("--lr", type=float, default=0.025, help="SGD learning rate of every variant")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS),
                        help="which variants to train (default: all four)")
    args = parser.parse_args(argv)

    from datasets.classify import write_shapes_dataset
    from search.backends.classify import evaluate_classify, train_classify
    from search.backends.classify_config import EvalClassifyConfig, TrainClassifyConfig
    from search.genotype import Genotype, NodeSetting, node_key

    data = write_shapes_dataset(args.out / "shapes", num_classes=3, train_per_class=args.per_class,
                                val_per_class=args.per_class // 2, image_size=args.image_size, seed=0)
    base = Genotype(cells={"classify": ((1, 1), (0, 1), (3, 2), (2, 1), (7, 1), (8, 1))},
                    paths={"classify": (0, 1)})
    plif = base.with_nodes({node_key("classify"): NodeSetting(kind="plif"),
                            **{node_key("classify", i, j): NodeSetting(kind="plif") for i in range(2)
                               for j in range(3)}})
    genotypes = {"plain": base, "plif": plif}
    for name, genotype in genotypes.items():
        genotype.save_json(args.out / f"{name}.json")
    variants = {name: VARIANTS[name] for name in args.variants}
    results = []
    for seed in args.seeds:
        for variant, (geno, switches) in variants.items():
            out = args.out / f"{variant}_seed{seed}"
            config = TrainClassifyConfig(
                genotype=str(args.out / f"{geno}.json"), dataset="folder", data_root=str(data),
                image_size=args.image_size, filter_multiplier=4, timesteps=4, epochs=args.epochs, batch_size=8,
                lr=args.lr, cutout=False, auxiliary=False, seed=seed, device="cpu", out=str(out), progress=False,
                local_every=args.local_every, local_batches=args.local_batches, **switches)
            train_classify(config)
            metrics = evaluate_classify(EvalClassifyConfig(checkpoint=str(out / "checkpoint.pt"), device="cpu",
                                                           progress=False, energy_samples=32))
            row = {"variant": variant, "seed": seed, "top1": metrics["top1"],
                   "energy_mj": metrics["energy_mj_per_sample"], "mean_firing_rate": metrics["mean_firing_rate"]}
            results.append(row)
            print(json.dumps(row))
    (args.out / "comparison.json").write_text(json.dumps(results, indent=2) + "\n")
    print("| variant | seeds | mean top-1 (%) | mean energy (mJ/sample) |")
    print("|---|---|---:|---:|")
    for variant in variants:
        rows = [r for r in results if r["variant"] == variant]
        top1 = sum(r["top1"] for r in rows) / len(rows)
        energy = sum(r["energy_mj"] for r in rows) / len(rows)
        print(f"| {variant} | {len(rows)} | {top1:.2f} | {energy:.3e} |")
    return results


if __name__ == "__main__":
    main()
