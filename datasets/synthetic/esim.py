"""Events from log-intensity threshold crossings (ESIM-style, Rebecq et al. 2018).

Each pixel keeps a reference log intensity ``ref``. Between two renders at t0 and t1 the log
intensity is taken to vary linearly from ``L0`` to ``L1``; every level ``ref + k * C_on``
(k = 1, 2, ...) passed on the way up emits an ON event (p = +1), every ``ref - k * C_off``
passed on the way down an OFF event (p = -1), at the interpolated time
``t0 + (level - L0) / (L1 - L0) * (t1 - t0)``; ``ref`` then moves to the last level passed, so
``|L1 - ref| < C`` always holds. The state persists from one render to the next.
"""

from __future__ import annotations

import numba
import numpy as np

# Offset inside the log: keeps the darkest pixels from producing huge log contrasts (like a
# photoreceptor's dark current).
LOG_EPS = 0.01


def log_intensity(intensity: np.ndarray) -> np.ndarray:
    """``log(I + LOG_EPS)`` as float64, for linear intensity ``I`` in [0, 1]."""
    return np.log(np.asarray(intensity, dtype=np.float64) + LOG_EPS)


@numba.njit(cache=True)
def _crossings(log_prev, log_new, log_ref, last_time, c_on, c_off, t0, t1, refractory_s):
    """Emit the threshold crossings of one interval; updates ``log_ref`` and ``last_time`` in place.

    Returns:
        x, y (int64), t (float64, seconds, relative), p (int8), in pixel order (not sorted by t).
    """
    height, width = log_new.shape
    total = 0
    for y in range(height):
        for x in range(width):
            diff = log_new[y, x] - log_ref[y, x]
            if diff >= c_on[y, x]:
                total += int(diff / c_on[y, x])
            elif -diff >= c_off[y, x]:
                total += int(-diff / c_off[y, x])
    xs = np.empty(total, np.int64)
    ys = np.empty(total, np.int64)
    ts = np.empty(total, np.float64)
    ps = np.empty(total, np.int8)
    n = 0
    span = t1 - t0
    for y in range(height):
        for x in range(width):
            ref = log_ref[y, x]
            diff = log_new[y, x] - ref
            if diff >= c_on[y, x]:
                count, step, polarity = int(diff / c_on[y, x]), c_on[y, x], 1
            elif -diff >= c_off[y, x]:
                count, step, polarity = int(-diff / c_off[y, x]), -c_off[y, x], -1
            else:
                continue
            start, change = log_prev[y, x], log_new[y, x] - log_prev[y, x]
            for k in range(1, count + 1):
                level = ref + k * step
                frac = (level - start) / change if change != 0.0 else 1.0
                t = t0 + min(max(frac, 0.0), 1.0) * span
                if t - last_time[y, x] < refractory_s:
                    continue  # the pixel is still blind: the level is passed silently
                last_time[y, x] = t
                xs[n], ys[n], ts[n], ps[n] = x, y, t, polarity
                n += 1
            log_ref[y, x] = ref + count * step
    return xs[:n], ys[:n], ts[:n], ps[:n]


class EventSensor:
    """One event camera: per-pixel thresholds, reference levels, refractory state and shot noise.

    Args:
        initial_log: float64 (H, W), log intensity at the start time (becomes the reference).
        rng: random generator for the thresholds and the noise events.
        contrast_threshold: mean C (log units) for ON and OFF.
        contrast_threshold_sigma: per-pixel spread of C (each pixel draws its own C_on, C_off).
        refractory_s: minimum time between two events of a pixel (s).
        noise_rate_hz: rate of spurious events per pixel (Hz), uniform in time, random polarity.
        start_time_s: the time of ``initial_log`` (s).
    """

    def __init__(self, initial_log: np.ndarray, rng: np.random.Generator, *, contrast_threshold: float,
                 contrast_threshold_sigma: float = 0.0, refractory_s: float = 0.0, noise_rate_hz: float = 0.0,
                 start_time_s: float = 0.0) -> None:
        shape = initial_log.shape
        self.rng = rng
        low = 0.2 * contrast_threshold  # keeps every pixel's threshold positive
        self.c_on = np.maximum(rng.normal(contrast_threshold, contrast_threshold_sigma, shape), low)
        self.c_off = np.maximum(rng.normal(contrast_threshold, contrast_threshold_sigma, shape), low)
        self.log_ref = np.array(initial_log, dtype=np.float64)
        self.log_prev = self.log_ref.copy()
        self.last_time = np.full(shape, -np.inf)
        self.refractory_s = float(refractory_s)
        self.noise_rate_hz = float(noise_rate_hz)
        self.time_s = float(start_time_s)

    def step(self, log_new: np.ndarray, time_s: float) -> np.ndarray:
        """Advance to ``time_s`` where the log intensity is ``log_new`` (H, W); return the new events.

        Returns:
            float64 (N, 4), columns x, y, t (s, the same clock as ``time_s``), p in {-1, +1},
            sorted by t; every t lies in (previous time, ``time_s``].
        """
        if not time_s > self.time_s:
            raise ValueError(f"time must increase: {time_s} after {self.time_s}")
        log_new = np.asarray(log_new, dtype=np.float64)
        xs, ys, ts, ps = _crossings(self.log_prev, log_new, self.log_ref, self.last_time, self.c_on,
                                    self.c_off, self.time_s, time_s, self.refractory_s)
        events = np.column_stack([xs, ys, ts, ps]).astype(np.float64)
        if self.noise_rate_hz > 0:
            height, width = log_new.shape
            count = self.rng.poisson(self.noise_rate_hz * height * width * (time_s - self.time_s))
            noise = np.column_stack([
                self.rng.integers(0, width, count), self.rng.integers(0, height, count),
                time_s - (time_s - self.time_s) * self.rng.random(count),  # in (t0, t1]
                self.rng.choice([-1.0, 1.0], count)]).astype(np.float64)
            events = np.concatenate([events, noise])
        self.log_prev = log_new
        self.time_s = float(time_s)
        return events[np.argsort(events[:, 2], kind="stable")]
