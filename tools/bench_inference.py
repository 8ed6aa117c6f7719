"""Inference throughput of the spiking stereo network vs the same network as a plain ReLU ANN.

For each network (the default model, the authors' MVSEC genotype at their width) the suite also
builds its ANN peer with :func:`ann_peer`: the same genotype and widths, every neuron replaced by a
ReLU and a single timestep, i.e. plain PyTorch conv/BN/ReLU layers with no time dimension (the
peer keeps random weights: throughput does not depend on them). Both run in this process on the
same device, batch and frame size, on sparse random event tensors (5 % of the voxels +-1: the
dense convolutions cost the same whatever the values).

Reported per network and batch size: windows/s (median of ``repeats`` timed batches after
``warmup``), seconds per batch and the peak memory of one batch above the memory held before it
(CPU: the process's peak resident set, reset through ``/proc/self/clear_refs``; CUDA:
``torch.cuda.max_memory_allocated``).

Reproduce:
    python -m tools.bench_inference --batch 1 --repeats 3
    python -m tools.bench_inference --device cuda --batch 1 8 --amp
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from search.neurons import NeuronConfig
from stereo.network import SpikingStereoNet, StereoNetConfig

MVSEC_HEIGHT, MVSEC_WIDTH = 260, 346
_CLEAR_REFS = Path("/proc/self/clear_refs")
_STATUS = Path("/proc/self/status")


def authors_mvsec_network() -> SpikingStereoNet:
    """The authors' searched MVSEC genotype at their retraining width (filter multiplier 8, T = 4), random weights."""
    from search.named_genotypes import get_genotype

    torch.manual_seed(0)
    return SpikingStereoNet(get_genotype("spikedhs_mvsec"), StereoNetConfig()).eval()


def ann_peer(model: SpikingStereoNet) -> SpikingStereoNet:
    """The same network rebuilt as a plain ANN: every neuron a ReLU, one timestep, random weights.

    The genotype's cells, paths and widths are kept; per-node neuron settings are dropped (they
    only choose neuron kinds), the input is fed once with all bins as channels.

    Args:
        model: a spiking stereo network.

    Returns:
        A :class:`SpikingStereoNet` whose every "neuron" is ``nn.ReLU`` and ``timesteps == 1``, in
        eval mode on the model's device.
    """
    genotype = dataclasses.replace(model.genotype, nodes={})
    config = dataclasses.replace(model.config, timesteps=1, input_mode="repeat", neuron=NeuronConfig(kind="ann"))
    device = next(model.parameters()).device
    torch.manual_seed(0)
    return SpikingStereoNet(genotype, config).to(device).eval()


def event_batch(batch_size: int, channels: int, height: int, width: int, *, seed: int = 0,
                device: str | torch.device = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Sparse random left/right event tensors ``[N, C, H, W]`` float32: 5 % of the voxels are +-1."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(2):
        values = torch.randint(0, 2, (batch_size, channels, height, width), generator=g).float() * 2 - 1
        mask = torch.rand(batch_size, channels, height, width, generator=g) < 0.05
        out.append((values * mask).to(device))
    return out[0], out[1]


def _rss_kb(field: str) -> int | None:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _release_free_heap() -> None:
    """Hand freed heap memory back to the OS (glibc), so a later peak counts the pages it touches anew."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


class PeakMemory:
    """Peak memory of a block above what was held when it started, in MB (None when not measurable).

    CPU: growth of the peak resident set after glibc returned freed heap memory to the OS; memory an
    allocator still caches can be reused without counting, so this is a lower bound of the block's
    working set.

    Example:
        >>> with PeakMemory("cpu") as peak:
        ...     buffer = bytearray(50_000_000)
        >>> peak.megabytes is None or peak.megabytes > 40
        True
    """

    def __init__(self, device: str | torch.device) -> None:
        self.device = torch.device(device)
        self.megabytes: float | None = None
        self._start = 0

    def __enter__(self) -> PeakMemory:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self._start = torch.cuda.memory_allocated(self.device)
            return self
        _release_free_heap()
        try:
            _CLEAR_REFS.write_text("5")  # resets VmHWM (the peak resident set) to the current RSS
            self._start = _rss_kb("VmRSS") or 0
        except OSError:
            self._start = -1
        return self

    def __exit__(self, *exc) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.megabytes = (torch.cuda.max_memory_allocated(self.device) - self._start) / 2**20
        elif self._start >= 0:
            peak = _rss_kb("VmHWM")
            self.megabytes = None if peak is None else max(peak - self._start, 0) / 1024


@dataclass
class Throughput:
    """One timed network.

    Attributes:
        name: network label.
        device: where it ran.
        batch_size: windows per forward pass.
        height, width: frame size in px.
        timesteps: simulation steps T (1 for the ANN peer).
        spiking: whether the neurons spike (False for the ANN peer).
        windows_per_s: ``batch_size / median seconds per batch``.
        seconds_per_batch: median over the timed batches.
        peak_memory_mb: peak memory of one batch above the memory held before it.
        amp: autocast (float16) on CUDA.
    """

    name: str
    device: str
    batch_size: int
    height: int
    width: int
    timesteps: int
    spiking: bool
    windows_per_s: float
    seconds_per_batch: float
    peak_memory_mb: float | None
    amp: bool = False


@torch.no_grad()
def measure_throughput(model: SpikingStereoNet, *, name: str, height: int = MVSEC_HEIGHT,
                       width: int = MVSEC_WIDTH, batch_size: int = 1, repeats: int = 3, warmup: int = 1,
                       device: str | torch.device = "cpu", amp: bool = False) -> Throughput:
    """Time forward passes of ``model`` on batches of sparse event tensors.

    Args:
        model: the network (moved to ``device``, put in eval mode).
        name: label in the report.
        height, width: frame size in px.
        batch_size: windows per forward pass.
        repeats: timed batches (the median counts).
        warmup: untimed batches first (allocator, cuDNN autotuning, lazy init).
        device: torch device.
        amp: run under float16 autocast (CUDA only).

    Returns:
        :class:`Throughput`.
    """
    if repeats < 1 or batch_size < 1 or warmup < 0:
        raise ValueError(f"repeats and batch_size must be >= 1 and warmup >= 0, got {repeats}, {batch_size}, {warmup}")
    device = torch.device(device)
    model = model.to(device).eval()
    left, right = event_batch(batch_size, model.config.in_channels, height, width, device=device)
    use_amp = amp and device.type == "cuda"

    def forward() -> None:
        with torch.autocast("cuda", dtype=torch.float16, enabled=use_amp):
            model(left, right)
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    for _ in range(warmup):
        forward()
    times = []
    with PeakMemory(device) as peak:
        for _ in range(repeats):
            start = time.perf_counter()
            forward()
            times.append(time.perf_counter() - start)
    median = statistics.median(times)
    spiking = model.config.neuron.spiking or any(s.kind != "ann" for s in model.genotype.nodes.values())
    return Throughput(name=name, device=str(device), batch_size=batch_size, height=height, width=width,
                      timesteps=model.config.timesteps, spiking=spiking, windows_per_s=batch_size / median,
                      seconds_per_batch=median, peak_memory_mb=peak.megabytes, amp=use_amp)


def inference_suite(networks: dict[str, SpikingStereoNet], *, height: int = MVSEC_HEIGHT, width: int = MVSEC_WIDTH,
                    batch_sizes: tuple[int, ...] = (1,), repeats: int = 3, warmup: int = 1,
                    devices: tuple[str, ...] = ("cpu",), with_ann_peer: bool = True,
                    progress=None) -> list[Throughput]:
    """Time every network (and its ANN peer) on every device and batch size.

    Args:
        networks: label -> spiking network.
        progress: called with a label before each measurement.

    Returns:
        One :class:`Throughput` per network, peer, device and batch size.
    """
    results = []
    for label, net in networks.items():
        pairs = [(label, net)]
        if with_ann_peer:
            pairs.append((f"{label}: ANN peer (ReLU, T=1)", ann_peer(net)))
        for name, model in pairs:
            for device in devices:
                for batch in batch_sizes:
                    if progress is not None:
                        progress(f"{name} on {device}, batch {batch}")
                    results.append(measure_throughput(model, name=name, height=height, width=width,
                                                      batch_size=batch, repeats=repeats, warmup=warmup,
                                                      device=device))
    return results


def throughput_markdown(results: list[Throughput]) -> str:
    """Markdown table of :class:`Throughput` rows with the spiking / ANN time ratio where a peer follows."""
    lines = ["| network | device | batch | T | windows/s | s/batch | peak memory (MB) |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for r in results:
        mem = "-" if r.peak_memory_mb is None else f"{r.peak_memory_mb:.0f}"
        lines.append(f"| {r.name} | {r.device}{' (AMP)' if r.amp else ''} | {r.batch_size} | {r.timesteps} | "
                     f"{r.windows_per_s:.2f} | {r.seconds_per_batch:.3f} | {mem} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="stereo checkpoint (default: the shipped default model)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, nargs="+", default=[1])
    parser.add_argument("--height", type=int, default=MVSEC_HEIGHT)
    parser.add_argument("--width", type=int, default=MVSEC_WIDTH)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)

    from stereo.train import load_trained_model

    networks = {"authors' MVSEC genotype (fm 8, T 4)": authors_mvsec_network()}
    try:
        if args.model is None:
            from stereo.infer import default_model_path

            args.model = default_model_path()
        networks = {"default model": load_trained_model(args.model)[0], **networks}
    except FileNotFoundError as exc:
        print(f"skipping the default model: {exc}")
    results = inference_suite(networks, height=args.height, width=args.width, batch_sizes=tuple(args.batch),
                              repeats=args.repeats, warmup=args.warmup, devices=(args.device,),
                              progress=lambda label: print(f"timing {label}", flush=True))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.width}x{args.height}")
    print(throughput_markdown(results))
    print("reproduce: python -m tools.bench_inference " + " ".join(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    main()
