"""GPU readiness in one script (under 10 minutes on one GPU); prints a report, optionally JSON.

Checks, each reported as PASS / FAIL with its numbers (a failing check does not stop the others):

1. network CPU vs CUDA: the authors' MVSEC genotype (filter multiplier 4, T = 4) in eval mode on
   the same sparse event tensors (TF32 off): disparity difference and per-layer firing rates;
   in train mode the loss and the gradient direction of one batch;
2. metrics and losses CPU vs CUDA: soft-argmin, smooth-L1 and sub-pixel cross-entropy losses and
   the MVSEC frame metrics on the same random data;
3. AMP training: ``stereo.train.train_stereo`` with ``amp=True`` for a few steps on a small
   random-dot cache (the real training code path): finite losses and a written checkpoint;
4. spikingjelly's CUDA implementations (native ``cuda`` / ``triton``, chosen by its
   ``SJ_*_CUDA_IMPLEMENTATION`` variables) against its ``torch`` implementation: a LIF layer's
   forward/backward with a built-in surrogate, each in a subprocess with the variable set
   (spikingjelly 2.x has no cupy backend). The network's own neurons use the DSpike surrogate,
   which spikingjelly runs on its torch reference path on CUDA (seen on an H200: forcing
   ``torch`` is refused for them); check 1 compares them with the CPU;
5. throughput at 260 x 346: windows/s of the network alone (fp32 and AMP, batch 1 and 8, with the
   ReLU ANN peer) and of ``stereo infer`` end to end on a synthetic recording, for the default model
   and the authors' genotype (filter multiplier 8, T = 4). Target: at least 20 windows/s (MVSEC
   real time) for the authors' genotype.

On a machine without CUDA it prints ``no CUDA device: skipped`` and exits 0. ``--cpu-self-test``
runs every check with the CPU standing in for CUDA at tiny sizes (used by the tests).

Usage::

    python -m tools.gpu_check                   # on a GPU machine
    python -m tools.gpu_check --out gpu_check.json
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

REAL_TIME_WINDOWS_PER_S = 20.0
_SJ_VARIABLES = ("SJ_LIF_CUDA_IMPLEMENTATION", "SJ_IF_CUDA_IMPLEMENTATION", "SJ_PLIF_CUDA_IMPLEMENTATION")


@dataclass(frozen=True)
class Sizes:
    """Problem sizes of the checks (full on a GPU, tiny for the CPU self-test)."""

    height: int = 96
    width: int = 128
    filter_multiplier: int = 4
    timesteps: int = 4
    max_disparity: int = 48
    bench_height: int = 260
    bench_width: int = 346
    bench_batches: tuple[int, ...] = (1, 8)
    repeats: int = 5
    synth_seconds: float = 2.0
    train_steps: int = 4


FULL = Sizes()
TINY = Sizes(height=24, width=36, filter_multiplier=1, timesteps=2, max_disparity=12, bench_height=24,
             bench_width=36, bench_batches=(1, 2), repeats=1, synth_seconds=0.2, train_steps=2)


def _network(sizes: Sizes, *, seed: int = 0):
    from search.named_genotypes import get_genotype
    from stereo.network import SpikingStereoNet, StereoNetConfig

    torch.manual_seed(seed)
    config = StereoNetConfig(in_channels=5, max_disparity=sizes.max_disparity, timesteps=sizes.timesteps,
                             feature_filter_multiplier=sizes.filter_multiplier,
                             matching_filter_multiplier=sizes.filter_multiplier)
    return SpikingStereoNet(get_genotype("spikedhs_mvsec"), config)


def _inputs(sizes: Sizes, batch: int = 2):
    from tools.bench_inference import event_batch

    return event_batch(batch, 5, sizes.height, sizes.width, seed=1)


def check_network(device: str, sizes: Sizes) -> dict:
    """Eval-mode disparity and firing rates, train-mode loss and gradients: CPU vs ``device``."""
    from search.cost import energy_report
    from stereo.disparity import subpixel_cross_entropy_loss

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    left, right = _inputs(sizes)
    gt = torch.rand(left.shape[0], 1, sizes.height, sizes.width, generator=torch.Generator().manual_seed(2))
    gt = gt * (sizes.max_disparity - 1)
    outputs, rates, losses, grads = {}, {}, {}, {}
    for where in ("cpu", device):
        net = _network(sizes).to(where).eval()
        with torch.no_grad():
            outputs[where] = net(left.to(where), right.to(where)).disparity.cpu()
        report = energy_report(net, left[:1].to(where), right[:1].to(where), num_samples=1)
        rates[where] = np.array([layer.input_rate for layer in report.layers])
        net.train()
        out = net(left.to(where), right.to(where))
        loss, _ = subpixel_cross_entropy_loss(out.log_probability, gt.to(where), max_disparity=sizes.max_disparity)
        loss.backward()
        losses[where] = float(loss.detach())
        grads[where] = torch.cat([p.grad.flatten().cpu() for p in net.parameters() if p.grad is not None])
    diff = (outputs["cpu"] - outputs[device]).abs()
    cosine = float(torch.nn.functional.cosine_similarity(grads["cpu"], grads[device], dim=0))
    result = {
        "max_abs_disparity_diff_px": float(diff.max()),
        "fraction_pixels_diff_over_0.05px": float((diff > 0.05).float().mean()),
        "max_abs_firing_rate_diff": float(np.abs(rates["cpu"] - rates[device]).max()),
        "loss_cpu": losses["cpu"], f"loss_{device}": losses[device],
        "gradient_cosine_similarity": cosine,
    }
    result["pass"] = (result["fraction_pixels_diff_over_0.05px"] < 0.01
                      and result["max_abs_firing_rate_diff"] < 0.01
                      and abs(losses["cpu"] - losses[device]) <= 1e-3 * max(1.0, abs(losses["cpu"]))
                      and cosine > 0.99)
    return result


def check_metrics(device: str, sizes: Sizes) -> dict:
    """soft-argmin, both losses and the frame metrics on CPU vs ``device``."""
    from stereo.disparity import smooth_l1_disparity_loss, soft_argmin, subpixel_cross_entropy_loss
    from stereo.metrics import disparity_errors

    g = torch.Generator().manual_seed(3)
    cost = torch.randn(2, sizes.max_disparity, sizes.height, sizes.width, generator=g)
    gt = torch.rand(2, 1, sizes.height, sizes.width, generator=g) * sizes.max_disparity
    gt[:, :, :2] = float("nan")
    values = {}
    for where in ("cpu", device):
        disparity, logp = soft_argmin(cost.to(where))
        l1, _ = smooth_l1_disparity_loss(disparity, gt.to(where), max_disparity=sizes.max_disparity)
        ce, _ = subpixel_cross_entropy_loss(logp, gt.to(where), max_disparity=sizes.max_disparity)
        metrics = disparity_errors(disparity[0, 0], gt[0, 0].to(where), focal_baseline=19.941772).to_dict()
        values[where] = {"disparity": disparity.cpu(), "smooth_l1": float(l1), "cross_entropy": float(ce), **metrics}
    max_disp = float((values["cpu"]["disparity"] - values[device]["disparity"]).abs().max())
    scalar_diffs = {k: abs(values["cpu"][k] - values[device][k]) for k in values["cpu"]
                    if k != "disparity" and isinstance(values["cpu"][k], float) and np.isfinite(values["cpu"][k])}
    worst = max(scalar_diffs, key=scalar_diffs.get)
    return {"max_abs_soft_argmin_diff_px": max_disp, "worst_scalar": worst, "worst_scalar_diff": scalar_diffs[worst],
            "pass": max_disp < 1e-4 and scalar_diffs[worst] < 1e-3}


def _random_dot_cache(path: Path, sizes: Sizes, frames: int = 4) -> Path:
    """A cache in the ``stereo preprocess`` format (datasets/cache.py) of random-dot pairs with known disparity."""
    import h5py

    rng = np.random.default_rng(0)
    h, w = sizes.height, sizes.width
    right = (rng.random((frames, 5, h, w)) < 0.1).astype(np.float32)
    disparity = np.broadcast_to(np.linspace(2, sizes.max_disparity / 2, w, dtype=np.float32), (frames, h, w)).copy()
    cols = np.arange(w)[None, :] - np.rint(disparity[0]).astype(int)
    left = np.zeros_like(right)
    inside = cols >= 0
    rows = np.arange(h)[:, None].repeat(w, 1)
    left[:, :, inside] = right[:, :, rows[inside], cols[inside]]
    disparity[:, ~inside] = np.nan
    with h5py.File(path, "w") as f:
        f["left"], f["right"], f["disparity"] = left, right, disparity
        f["sparse_mask"] = left.any(1)
        f["timestamps"] = 1.5e9 + 0.05 * np.arange(frames)
        f["frame_index"] = np.arange(frames, dtype=np.int64)
        f["done"] = np.ones(frames, bool)
        f.attrs.update(format_version=1, representation="voxel", num_bins=5, window_ms=50.0, height=h, width=w,
                       rectification="identity", focal_baseline=19.941772, source_data="dots_data.hdf5",
                       source_data_size=0, source_gt="dots_gt.hdf5", source_gt_size=0, created_by="stereo preprocess")
    return path


def check_amp_training(device: str, sizes: Sizes, folder: Path) -> dict:
    """A few AMP training steps through ``train_stereo`` on ``device``."""
    from stereo.network import StereoNetConfig
    from stereo.train import StereoTrainConfig, train_stereo

    cache = _random_dot_cache(folder / "dots.h5", sizes)
    network = StereoNetConfig(in_channels=5, max_disparity=sizes.max_disparity, timesteps=sizes.timesteps,
                              feature_filter_multiplier=sizes.filter_multiplier,
                              matching_filter_multiplier=sizes.filter_multiplier)
    config = StereoTrainConfig(train=(str(cache),), val=(str(cache),), out=str(folder / "amp_run"), epochs=2,
                               batch_size=2, crop_height=sizes.height, crop_width=sizes.width, device=device,
                               amp=True, max_steps_per_epoch=sizes.train_steps // 2 or 1, network=network)
    start = time.perf_counter()
    metrics = train_stereo(config)
    seconds = time.perf_counter() - start
    finite = all(np.isfinite(v) for k, v in metrics.items() if isinstance(v, float) and not k.endswith("frames"))
    return {"train_loss": metrics.get("train_loss"),
            "val_mean_disparity_error": metrics.get("val/mean_disparity_error"),
            "seconds": seconds, "checkpoint": (folder / "amp_run" / "best.pt").is_file(),
            "amp_active": device.startswith("cuda"),
            "pass": finite and (folder / "amp_run" / "last.pt").is_file()}


# Seen on an H200 (spikingjelly 2.0.0): forcing SJ_LIF_CUDA_IMPLEMENTATION=torch for the network
# raised "cannot run this execution profile: Torch reference implementation required".
NETWORK_NEURON_PATH = "torch reference (spikingjelly has no accelerated kernel for the DSpike surrogate)"


def neuron_probe(out: str, device: str, tiny: bool) -> None:
    """Subprocess body of :func:`check_spikingjelly`: save a LIF layer's spikes and input gradients.

    The layer is a spikingjelly LIF with a built-in surrogate (sigmoid), which has accelerated CUDA
    kernels. Our own neurons use the DSpike surrogate, for which spikingjelly always takes its torch
    reference path on CUDA (forcing an implementation is refused there); check 1 covers them.
    """
    from spikingjelly.activation_based import neuron, surrogate

    sizes = TINY if tiny else FULL
    x = torch.randn(sizes.timesteps, 4, 16, 32, 32, generator=torch.Generator().manual_seed(4)).to(device)
    x.requires_grad_(True)
    lif = neuron.LIFNode(tau=1.25, decay_input=False, v_threshold=0.5, surrogate_function=surrogate.Sigmoid(),
                         step_mode="m").to(device)
    spikes = lif(x)
    (spikes * torch.linspace(0, 1, spikes.numel(), device=device).view_as(spikes)).sum().backward()
    torch.save({"spikes": spikes.detach().cpu(), "grad": x.grad.cpu()}, out)


def check_spikingjelly(device: str, sizes: Sizes, folder: Path) -> dict:
    """spikingjelly's automatically chosen CUDA LIF implementation vs its torch implementation, and
    which path the network's own (DSpike) neurons take."""
    results = {}
    for name, value in (("torch", "torch"), ("auto", "auto")):
        out = folder / f"probe_{name}.pt"
        env = {**os.environ, **dict.fromkeys(_SJ_VARIABLES, value)}
        cmd = [sys.executable, "-m", "tools.gpu_check", "--_probe", str(out), "--device", device,
               *(["--cpu-self-test"] if sizes == TINY else [])]
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300,
                              cwd=Path(__file__).resolve().parent.parent)
        if proc.returncode != 0:
            return {"pass": False, "error": f"probe with {value} failed: {proc.stderr.strip().splitlines()[-1:]}"}
        results[name] = torch.load(out)
    a, b = results["torch"], results["auto"]
    spike_mismatch = float((a["spikes"] != b["spikes"]).float().mean())
    grad_diff = float((a["grad"] - b["grad"]).abs().max())
    return {"spike_mismatch_fraction": spike_mismatch, "max_abs_grad_diff": grad_diff,
            "network_neurons": NETWORK_NEURON_PATH if device.startswith("cuda") else "torch (CPU)",
            "pass": spike_mismatch < 1e-4 and grad_diff < 1e-3}


def check_throughput(device: str, sizes: Sizes, folder: Path, model_path: str | None) -> dict:
    """windows/s of the networks alone and of ``stereo infer`` end to end."""
    from datasets.synthetic import SynthConfig, synthesize_recording
    from search.checkpoint import save_checkpoint
    from stereo.infer import default_model_path, infer_recording
    from stereo.train import CHECKPOINT_KIND, load_trained_model
    from tools.bench_inference import authors_mvsec_network, inference_suite, measure_throughput

    authors = authors_mvsec_network() if sizes == FULL else _network(sizes)
    authors_ckpt = folder / "authors.pt"
    data = {"representation": "voxel", "num_bins": 5, "window_ms": 50.0, "height": 260, "width": 346,
            "focal_baseline": 19.941772}
    save_checkpoint(authors_ckpt, model=authors, epoch=0, config={}, genotype=authors.genotype.to_dict(),
                    kind=CHECKPOINT_KIND, extra={"network": authors.config.to_dict(), "data": data})
    cfg = authors.config
    models = {f"authors' MVSEC genotype (fm {cfg.feature_filter_multiplier}, T {cfg.timesteps})": str(authors_ckpt)}
    try:
        if sizes == FULL or model_path is not None:  # the self-test keeps to the tiny network
            models = {"default model": str(model_path or default_model_path()), **models}
    except FileNotFoundError as exc:
        print(f"default model: {exc}")
    networks = {name: load_trained_model(path)[0] for name, path in models.items() if path}
    rows = inference_suite(networks, height=sizes.bench_height, width=sizes.bench_width,
                           batch_sizes=sizes.bench_batches, repeats=sizes.repeats, devices=(device,))
    if device.startswith("cuda"):
        rows += [measure_throughput(net, name=f"{name} (AMP)", height=sizes.bench_height, width=sizes.bench_width,
                                    batch_size=b, repeats=sizes.repeats, device=device, amp=True)
                 for name, net in networks.items() for b in sizes.bench_batches]
    data_path, gt_path = synthesize_recording(folder / "scene", SynthConfig(seconds=sizes.synth_seconds, seed=301),
                                              overwrite=True, show_progress=False)
    end_to_end = []
    for name, path in models.items():
        if not path:
            continue
        for batch in sizes.bench_batches:
            report = infer_recording(data_path, folder / f"infer_{len(end_to_end)}", gt=gt_path, model_path=path,
                                     batch_size=batch, device=device)
            end_to_end.append({"name": name, "batch_size": batch, "windows": report.windows,
                               "windows_per_s": report.windows_per_second})
    authors_e2e = max((r["windows_per_s"] for r in end_to_end if r["name"].startswith("authors")), default=0.0)
    return {"network_only": [vars(r) for r in rows], "stereo_infer": end_to_end,
            "authors_best_end_to_end_windows_per_s": authors_e2e,
            "pass": authors_e2e >= REAL_TIME_WINDOWS_PER_S or sizes == TINY}


def run_checks(device: str, sizes: Sizes, *, model_path: str | None = None) -> dict:
    """Run every check; each result has ``pass`` (and ``error`` when it raised)."""
    report: dict = {"device": device, "torch": torch.__version__,
                    "gpu": torch.cuda.get_device_name(device) if device.startswith("cuda") else None}
    with tempfile.TemporaryDirectory(prefix="gpu_check_") as tmp:
        folder = Path(tmp)
        steps = {
            "network CPU vs device": lambda: check_network(device, sizes),
            "metrics and losses CPU vs device": lambda: check_metrics(device, sizes),
            "AMP training steps": lambda: check_amp_training(device, sizes, folder),
            "spikingjelly CUDA vs torch neurons": lambda: check_spikingjelly(device, sizes, folder),
            "throughput at 260x346": lambda: check_throughput(device, sizes, folder, model_path),
        }
        for name, step in steps.items():
            start = time.perf_counter()
            print(f"running: {name}", flush=True)
            try:
                report[name] = step()
            except Exception as exc:  # noqa: BLE001 - one broken check must not hide the others
                report[name] = {"pass": False, "error": f"{type(exc).__name__}: {exc}",
                                "traceback": traceback.format_exc(limit=4)}
            report[name]["seconds"] = time.perf_counter() - start
    return report


def format_report(report: dict) -> str:
    """Human-readable report: one PASS/FAIL line per check with its numbers, then the throughput table."""
    from tools.bench_report import inference_markdown

    lines = [f"gpu_check on {report['gpu'] or report['device']} (torch {report['torch']})"]
    for name, result in report.items():
        if not isinstance(result, dict):
            continue
        numbers = {k: v for k, v in result.items()
                   if k not in ("pass", "network_only", "stereo_infer", "traceback") and not isinstance(v, list)}
        lines.append(f"[{'PASS' if result['pass'] else 'FAIL'}] {name}: "
                     + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in numbers.items()))
        if "network_only" in result:
            lines += ["", inference_markdown(result["network_only"]), ""]
            for row in result["stereo_infer"]:
                lines.append(f"stereo infer end to end: {row['name']}, batch {row['batch_size']}: "
                             f"{row['windows_per_s']:.1f} windows/s over {row['windows']} windows")
            lines.append(f"target: >= {REAL_TIME_WINDOWS_PER_S:g} windows/s end to end for the authors' genotype")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--model", default=None, help="stereo checkpoint (default: the shipped default model)")
    parser.add_argument("--out", type=Path, default=None, help="also write the report as JSON here")
    parser.add_argument("--cpu-self-test", action="store_true", help="run every check on the CPU at tiny sizes")
    parser.add_argument("--_probe", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args._probe:
        neuron_probe(args._probe, args.device, args.cpu_self_test)
        return 0
    if args.cpu_self_test:
        device, sizes = "cpu", TINY
        torch.set_num_threads(1)
    elif not torch.cuda.is_available():
        print("no CUDA device: skipped (run this script on a machine with an NVIDIA GPU)")
        return 0
    else:
        device, sizes = args.device, FULL
    start = time.perf_counter()
    report = run_checks(device, sizes, model_path=args.model)
    report["wall_seconds"] = time.perf_counter() - start
    print(format_report(report))
    print(f"wall time {report['wall_seconds']:.0f} s")
    if args.out is not None:
        from stereo.protocol import write_results_json

        write_results_json(args.out, report)
    return 0 if all(r["pass"] for r in report.values() if isinstance(r, dict)) else 1


if __name__ == "__main__":
    sys.exit(main())
