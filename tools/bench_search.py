"""Benchmark one search step and one retrain step: spiking network vs the same network as a plain ANN.

Spiking: :class:`ClassifySupernet` (one architecture step + one weight step of the bi-level loop)
and :class:`ClassifyNet` from the authors' CIFAR genotype (one SGD step with the auxiliary head),
both with LIF neurons over T timesteps. Peer: the very same classes and genotype built with
``NeuronConfig(kind="ann")`` (BN + ReLU instead of the LIF neuron) and T = 1, i.e. the plain
PyTorch conv/BN/ReLU network without a time dimension. Both run in this process on the same
device with the same batch; the script prints median step times, the ratio and the command line.

Run:
    python tools/bench_search.py                     # CPU defaults (small)
    python tools/bench_search.py --device cuda --batch-size 64 --filter-multiplier 8 --retrain-filter-multiplier 48
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time(step, *, repeats: int, warmup: int, device: torch.device) -> float:
    for _ in range(warmup):
        step()
    _sync(device)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        step()
        _sync(device)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def search_step_fn(*, neuron, timesteps: int, args, device):
    from search.architect import ArchitectConfig, architecture_step, make_optimizers, weight_step
    from search.backends.classify import ClassifyTask
    from search.backends.classify_net import ClassifySupernet

    torch.manual_seed(0)
    model = ClassifySupernet(num_classes=10, num_layers=args.layers, num_levels=args.levels,
                             filter_multiplier=args.filter_multiplier, timesteps=timesteps, neuron=neuron).to(device)
    size = args.image_size
    task = ClassifyTask(mean=(0.5,) * 3, std=(0.25,) * 3, device=device, image_size=(size, size),
                        budget_mj=1e-6, budget_weight=1.0)
    weight_opt, arch_opt, _ = make_optimizers(model, ArchitectConfig(epochs=1))
    g = torch.Generator().manual_seed(1)
    batch = (torch.randint(0, 256, (args.batch_size, 3, size, size), generator=g, dtype=torch.uint8),
             torch.randint(0, 10, (args.batch_size,), generator=g))
    params = model.weight_parameters()

    def step() -> None:
        architecture_step(model, task, batch, arch_opt)
        weight_step(model, task, batch, weight_opt, grad_clip=5.0, weight_params=params)

    return step


def retrain_step_fn(*, neuron, timesteps: int, args, device):
    from search.backends.classify import ClassifyTask
    from search.backends.classify_net import ClassifyNet
    from search.named_genotypes import get_genotype

    torch.manual_seed(0)
    model = ClassifyNet(get_genotype("spikedhs_cifar"), num_classes=10, timesteps=timesteps, auxiliary=True,
                        filter_multiplier=args.retrain_filter_multiplier, neuron=neuron).to(device)
    size = args.image_size
    task = ClassifyTask(mean=(0.5,) * 3, std=(0.25,) * 3, device=device, image_size=(size, size), cutout_px=16,
                        auxiliary_weight=0.4)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.025, momentum=0.9, weight_decay=3e-4)
    g = torch.Generator().manual_seed(2)
    batch = (torch.randint(0, 256, (args.batch_size, 3, size, size), generator=g, dtype=torch.uint8),
             torch.randint(0, 10, (args.batch_size,), generator=g))

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        loss, _ = task.task_loss(model, batch, train=True)
        loss.backward()
        optimizer.step()

    return step


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--timesteps", type=int, default=6)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--levels", type=int, default=3)
    parser.add_argument("--filter-multiplier", type=int, default=4)
    parser.add_argument("--retrain-filter-multiplier", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    args = parser.parse_args(argv)
    from search.neurons import NeuronConfig

    device = torch.device(args.device)
    spiking, plain = NeuronConfig(), NeuronConfig(kind="ann")
    print(f"device {device}, torch {torch.__version__}, threads {torch.get_num_threads()}, batch {args.batch_size}, "
          f"{args.image_size}x{args.image_size}, spiking T={args.timesteps} vs plain ReLU T=1")
    rows = []
    for name, make in (("search step (arch + weights)", search_step_fn), ("retrain step", retrain_step_fn)):
        t_spike = _time(make(neuron=spiking, timesteps=args.timesteps, args=args, device=device),
                        repeats=args.repeats, warmup=args.warmup, device=device)
        t_plain = _time(make(neuron=plain, timesteps=1, args=args, device=device),
                        repeats=args.repeats, warmup=args.warmup, device=device)
        rows.append((name, t_spike, t_plain))
    print(f"{'step':<30} {'spiking (s)':>12} {'plain ANN (s)':>14} {'ratio':>7}")
    for name, t_spike, t_plain in rows:
        print(f"{name:<30} {t_spike:>12.4f} {t_plain:>14.4f} {t_spike / t_plain:>7.2f}")
    print("reproduce: python tools/bench_search.py " + " ".join(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    main()
