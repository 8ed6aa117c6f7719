"""Training-step cost of the stereo network, and of its cost volume against slice assignment.

Three measurements in one process, on sparse random spikes (the dense convolutions cost the same
whatever the values):

1. the concatenation cost volume, forward and backward: :func:`stereo.cost_volume.concat_cost_volume`
   (zero-padded right view, shifted views stacked) against the plain PyTorch way of writing it,
   slice assignment into a zero volume (:func:`slice_assignment_volume`, what this project used
   until 2026-12-07), whose backward copies the whole volume's gradient once per assignment;
2. one training step (forward, sub-pixel cross-entropy, backward, Adam) of the network at the
   default model's shape (feature filter multiplier 4, matching 2, T = 2, 48 px) on crops, with
   either cost volume (``--cost-volume``);
3. the same step with the forward pass under bfloat16 autocast (``stereo train stereo --cpu-bf16``)
   against float32, with the coincidence volume and aligned upsampling of issue 5's recipe.

Each figure is the median of ``--repeats`` timed calls after one warm-up call.

Reproduce:
    python -m tools.bench_train_step
    python -m tools.bench_train_step --crop 260 346 --threads 1
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from collections.abc import Callable
from unittest import mock

import torch

from search.named_genotypes import get_genotype
from stereo import network as network_module
from stereo.cost_volume import COST_VOLUMES, CostVolume, concat_cost_volume
from stereo.disparity import subpixel_cross_entropy_loss
from stereo.network import SpikingStereoNet, StereoNetConfig


def slice_assignment_volume(left: torch.Tensor, right: torch.Tensor, *, num_disparities: int) -> torch.Tensor:
    """The concatenation volume written with slice assignments into a zero volume (the peer)."""
    *lead, channels, height, width = left.shape
    volume = left.new_zeros(*lead, 2 * channels, num_disparities, height, width)
    for d in range(min(num_disparities, width)):
        volume[..., :channels, d, :, d:] = left[..., d:]
        volume[..., channels:, d, :, d:] = right[..., : width - d]
    return volume


def _median_seconds(fn: Callable[[], None], repeats: int) -> float:
    fn()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def time_volume(build: Callable[..., torch.Tensor], shape: tuple[int, ...], num_disparities: int,
                repeats: int) -> float:
    """Seconds for one forward + backward of ``build`` on spikes of ``shape`` ``[T, N, C, h, w]``."""
    g = torch.Generator().manual_seed(0)
    left = (torch.rand(shape, generator=g) > 0.8).float().requires_grad_()
    right = (torch.rand(shape, generator=g) > 0.8).float().requires_grad_()

    def run() -> None:
        left.grad = right.grad = None
        volume = build(left, right, num_disparities=num_disparities)
        volume.backward(torch.ones_like(volume))

    return _median_seconds(run, repeats)


def time_step(config: StereoNetConfig, crop: tuple[int, int], batch: int, repeats: int,
              build: Callable[..., torch.Tensor] | None = None, bf16: bool = False) -> float:
    """Seconds per training step of the network; ``build`` replaces the concatenation volume if given.

    Args:
        bf16: the forward pass under CPU bfloat16 autocast, as ``StereoTrainConfig.cpu_bf16``.
    """
    torch.manual_seed(0)
    net = SpikingStereoNet(get_genotype("spikedhs_mvsec"), config)
    optimiser = torch.optim.Adam(net.parameters(), 1e-3)
    g = torch.Generator().manual_seed(0)
    events = [((torch.rand(batch, config.in_channels, *crop, generator=g) < 0.05).float()
               * torch.randn(batch, config.in_channels, *crop, generator=g)) for _ in range(2)]
    gt = torch.rand(batch, 1, *crop, generator=g) * (config.max_disparity - 1)

    def run() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = net(*events)
        loss, _ = subpixel_cross_entropy_loss(out.log_probability.float(), gt, max_disparity=config.max_disparity)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()

    if build is None:
        return _median_seconds(run, repeats)
    with mock.patch.dict(network_module.COST_VOLUMES, {"concat": CostVolume(build, 2)}):
        return _median_seconds(run, repeats)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--crop", type=int, nargs=2, default=(112, 224), metavar=("H", "W"),
                        help="training crop in px (default: the default model's recipe)")
    parser.add_argument("--batch", type=int, default=2)
    parser.add_argument("--max-disparity", type=int, default=48)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = parser.parse_args(argv)
    if min(args.batch, args.repeats, *args.crop) < 1:
        parser.error("--batch, --repeats and --crop must be >= 1")
    if args.threads is not None:
        if args.threads < 1:
            parser.error("--threads must be >= 1")
        torch.set_num_threads(args.threads)
    if args.max_disparity < 3 or args.max_disparity % 3:
        parser.error("--max-disparity must be a positive multiple of 3")
    config = StereoNetConfig(in_channels=5, max_disparity=args.max_disparity, timesteps=2,
                             feature_filter_multiplier=4, matching_filter_multiplier=2)
    h, w = (-(-s // 3) for s in args.crop)
    shape = (config.timesteps, args.batch, 3 * config.feature_filter_multiplier, h, w)
    d = args.max_disparity // 3
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, crop {args.crop[0]}x{args.crop[1]}, "
          f"batch {args.batch}, median of {args.repeats}")
    ours = time_volume(concat_cost_volume, shape, d, args.repeats)
    peer = time_volume(slice_assignment_volume, shape, d, args.repeats)
    print(f"cost volume {list(shape)} x {d} disparities, forward + backward: ours {ours * 1e3:.1f} ms, "
          f"slice assignment {peer * 1e3:.1f} ms, {peer / ours:.1f}x")
    step_peer = time_step(config, tuple(args.crop), args.batch, args.repeats, build=slice_assignment_volume)
    print(f"training step, slice-assignment volume: {step_peer:.3f} s")
    for name in COST_VOLUMES:
        step = time_step(dataclasses.replace(config, cost_volume=name), tuple(args.crop), args.batch, args.repeats)
        print(f"training step, --cost-volume {name}: {step:.3f} s ({step_peer / step:.2f}x the slice-assignment step)")
    recipe = dataclasses.replace(config, cost_volume="coincidence", cost_upsampling="aligned")
    fp32 = time_step(recipe, tuple(args.crop), args.batch, args.repeats)
    bf16 = time_step(recipe, tuple(args.crop), args.batch, args.repeats, bf16=True)
    print(f"training step, coincidence + aligned: float32 {fp32:.3f} s, --cpu-bf16 {bf16:.3f} s ({fp32 / bf16:.2f}x)")
    print("reproduce: python -m tools.bench_train_step " + " ".join(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    main()
