"""Benchmark ``stereo infer``: peak memory on a long vs a short recording, and windows/s at 260 x 346.

Streaming claim: the peak resident memory of ``stereo infer`` on a 60 s recording stays within
1.5x of that on a 5 s one. Both are measured with ``/usr/bin/time -v`` around the real command.

Recordings: ``stereo synth`` needs about 15 CPU-minutes for 60 s, so the script synthesises one
short scene (``--base-seconds``, default 1 s) and writes the long recordings by repeating its
events back to back in time (MVSEC layout, rectified, no GT), chunk by chunk. ``--scale`` divides
the event coordinates (default 4: 87 x 65 frames) so that the network, whose cost per window
does not depend on the recording length, does not dominate the run time; the event rate (what
streaming has to bound) is that of the full-size scene. Throughput is measured separately on the
full-size synthetic scene with the tiny model and, when it is shipped, the default model.

Reproduce:
    .venv/bin/python tools/bench_infer_memory.py --short 5 --long 60
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

FB = 19.941772


def tiny_checkpoint(path: Path) -> Path:
    """An untrained tiny stereo network saved as `stereo train stereo` saves one (speed only)."""
    import torch

    from search.checkpoint import save_checkpoint
    from search.named_genotypes import get_genotype
    from stereo.network import SpikingStereoNet, StereoNetConfig

    torch.manual_seed(0)
    cfg = StereoNetConfig(in_channels=5, max_disparity=12, timesteps=2, feature_filter_multiplier=2,
                          matching_filter_multiplier=2)
    genotype = get_genotype("spikedhs_mvsec")
    data = {"representation": "voxel", "num_bins": 5, "window_ms": 50.0, "height": 260, "width": 346,
            "focal_baseline": FB}
    save_checkpoint(path, model=SpikingStereoNet(genotype, cfg), epoch=1, config={}, genotype=genotype.to_dict(),
                    kind="train-stereo", extra={"network": cfg.to_dict(), "data": data})
    return path


def repeat_recording(base: Path, out: Path, *, seconds: float, scale: int) -> Path:
    """Write an MVSEC-layout file of ``seconds`` by repeating ``base``'s events, coordinates // scale."""
    import h5py

    with h5py.File(base, "r") as src, h5py.File(out, "w") as dst:
        dst.attrs["rectified"] = True
        dst.attrs["focal_baseline"] = FB
        for cam in ("left", "right"):
            rows = np.asarray(src[f"davis/{cam}/events"][:], dtype=np.float64)
            rows[:, :2] //= scale
            t0 = rows[0, 2]
            period = rows[-1, 2] - t0 + 1e-6
            repeats = int(np.ceil(seconds / period))
            ds = dst.create_dataset(f"davis/{cam}/events", (0, 4), np.float64, maxshape=(None, 4),
                                    chunks=(32768, 4), compression="lzf")
            for k in range(repeats):
                block = rows.copy()
                block[:, 2] += k * period
                block = block[block[:, 2] <= t0 + seconds]
                ds.resize(ds.shape[0] + len(block), axis=0)
                ds[-len(block):] = block
    return out


def run_infer(args: list[str]) -> tuple[float, str]:
    """Run ``stereo infer`` under ``/usr/bin/time -v``; returns (peak RSS in MiB, summary line)."""
    stereo = Path(sys.executable).with_name("stereo")
    proc = subprocess.run(["/usr/bin/time", "-v", str(stereo), "infer", *args], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"stereo infer failed:\n{proc.stderr[-2000:]}")
    peak_kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr).group(1))
    return peak_kb / 1024.0, proc.stdout.strip().splitlines()[-1]


def windows_per_second(summary: str) -> float:
    return float(re.search(r"\(([\d.]+) windows/s\)", summary).group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--short", type=float, default=5.0, help="seconds of the short recording")
    parser.add_argument("--long", type=float, default=60.0, help="seconds of the long recording")
    parser.add_argument("--base-seconds", type=float, default=1.0, help="seconds of the synthesised scene")
    parser.add_argument("--scale", type=int, default=4, help="divide event coordinates by this")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--throughput-windows", type=int, default=20, help="full-size windows to time")
    parser.add_argument("--workdir", type=Path, default=None, help="keep files here (default: a temp folder)")
    args = parser.parse_args()

    from datasets.synthetic import SynthConfig, synthesize_recording

    work = args.workdir or Path(tempfile.mkdtemp(prefix="bench_infer_"))
    work.mkdir(parents=True, exist_ok=True)
    ckpt = tiny_checkpoint(work / "tiny.pt")
    base_data = work / "base_data.hdf5"
    if not base_data.exists():
        synthesize_recording(work / "base", SynthConfig(seconds=args.base_seconds, seed=11), show_progress=False)
    width, height = (346 + args.scale - 1) // args.scale, (260 + args.scale - 1) // args.scale

    peaks = {}
    for name, seconds in (("short", args.short), ("long", args.long)):
        data = repeat_recording(base_data, work / f"{name}_data.hdf5", seconds=seconds, scale=args.scale)
        peak, summary = run_infer([str(data), "--model", str(ckpt), "--out", str(work / f"out_{name}"),
                                   "--overwrite", "--width", str(width), "--height", str(height),
                                   "--batch-size", str(args.batch_size), "--device", "cpu"])
        peaks[name] = peak
        print(f"{seconds:g} s recording ({width}x{height}, {data.stat().st_size / 2**20:.0f} MiB): "
              f"peak RSS {peak:.0f} MiB; {summary}")
    print(f"peak memory long / short = {peaks['long'] / peaks['short']:.2f} (target <= 1.5)")

    # Throughput at full size on the synthetic scene's GT-free windows.
    models = [("tiny model", ckpt)]
    default = Path(__file__).resolve().parents[1] / "stereo" / "default" / "model.pt"
    if default.is_file():
        models.append(("default model", default))
    every_ms = 1000.0 * args.base_seconds / (args.throughput_windows + 1)
    for label, model in models:
        peak, summary = run_infer([str(base_data), "--model", str(model), "--out", str(work / "out_full"),
                                   "--overwrite", "--every-ms", f"{every_ms:.3f}", "--batch-size",
                                   str(args.batch_size), "--device", "cpu"])
        print(f"346x260, {label}: {windows_per_second(summary):.2f} windows/s, peak RSS {peak:.0f} MiB; {summary}")
    print(f"files in {work}")


if __name__ == "__main__":
    main()
