"""events_to_voxel / events_to_sbt / events_to_counts against independent numpy and hand-worked values."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datasets.representations import events_to_counts, events_to_sbt, events_to_voxel, normalize_voxel


def voxel_reference(x, y, t, p, num_bins, height, width):
    """The Zhu et al. formula written independently, one event at a time, in float64."""
    grid = np.zeros((num_bins, height, width))
    if len(t) == 0:
        return grid
    t = np.asarray(t, dtype=np.float64)
    span = t[-1] - t[0]
    for xi, yi, ti, pi in zip(x, y, t, p, strict=True):
        tn = (num_bins - 1) * (ti - t[0]) / (span if span != 0 else 1.0)
        pol = 1.0 if pi > 0 else -1.0
        lower = int(np.floor(tn))
        for b in (lower, lower + 1):
            if 0 <= b < num_bins:
                grid[b, int(yi), int(xi)] += pol * max(0.0, 1.0 - abs(tn - b))
    return grid


@st.composite
def event_sets(draw):
    height, width = draw(st.integers(1, 6)), draw(st.integers(1, 7))
    n = draw(st.integers(0, 60))
    x = np.array(draw(st.lists(st.integers(0, width - 1), min_size=n, max_size=n)), dtype=np.int64)
    y = np.array(draw(st.lists(st.integers(0, height - 1), min_size=n, max_size=n)), dtype=np.int64)
    base = draw(st.sampled_from([0.0, 1.5e9]))
    steps = draw(st.lists(st.sampled_from([0.0, 1e-6, 1e-3, 0.01, 0.3]), min_size=n, max_size=n))
    t = base + np.cumsum(np.array(steps, dtype=np.float64))
    encoding = draw(st.sampled_from(["pm1", "01", "bool"]))
    on = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)), dtype=bool)
    p = {"pm1": np.where(on, 1, -1).astype(np.int8), "01": on.astype(np.uint8), "bool": on}[encoding]
    return x, y, t, p, draw(st.integers(1, 6)), height, width


@settings(max_examples=300, deadline=None)
@given(event_sets())
def test_voxel_matches_numpy_reference(case):
    x, y, t, p, num_bins, height, width = case
    copies = [a.copy() for a in (x, y, t, p)]
    got = events_to_voxel(x, y, t, p, num_bins, height, width)
    assert got.dtype == np.float32 and got.shape == (num_bins, height, width)
    np.testing.assert_allclose(got, voxel_reference(x, y, t, p, num_bins, height, width), atol=1e-5, rtol=1e-5)
    for a, b in zip((x, y, t, p), copies, strict=True):
        np.testing.assert_array_equal(a, b)


def test_voxel_large_random_against_reference_vectorised():
    rng = np.random.default_rng(1)
    n, num_bins, height, width = 200_000, 5, 26, 34
    x, y = rng.integers(0, width, n), rng.integers(0, height, n)
    t = 1.5e9 + np.sort(rng.random(n)) * 0.05
    p = rng.choice([-1, 1], n)
    tn = (num_bins - 1) * (t - t[0]) / (t[-1] - t[0])
    lower = np.floor(tn).astype(int)
    ref = np.zeros(num_bins * height * width)
    idx = y * width + x
    np.add.at(ref, lower * height * width + idx, p * (1 - (tn - lower)))
    upper = lower + 1 < num_bins
    np.add.at(ref, (lower[upper] + 1) * height * width + idx[upper], (p * (tn - lower))[upper])
    got = events_to_voxel(x.astype(np.float64), y.astype(np.float64), t, p.astype(np.float64), num_bins, height, width)
    np.testing.assert_allclose(got.ravel(), ref, atol=1e-4, rtol=1e-5)


def test_voxel_dense_and_sparse_paths_agree_with_reference_in_any_time_order():
    # events_to_voxel sums dense windows (>= 2 events per pixel) per time segment and sparse ones
    # event by event; times that go back within [t[0], t[-1]] make the segment path hand over.
    rng = np.random.default_rng(3)
    height, width, num_bins = 3, 4, 4
    for n in (5, 23, 24, 400):
        x, y = rng.integers(0, width, n), rng.integers(0, height, n)
        p = rng.choice([-1, 1], n)
        for t in (np.sort(rng.random(n)), np.r_[0.0, rng.random(n - 2), 1.0]):
            got = events_to_voxel(x, y, t, p, num_bins, height, width)
            np.testing.assert_allclose(got, voxel_reference(x, y, t, p, num_bins, height, width), atol=1e-5)


def test_voxel_edge_cases():
    assert not events_to_voxel([], [], [], [], 3, 2, 2).any()
    one = events_to_voxel(np.array([1]), np.array([0]), np.array([5.0]), np.array([1]), 3, 1, 2)
    assert one[0, 0, 1] == 1.0 and one.sum() == 1.0  # single event: t* = 0
    same = events_to_voxel(np.array([0, 0]), np.array([0, 0]), np.array([2.0, 2.0]), np.array([0, 1]), 2, 1, 1)
    assert same.tolist() == [[[0.0]], [[0.0]]]  # -1 + 1 in bin 0, denominator 1
    last = events_to_voxel(np.array([0, 0]), np.array([0, 0]), np.array([0.0, 1.0]), np.array([1, 1]), 4, 1, 1)
    assert last[:, 0, 0].tolist() == [1.0, 0.0, 0.0, 1.0]  # the last event lands in bin B-1, not dropped
    half = events_to_voxel(np.zeros(3), np.zeros(3), np.array([0.0, 0.25, 1.0]), np.ones(3), 3, 1, 1)
    assert half[:, 0, 0].tolist() == [1.5, 0.5, 1.0]  # t* = 0.5 splits evenly between bins 0 and 1


def test_voxel_rejects_unsorted_and_outside():
    with pytest.raises(ValueError, match="sorted"):
        events_to_voxel(np.zeros(3), np.zeros(3), np.array([0.0, 2.0, 1.0]), np.ones(3), 2, 1, 1)
    # Dense windows (here 4 events on 1 pixel), once the last segment has started: a time past
    # t[-1] by more than rounding is still refused.
    with pytest.raises(ValueError, match="sorted"):
        events_to_voxel(np.zeros(4), np.zeros(4), np.array([0.0, 1.0, 1.5, 1.0]), np.ones(4), 2, 1, 1)
    with pytest.raises(ValueError, match="sorted"):
        events_to_voxel(np.zeros(4), np.zeros(4), np.array([0.0, 1.0, 1.0 + 2e-6, 1.0]), np.ones(4), 2, 1, 1)
    with pytest.raises(ValueError, match="outside"):
        events_to_voxel(np.array([2]), np.array([0]), np.array([0.0]), np.ones(1), 2, 1, 2)
    with pytest.raises(ValueError, match="same length"):
        events_to_voxel(np.zeros(2), np.zeros(3), np.zeros(3), np.ones(3), 2, 1, 1)


def test_voxel_accepts_non_contiguous_views():
    table = np.array([[0, 0, 0.0, 1], [1, 0, 0.5, -1], [1, 0, 1.0, 1]])
    got = events_to_voxel(table[:, 0], table[:, 1], table[:, 2], table[:, 3], 2, 1, 2)
    assert got[:, 0, :].tolist() == [[1.0, -0.5], [0.0, 0.5]]


def test_normalize_only_nonzero():
    grid = np.zeros((2, 1, 3), np.float32)
    grid[0, 0, :2] = [1.0, 3.0]
    out = normalize_voxel(grid)
    assert out[0, 0].tolist() == [-1.0, 1.0, 0.0] and not out[1].any()
    assert grid[0, 0, 1] == 3.0  # input untouched
    ev = events_to_voxel(np.array([0, 1]), np.array([0, 0]), np.array([0.0, 1.0]), np.array([1, 1]), 1, 1, 2,
                         normalize=True)
    assert ev.tolist() == [[[0.0, 0.0]]] or np.allclose(ev[ev != 0].mean(), 0)


def test_sbt_hand_worked():
    # 10 ms window ending at 1.010 s, 2 bins of 5 ms: (1.000, 1.005] and (1.005, 1.010].
    x = np.array([0, 0, 0, 1, 1])
    y = np.zeros(5, int)
    t = np.array([1.001, 1.003, 1.005, 1.006, 1.010])
    p = np.array([1, 1, -1, -1, 0], np.uint8 if False else np.int64)
    got = events_to_sbt(x, y, t, p, 2, 1, 2, t_start=1.0, t_end=1.010)
    # pixel 0, bin 0: +1 +1 -1 -> +1; pixel 1, bin 1: -1 + (p=0 -> OFF) -1 -> -1
    assert got.tolist() == [[[1.0, 0.0]], [[0.0, -1.0]]]
    cancel = events_to_sbt(np.zeros(2, int), np.zeros(2, int), np.array([0.1, 0.2]), np.array([True, False]), 1, 1, 1)
    assert cancel.tolist() == [[[0.0]]]
    assert not events_to_sbt([], [], [], [], 3, 2, 2).any()


def test_counts_hand_worked():
    x = np.array([0, 0, 1, 1, 1])
    y = np.array([0, 0, 1, 1, 0])
    p = np.array([1, 1, -1, 1, -1])
    got = events_to_counts(x, y, p, 2, 2)
    assert got[0].tolist() == [[2.0, 0.0], [0.0, 1.0]]
    assert got[1].tolist() == [[0.0, 1.0], [0.0, 1.0]]
    with pytest.raises(ValueError, match="outside"):
        events_to_counts(np.array([0]), np.array([2]), np.array([1]), 2, 2)


def test_voxel_out_buffer_is_overwritten_and_checked():
    rng = np.random.default_rng(2)
    x, y = rng.integers(0, 6, 50), rng.integers(0, 4, 50)
    t, p = np.sort(rng.random(50)), rng.choice([-1, 1], 50)
    out = np.full((3, 4, 6), 9.0, np.float32)  # stale values must not survive
    got = events_to_voxel(x, y, t, p, 3, 4, 6, out=out)
    assert got is out
    assert np.array_equal(out, events_to_voxel(x, y, t, p, 3, 4, 6))
    with pytest.raises(ValueError, match="out must be"):
        events_to_voxel(x, y, t, p, 3, 4, 6, out=np.zeros((3, 4, 5), np.float32))



def segment_sums_reference(x, y, t, p, num_bins, height, width):
    """The per-segment (S0, S1) algorithm transcribed one float32 operation at a time in Python.

    Within segment b = floor(t*), each pixel collects S0 = sum(pol) and S1 = sum(pol * frac(t*));
    on a change of b, bin b gets S0 - S1 and bin b+1 gets S1. A t* that rounds past B-1 is
    clamped; when b goes back, the remaining events are added one by one to both bins.
    """
    f32 = np.float32
    plane, last = height * width, num_bins - 1
    span = t[-1] - t[0]
    scale = (num_bins - 1) / span if span > 0 else float(num_bins - 1)
    grid = np.zeros(num_bins * plane, f32)
    s0, s1 = np.zeros(plane, f32), np.zeros(plane, f32)
    segment, direct = -1, False

    def fold():
        for k in range(plane):
            grid[segment * plane + k] = f32(grid[segment * plane + k] + f32(s0[k] - s1[k]))
            if segment < last:
                grid[(segment + 1) * plane + k] = f32(grid[(segment + 1) * plane + k] + s1[k])
        s0[:], s1[:] = 0, 0

    for xi, yi, ti, pi in zip(x, y, t, p, strict=True):
        tn = min((ti - t[0]) * scale, float(last))
        b, pol, k = int(tn), f32(1.0 if pi > 0 else -1.0), int(yi) * width + int(xi)
        if not direct and b != segment:
            if segment >= 0:
                fold()
            direct, segment = b < segment, b
        if direct:
            upper = f32(pol * f32(tn - b))
            grid[b * plane + k] = f32(grid[b * plane + k] + f32(pol - upper))
            if b < last:
                grid[(b + 1) * plane + k] = f32(grid[(b + 1) * plane + k] + upper)
        else:
            s0[k] = f32(s0[k] + pol)
            s1[k] = f32(s1[k] + f32(pol * f32(tn - b)))
    if not direct and segment >= 0:
        fold()
    return grid


@settings(max_examples=300, deadline=None)
@given(event_sets(), st.booleans())
def test_voxel_segment_kernel_is_bitwise_the_segment_algorithm(case, shuffle):
    # The dense path tests segment membership without converting t* to an integer; it must give
    # exactly the floats of the plain per-segment algorithm, including t* rounded to B-1 and
    # times going back.
    from datasets.representations import _voxel_segmented

    x, y, t, p, num_bins, height, width = case
    if len(t) == 0:
        return
    if shuffle and len(t) > 2:
        t = np.r_[t[0], np.random.default_rng(len(t)).permutation(t[1:-1]), t[-1]]
    span = t[-1] - t[0]
    scale = (num_bins - 1) / span if span > 0 else float(num_bins - 1)
    grid = np.zeros(num_bins * height * width, np.float32)
    assert _voxel_segmented(x, y, t, p.view(np.uint8) if p.dtype == bool else p, grid, t[0], scale,
                            num_bins, height, width) == 0
    np.testing.assert_array_equal(grid, segment_sums_reference(x, y, t, p, num_bins, height, width))


def test_voxel_segment_kernel_clamps_times_rounded_past_the_last_bin():
    # t* may exceed B-1 by rounding (up to 1e-6): for these windows (t_last - t0) * ((B-1)/span)
    # is one ulp above B-1, and in the last one an event lies a hair after t_last. Each such event
    # must count as t* = B-1 exactly (weight 1 in bin B-1), as in the plain algorithm.
    from datasets.representations import _voxel_segmented

    for t0, t1, num_bins, hair in ((1500000039.5091708, 1500000039.596523, 4, 0.0),
                                   (1500000091.2621934, 1500000091.3387852, 6, 0.0),
                                   (0.1, 0.7, 5, 1e-7)):
        scale = (num_bins - 1) / (t1 - t0)
        assert (t1 - t0) * scale > num_bins - 1 or (t1 + hair - t0) * scale > num_bins - 1  # the case at stake
        t = np.r_[np.linspace(t0, t1, 50)[:-1], np.full(5, t1), t1 + hair, t1]
        x, p = np.zeros(t.size, np.int64), np.r_[np.ones(53, np.int8), -1, 1, -1]
        grid = np.zeros(num_bins, np.float32)
        assert _voxel_segmented(x, x, t, p, grid, t0, scale, num_bins, 1, 1) == 0
        np.testing.assert_array_equal(grid, segment_sums_reference(x, x, t, p, num_bins, 1, 1))
