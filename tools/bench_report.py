"""Markdown tables and PNG plots of a ``stereo bench`` result (the dict written to ``bench.json``)."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path


def _fmt(value, spec: str, scale: float = 1.0) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return format(value * scale, spec)


def preprocess_markdown(pre: dict) -> str:
    """Table of events/s per voxel-grid implementation and how much faster ours is."""
    lines = [f"Voxel grid of {pre['events']:,} random events, {pre['bins']} bins, {pre['size'][1]}x{pre['size'][0]}, "
             f"1 thread (max |ours - numpy| = {pre['max_abs_diff_to_numpy']:.1e}):", "",
             "| implementation | M events/s | ours is x faster |", "|---|---:|---:|"]
    for name, rate in pre["events_per_s"].items():
        ratio = pre["speedup_of_ours"][name]
        note = "not installed" if rate is None else _fmt(rate, ".1f", 1e-6)
        lines.append(f"| {name} | {note} | {_fmt(ratio, '.1f')} |")
    return "\n".join(lines)


def inference_markdown(rows: list[dict]) -> str:
    """Throughput table; each ANN peer row also gives how many times faster it is than its spiking network."""
    lines = ["| network | device | batch | T | windows/s | s/batch | peak memory (MB) | spiking / ANN time |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    spiking = {(r["name"], r["device"], r["batch_size"]): r for r in rows}
    for r in rows:
        ratio = "-"
        if r["name"].endswith(": ANN peer (ReLU, T=1)"):
            base = spiking.get((r["name"].split(": ANN peer")[0], r["device"], r["batch_size"]))
            if base is not None:
                ratio = f"{base['seconds_per_batch'] / r['seconds_per_batch']:.2f}"
        lines.append(f"| {r['name']} | {r['device']}{' (AMP)' if r.get('amp') else ''} | {r['batch_size']} | "
                     f"{r['timesteps']} | {r['windows_per_s']:.2f} | {r['seconds_per_batch']:.3f} | "
                     f"{_fmt(r['peak_memory_mb'], '.0f')} | {ratio} |")
    return "\n".join(lines)


def accuracy_markdown(acc: dict) -> str:
    """Accuracy table: MVSEC metrics, energy and firing rate, time per window."""
    lines = ["| method | 1PA (%) | 2PA (%) | mean depth err (cm) | median depth err (cm) | mean disp err (px) | "
             "energy (mJ/frame) | ANN-equivalent (mJ) | firing rate | s/window | frames |",
             "|---|" + "---:|" * 10]
    for s in acc["scores"]:
        m = s["metrics"]
        lines.append(
            f"| {s['method']} | {_fmt(m.get('one_pixel_accuracy'), '.1f')} | "
            f"{_fmt(m.get('two_pixel_accuracy'), '.1f')} | "
            f"{_fmt(m.get('mean_depth_error'), '.1f', 100)} | {_fmt(m.get('median_depth_error'), '.1f', 100)} | "
            f"{_fmt(m.get('mean_disparity_error'), '.2f')} | {_fmt(s.get('energy_mj_per_frame'), '.3g')} | "
            f"{_fmt(s.get('ann_equivalent_mj_per_frame'), '.3g')} | {_fmt(s.get('mean_firing_rate'), '.3f')} | "
            f"{_fmt(s.get('seconds_per_window'), '.3f')} | {_fmt(m.get('num_frames'), '.0f')} |")
    notes = [f"{s['method']}: {'; '.join(s['notes'])}" for s in acc["scores"] if s.get("notes")]
    return "\n".join(lines + ([""] + [f"- {n}" for n in notes] if notes else []))


def bench_markdown(result: dict) -> str:
    """All sections of a bench result as one Markdown document."""
    machine = result["machine"]
    parts = [f"# stereo bench ({result['date']})", "",
             f"Machine: {machine['processor']}, {machine['cpu_count']} CPUs, torch {machine['torch']} "
             f"({machine['torch_threads']} threads), CUDA: {machine['cuda'] or 'none'}; "
             f"model: {result.get('model') or '-'}; wall time {result['wall_seconds']:.0f} s."]
    if "preprocess" in result:
        parts += ["", "## Preprocessing throughput", "", preprocess_markdown(result["preprocess"])]
    if "inference" in result:
        rows = result["inference"]
        size = f"{rows[0]['width']}x{rows[0]['height']}" if rows else ""
        parts += ["", f"## Inference throughput ({size})", "", inference_markdown(rows), "",
                  "ANN peer: the same genotype and widths with every neuron a ReLU and one timestep (random weights)."]
    if "accuracy" in result:
        acc = result["accuracy"]
        parts += ["", f"## Accuracy on the held-out synthetic benchmark ({acc['gt_mode']}, "
                  f"{len(acc['recordings'])} recordings)", "", accuracy_markdown(acc)]
    return "\n".join(parts)


def _save_png(fig, path: Path) -> Path:
    """Lay out, write atomically and close a matplotlib figure."""
    import matplotlib.pyplot as plt

    from datasets.atomic import atomic_output

    fig.tight_layout()
    with atomic_output(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)
    return path


def write_plots(result: dict, out: str | Path) -> list[Path]:
    """``accuracy_vs_energy.png`` and ``throughput.png`` (when those sections ran); returns the files written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out)
    written = []
    if "accuracy" in result:
        fig, ax = plt.subplots(figsize=(7.0, 6.0))
        for i, s in enumerate(result["accuracy"]["scores"]):
            pa = s["metrics"].get("one_pixel_accuracy")
            if pa is None:
                continue
            if s.get("energy_mj_per_frame"):
                ax.scatter([s["energy_mj_per_frame"]], [pa], s=60, zorder=3, label=f"{s['method']} (spiking)")
                ax.scatter([s["ann_equivalent_mj_per_frame"]], [pa], s=60, marker="x", zorder=3,
                           label="same network charged as an ANN (MACs)")
            else:
                ax.axhline(pa, linestyle="--", color=f"C{i + 2}", label=f"{s['method']} (no energy model)")
        ax.set_xscale("log")
        ax.set_xlabel("energy per frame (mJ, 45 nm: 4.6 pJ/MAC, 0.9 pJ/AC)")
        ax.set_ylabel("1PA (%)")
        ax.set_title("held-out synthetic benchmark: accuracy vs energy")
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14))
        written.append(_save_png(fig, out / "accuracy_vs_energy.png"))
    if result.get("inference"):
        rows = result["inference"]
        labels = [textwrap.fill(f"{r['name']} [{r['device']}, batch {r['batch_size']}]", 44) for r in rows]
        fig, ax = plt.subplots(figsize=(9.0, 0.6 * len(rows) + 1.8))
        colors = ["C0" if r["spiking"] else "C1" for r in rows]
        ax.barh(range(len(rows)), [r["windows_per_s"] for r in rows], color=colors)
        ax.set_yticks(range(len(rows)), labels, fontsize=7)
        ax.invert_yaxis()
        ax.axvline(20, color="k", linestyle=":", label="MVSEC real time (20 windows/s)")
        ax.set_xscale("log")
        ax.set_xlabel(f"windows/s at {rows[0]['width']}x{rows[0]['height']}")
        ax.set_title("inference throughput (blue: spiking, orange: ANN peer)")
        ax.legend(fontsize=7)
        written.append(_save_png(fig, out / "throughput.png"))
    return written
