"""Benchmark ``events_to_voxel`` against tonic and a plain numpy ``np.add.at`` voxel grid.

All single-threaded, in one process, on the same events (uniform over a 346x260 sensor, sorted
times over 50 ms at Unix-time magnitude). Also times a trivial numba pass that only reads the
four input columns once: the memory bound no voxeliser can beat.

Reproduce:
    .venv/bin/python tools/bench_voxel.py --events 5000000 --bins 5 --repeats 9 --calls 3
"""

from __future__ import annotations

import argparse
import time

import numba
import numpy as np

HEIGHT, WIDTH = 260, 346


@numba.njit(cache=True)
def _read_columns(x, y, t, p):  # pragma: no cover - compiled
    acc = 0.0
    for i in range(t.shape[0]):
        acc += x[i] + y[i] + t[i] + p[i]
    return acc


def numpy_voxel(x, y, t, p, num_bins, height, width):
    """The Zhu et al. voxel grid (B-1 scaling) with np.add.at: the plain numpy peer."""
    grid = np.zeros(num_bins * height * width, np.float64)
    span = t[-1] - t[0]
    tn = (num_bins - 1) * (t - t[0]) / (span if span > 0 else 1.0)
    lower = tn.astype(np.int64)
    frac = tn - lower
    pol = np.where(p > 0, 1.0, -1.0)
    idx = y.astype(np.int64) * width + x
    np.add.at(grid, lower * height * width + idx, pol * (1.0 - frac))
    upper = lower + 1 < num_bins
    np.add.at(grid, (lower[upper] + 1) * height * width + idx[upper], (pol * frac)[upper])
    return grid.reshape(num_bins, height, width).astype(np.float32)


def thread_seconds(fn) -> float:
    """CPU time of this thread for one call (robust to other processes on the machine)."""
    start = time.thread_time()
    fn()
    return time.thread_time() - start


def random_events(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``n`` events uniform over the 346x260 sensor, sorted times over 50 ms at Unix-time magnitude."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, WIDTH, n).astype(np.int16)
    y = rng.integers(0, HEIGHT, n).astype(np.int16)
    t = 1.5e9 + np.sort(rng.random(n)) * 0.05
    p = rng.choice(np.array([-1, 1], np.int8), n)
    return x, y, t, p


def time_rounds(x, y, t, p, num_bins: int, rounds: int, *, numpy_peer: bool = True,
                calls: int = 3) -> list[dict[str, float]]:
    """Thread CPU seconds of each method per round: the fastest of ``calls`` calls in a row.

    This machine's speed drifts by up to 1.7x within minutes, so a ratio is only fair between
    runs of the same round; and single calls are hit by transient slowdowns (a 20 ms call of
    ours by more, relatively, than a 300 ms call of tonic), which the best of a few calls in a
    row filters out for every method alike. Keys: "ours", "read" (the read-once bound), "numpy" (when
    ``numpy_peer``), "tonic" (when tonic is installed; its input copy made outside the timed region). Runs
    single-threaded (numba's thread count is restored afterwards).
    """
    from datasets.representations import events_to_voxel

    try:
        import tonic.functional
    except ImportError:
        tonic = None
    if calls < 1:
        raise ValueError(f"calls must be >= 1, got {calls}")
    structured = np.zeros(x.shape[0], dtype=[("x", np.int16), ("y", np.int16), ("t", np.float64), ("p", np.int8)])
    for name, values in zip("xytp", (x, y, t, p), strict=True):
        structured[name] = values

    def best(fn) -> float:
        return min(thread_seconds(fn) for _ in range(calls))

    def tonic_once() -> float:
        # tonic writes -1 into the polarity field it is given: a fresh copy each call, made
        # outside the timed region.
        events = structured.copy()
        return thread_seconds(lambda: tonic.functional.to_voxel_grid_numpy(events, (WIDTH, HEIGHT, 2), num_bins))

    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        events_to_voxel(x, y, t, p, num_bins, HEIGHT, WIDTH)  # compile / load the numba cache
        _read_columns(x, y, t, p)
        out = []
        for _ in range(rounds):
            r = {"ours": best(lambda: events_to_voxel(x, y, t, p, num_bins, HEIGHT, WIDTH)),
                 "read": best(lambda: _read_columns(x, y, t, p))}
            if tonic is not None:
                r["tonic"] = min(tonic_once() for _ in range(calls))
            if numpy_peer:
                r["numpy"] = best(lambda: numpy_voxel(x, y, t, p, num_bins, HEIGHT, WIDTH))
            out.append(r)
        return out
    finally:
        numba.set_num_threads(threads)


def median_ratio(rounds: list[dict[str, float]], slower: str, faster: str) -> float:
    """Median over rounds of ``slower / faster`` time (how many times faster ``faster`` is)."""
    return float(np.median([r[slower] / r[faster] for r in rounds]))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--bins", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=5, help="rounds, each timing every method")
    parser.add_argument("--calls", type=int, default=3, help="calls of each method per round (its fastest counts)")
    args = parser.parse_args(argv)
    if args.events < 2 or args.bins < 1 or args.repeats < 1 or args.calls < 1:
        parser.error("--events must be >= 2 and --bins, --repeats, --calls >= 1")

    from datasets.representations import events_to_voxel

    n = args.events
    x, y, t, p = random_events(n)
    ref = numpy_voxel(x, y, t, p, args.bins, HEIGHT, WIDTH)
    print(f"max |ours - numpy| = {np.abs(events_to_voxel(x, y, t, p, args.bins, HEIGHT, WIDTH) - ref).max():.2e}")
    rounds = time_rounds(x, y, t, p, args.bins, args.repeats, calls=args.calls)
    if "tonic" not in rounds[0]:
        raise SystemExit("tonic is not installed (pip install -e '.[dev]')")
    t_ours, t_read, t_tonic, t_numpy = (min(r[k] for r in rounds) for k in ("ours", "read", "tonic", "numpy"))

    def line(name: str, seconds: float) -> str:
        return f"{name:<36} {seconds * 1e3:9.1f} ms  {n / seconds / 1e6:8.1f} M events/s"

    print(f"{n:,} events, {args.bins} bins, {WIDTH}x{HEIGHT}, 1 thread, {args.repeats} rounds of "
          f"{args.calls} calls per method; fastest thread CPU time of each method:")
    print(line("read x,y,t,p once (numba sum)", t_read))
    print(line("events_to_voxel (ours)", t_ours))
    print(line("tonic to_voxel_grid_numpy", t_tonic) + "  (input copy not timed)")
    print(line("numpy np.add.at", t_numpy))
    ratios = sorted(r["tonic"] / r["ours"] for r in rounds)
    print(f"ours vs tonic, per round: {', '.join(f'{v:.1f}' for v in ratios)}x")
    print(f"ours vs tonic: {median_ratio(rounds, 'tonic', 'ours'):.1f}x (median of rounds); ours vs numpy: "
          f"{median_ratio(rounds, 'numpy', 'ours'):.1f}x; ours reaches {median_ratio(rounds, 'read', 'ours'):.0%} "
          "of the read-once bound")
    print("reproduce: .venv/bin/python tools/bench_voxel.py "
          f"--events {n} --bins {args.bins} --repeats {args.repeats} --calls {args.calls}")


if __name__ == "__main__":
    main()
