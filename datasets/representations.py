"""Dense tensors from events: voxel grid (Zhu et al. 2019), SBT (stacking by time), ON/OFF counts.

All kernels are numba-compiled (``cache=True``, ``nogil=True`` so threads run them in parallel),
never modify their inputs, accept polarity as {-1, +1}, {0, 1} or bool (``p > 0`` is ON) and any
integer or float coordinate dtype (MVSEC stores x, y as float64). Coordinates outside the sensor
raise ``ValueError``.
"""

from __future__ import annotations

import numba
import numpy as np

# Error codes returned by the kernels (0 = fine); the Python wrappers turn them into exceptions.
_OK, _BAD_XY, _BAD_T = 0, 1, 2


@numba.njit(cache=True, nogil=True)
def _voxel_kernel(x, y, t, p, grid, num_bins, height, width):  # pragma: no cover - compiled
    n = t.shape[0]
    t_first = t[0]
    span = t[n - 1] - t_first
    scale = (num_bins - 1) / span if span > 0 else float(num_bins - 1)
    # Dense windows (on average two or more events per pixel) go through the per-segment
    # accumulator, whose one small working set beats two scattered writes per event; sparse ones
    # cannot repay its fixed cost (zeroing and folding 2*H*W floats per bin).
    if n >= 2 * height * width:
        return _voxel_segmented(x, y, t, p, grid, t_first, scale, num_bins, height, width)
    return _voxel_direct(x, y, t, p, grid, 0, t_first, scale, num_bins, height, width)


@numba.njit(cache=True, nogil=True, inline="always")
def _scaled_time(t_i, t_first, scale, last):  # pragma: no cover - compiled
    """t* of one event in [0, B-1], or -1.0 for a timestamp outside [t[0], t[-1]] (unsorted input)."""
    tn = (t_i - t_first) * scale
    if not (tn >= 0.0 and tn <= last):
        # (t_last - t_first) * scale may round just above B-1; anything more is unsorted input.
        if not (tn >= 0.0 and tn <= last + 1e-6):
            return -1.0
        tn = float(last)
    return tn


@numba.njit(cache=True, nogil=True, inline="always")
def _polarity(p_i):  # pragma: no cover - compiled
    """+1.0 for ON (``p > 0``), -1.0 for OFF, as float32 and without a branch (polarities are random,
    and the grid is float32, so no conversion per update either)."""
    return np.float32(2 * np.int64(p_i > 0) - 1)


@numba.njit(cache=True, nogil=True)
def _voxel_direct(x, y, t, p, grid, start, t_first, scale, num_bins, height, width):  # pragma: no cover
    """Events ``start:`` added straight into both bins of the grid: two scattered writes per event."""
    plane = height * width
    last = num_bins - 1
    for i in range(start, t.shape[0]):
        xi = np.int64(x[i])
        yi = np.int64(y[i])
        if xi < 0 or xi >= width or yi < 0 or yi >= height:
            return _BAD_XY
        tn = _scaled_time(t[i], t_first, scale, last)
        if tn < 0.0:
            return _BAD_T
        b = np.int64(tn)
        pol = _polarity(p[i])
        upper = pol * np.float32(tn - b)
        idx = b * plane + yi * width + xi
        grid[idx] += pol - upper
        if b < last:
            grid[idx + plane] += upper
    return _OK


@numba.njit(cache=True, nogil=True)
def _voxel_segmented(x, y, t, p, grid, t_first, scale, num_bins, height, width):  # pragma: no cover
    """The same sums, one segment [b, b+1) of scaled time at a time.

    Within segment b every event adds ``pol - pol*f`` to bin b and ``pol*f`` to bin b+1, so it is
    enough to collect ``S0 = sum(pol)`` and ``S1 = sum(pol*f)`` per pixel, interleaved in one
    (H*W, 2) buffer: one cache line per event in a working set of 2*H*W floats instead of two
    lines in the whole grid. When b changes the buffer is folded into the grid (bin b gets
    S0 - S1, bin b+1 gets S1). Sorted timestamps change b at most B-1 times; if b ever goes back
    (unsorted input), the rest of the events take the direct path.

    The hot loop never converts t* to an integer: ``f = t* - b`` is exact (Sterbenz) and equals
    frac(t*) exactly when ``0 <= f < 1``, so that one test finds the segment's end, unsorted
    input and out-of-range times together; anything else goes to the slow path, which does what
    :func:`_voxel_direct` does. In the last segment the bound is the smallest positive float, so
    a t* rounded just above B-1 also takes the slow path and is clamped there. The sums are bit
    for bit those of testing ``floor(t*)`` per event.
    """
    plane = height * width
    last = num_bins - 1
    sums = np.zeros(2 * plane, np.float32)
    # Unsigned coordinates: one compare catches negative values too, and numba then skips its
    # negative-index wraparound on every buffer access (about 15 % of the loop).
    u_width = np.uint64(width)
    u_height = np.uint64(height)
    segment = -1
    segment_start = 0.0
    bound = -1.0  # nothing passes the test below until the slow path has set the first segment
    for i in range(t.shape[0]):
        xi = np.uint64(np.int64(x[i]))
        yi = np.uint64(np.int64(y[i]))
        if (xi >= u_width) | (yi >= u_height):
            return _BAD_XY
        f = (t[i] - t_first) * scale - segment_start
        if not ((f >= 0.0) & (f < bound)):
            tn = _scaled_time(t[i], t_first, scale, last)
            if tn < 0.0:
                return _BAD_T
            b = np.int64(tn)
            if b != segment:
                if segment >= 0:
                    _fold_segment(sums, grid, segment, plane, last)
                if b < segment:
                    return _voxel_direct(x, y, t, p, grid, i, t_first, scale, num_bins, height, width)
                segment = b
                segment_start = float(b)
                bound = 1.0 if b < last else 5e-324
            f = tn - segment_start
        pol = _polarity(p[i])
        j = np.uint64(2) * (yi * u_width + xi)
        sums[j] += pol
        sums[j + np.uint64(1)] += pol * np.float32(f)
    if segment >= 0:
        _fold_segment(sums, grid, segment, plane, last)
    return _OK


@numba.njit(cache=True, nogil=True)
def _fold_segment(sums, grid, segment, plane, last):  # pragma: no cover - compiled
    """Add segment ``segment``'s (S0, S1) sums into bins ``segment`` and ``segment + 1``; zero them."""
    base = segment * plane
    for k in range(plane):
        s0 = sums[2 * k]
        s1 = sums[2 * k + 1]
        grid[base + k] += s0 - s1
        if segment < last:
            grid[base + plane + k] += s1
        sums[2 * k] = 0.0
        sums[2 * k + 1] = 0.0


@numba.njit(cache=True, nogil=True)
def _sbt_kernel(x, y, t, p, acc, num_bins, height, width, t_start, t_end):  # pragma: no cover
    plane = height * width
    bin_s = (t_end - t_start) / num_bins
    sign = np.array([-1, 1], np.int32)
    for i in range(t.shape[0]):
        xi = np.int64(x[i])
        yi = np.int64(y[i])
        if xi < 0 or xi >= width or yi < 0 or yi >= height:
            return _BAD_XY
        # Bin k holds (t_start + k*dt, t_start + (k+1)*dt]; an event exactly at t_start joins bin 0.
        b = np.int64(np.ceil((t[i] - t_start) / bin_s)) - 1 if bin_s > 0 else num_bins - 1
        if b < 0:
            b = 0
        if b >= num_bins:
            b = num_bins - 1
        acc[b * plane + yi * width + xi] += sign[np.int64(p[i] > 0)]
    return _OK


@numba.njit(cache=True, nogil=True)
def _counts_kernel(x, y, p, counts, height, width):  # pragma: no cover - compiled
    plane = height * width
    channel = np.array([plane, 0])  # OFF counts in channel 1, ON in channel 0
    for i in range(x.shape[0]):
        xi = np.int64(x[i])
        yi = np.int64(y[i])
        if xi < 0 or xi >= width or yi < 0 or yi >= height:
            return _BAD_XY
        counts[channel[np.int64(p[i] > 0)] + yi * width + xi] += 1.0
    return _OK


@numba.njit(cache=True, nogil=True)
def _zero(a):  # pragma: no cover - compiled
    """``a[:] = 0`` as one memset (numpy's fill takes a strided path about 4x slower) and without the GIL."""
    a[:] = 0


def _as_kernel_input(a: np.ndarray) -> np.ndarray:
    """A 1-D array numba can read; bool polarity is viewed as uint8 (no copy, input untouched)."""
    a = np.asarray(a)
    if a.ndim != 1:
        raise ValueError(f"event arrays must be 1-D, got shape {a.shape}")
    return a.view(np.uint8) if a.dtype == np.bool_ else a


def _check(*arrays: np.ndarray) -> tuple[np.ndarray, ...]:
    arrays = tuple(_as_kernel_input(a) for a in arrays)
    if len({a.shape[0] for a in arrays}) != 1:
        raise ValueError(f"event arrays must have the same length, got {[a.shape[0] for a in arrays]}")
    return arrays


def _raise_for(code: int, height: int, width: int, what: str) -> None:
    if code == _BAD_XY:
        raise ValueError(f"{what}: event coordinates outside the {width}x{height} sensor")
    if code == _BAD_T:
        raise ValueError(f"{what}: timestamps must be sorted (each t within [t[0], t[-1]])")


def _check_sizes(num_bins: int | None, height: int, width: int) -> None:
    if num_bins is not None and num_bins < 1:
        raise ValueError(f"num_bins must be >= 1, got {num_bins}")
    if height < 1 or width < 1:
        raise ValueError(f"height and width must be >= 1, got {height}x{width}")


def normalize_voxel(grid: np.ndarray) -> np.ndarray:
    """Zhu et al. normalisation: non-zero voxels get zero mean and unit std (zeros stay zero).

    Args:
        grid: float32 (B, H, W); not modified.

    Returns:
        float32 (B, H, W), a new array.
    """
    out = grid.copy()
    nonzero = out != 0
    if nonzero.any():
        values = out[nonzero].astype(np.float64)
        std = values.std()
        out[nonzero] = (values - values.mean()) / (std if std > 0 else 1.0)
    return out


def events_to_voxel(x, y, t, p, num_bins: int, height: int, width: int, *,
                    normalize: bool = False, out: np.ndarray | None = None) -> np.ndarray:
    """Voxel grid with bilinear interpolation in time (Zhu et al. 2019).

    ``t* = (B-1)(t - t_first)/(t_last - t_first)`` (denominator 1 when all timestamps are equal);
    each event adds ``p*(1-frac(t*))`` to bin ``floor(t*)`` and ``p*frac(t*)`` to the next bin,
    with p in {-1, +1}. ``t_first``/``t_last`` are the first and last events, so ``t`` must be
    sorted; with B >= 2 every timestamp outside ``[t[0], t[-1]]`` raises ``ValueError`` (checked for
    free; with B = 1 time does not enter the grid and is not checked).

    Args:
        x, y: (N,) pixel coordinates, any int or float dtype (truncated to int).
        t: (N,) timestamps, any unit, sorted; float64 for absolute Unix times.
        p: (N,) polarity, {-1, +1}, {0, 1} or bool; ``p > 0`` is ON.
        num_bins: B >= 1.
        height, width: sensor size in pixels.
        normalize: apply :func:`normalize_voxel`.
        out: optional C-contiguous float32 (B, H, W) array to fill (overwritten, returned
            unless ``normalize``); reusing one spares a fresh array's page faults.

    Returns:
        float32 (B, H, W); zeros for an empty input.

    Example:
        >>> import numpy as np
        >>> v = events_to_voxel(np.array([0, 1]), np.array([0, 0]), np.array([0.0, 1.0]),
        ...                     np.array([1, -1]), 2, 1, 2)
        >>> v.tolist()
        [[[1.0, 0.0]], [[0.0, -1.0]]]
    """
    _check_sizes(num_bins, height, width)
    x, y, t, p = _check(x, y, t, p)
    if out is None:
        grid = np.zeros(num_bins * height * width, np.float32)
    else:
        if out.shape != (num_bins, height, width) or out.dtype != np.float32 or not out.flags.c_contiguous:
            raise ValueError(f"out must be a C-contiguous float32 array of shape {(num_bins, height, width)}, "
                             f"got {out.dtype} {out.shape}")
        grid = out.reshape(-1)
        _zero(grid)
    if t.shape[0]:
        _raise_for(_voxel_kernel(x, y, t, p, grid, num_bins, height, width), height, width, "events_to_voxel")
    grid = grid.reshape(num_bins, height, width) if out is None else out
    return normalize_voxel(grid) if normalize else grid


def events_to_sbt(x, y, t, p, num_bins: int, height: int, width: int, *,
                  t_start: float | None = None, t_end: float | None = None) -> np.ndarray:
    """SBT (stacking based on time): B equal-time bins, pixel value ``sign(sum of polarities)``.

    Bin k covers ``(t_start + k*dt, t_start + (k+1)*dt]`` with ``dt = (t_end - t_start)/B``;
    events before the window join bin 0 and after it bin B-1. ``t`` need not be sorted.

    Args:
        x, y, t, p: (N,) events as for :func:`events_to_voxel`.
        num_bins: B >= 1.
        height, width: sensor size in pixels.
        t_start, t_end: window bounds in the unit of ``t``; default first and last timestamps.

    Returns:
        float32 (B, H, W) with values in {-1, 0, +1}.
    """
    _check_sizes(num_bins, height, width)
    x, y, t, p = _check(x, y, t, p)
    acc = np.zeros(num_bins * height * width, np.int32)
    if t.shape[0]:
        t_start = float(t[0]) if t_start is None else float(t_start)
        t_end = float(t[-1]) if t_end is None else float(t_end)
        code = _sbt_kernel(x, y, t, p, acc, num_bins, height, width, t_start, t_end)
        _raise_for(code, height, width, "events_to_sbt")
    return np.sign(acc).astype(np.float32).reshape(num_bins, height, width)


def events_to_counts(x, y, p, height: int, width: int) -> np.ndarray:
    """Per-pixel event counts, ON in channel 0 and OFF in channel 1.

    Args:
        x, y, p: (N,) events as for :func:`events_to_voxel`.
        height, width: sensor size in pixels.

    Returns:
        float32 (2, H, W).
    """
    _check_sizes(None, height, width)
    x, y, p = _check(x, y, p)
    counts = np.zeros(2 * height * width, np.float32)
    if x.shape[0]:
        _raise_for(_counts_kernel(x, y, p, counts, height, width), height, width, "events_to_counts")
    return counts.reshape(2, height, width)
