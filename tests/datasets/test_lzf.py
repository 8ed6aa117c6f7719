"""The numba LZF encoder produces chunks h5py's standard lzf filter decodes exactly."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from datasets.lzf import lzf_compress


def _round_trip(tmp_path, arrays):
    shape = arrays[0].shape
    with h5py.File(tmp_path / "t.h5", "w", libver="latest") as f:
        ds = f.create_dataset("a", (len(arrays), *shape), arrays[0].dtype, chunks=(1, *shape), compression="lzf")
        for i, a in enumerate(arrays):
            ds.id.write_direct_chunk((i,) + (0,) * len(shape), lzf_compress(a))
    with h5py.File(tmp_path / "t.h5", "r") as f:
        return [f["a"][i] for i in range(len(arrays))]


def test_sparse_dense_nan_and_bool(tmp_path):
    rng = np.random.default_rng(0)
    sparse = np.zeros((5, 26, 35), np.float32)
    sparse.ravel()[rng.integers(0, sparse.size, 300)] = rng.normal(size=300)
    arrays = [sparse, np.zeros_like(sparse), np.full_like(sparse, np.nan), rng.random(sparse.shape).astype(np.float32)]
    for got, ref in zip(_round_trip(tmp_path, arrays), arrays, strict=True):
        assert np.array_equal(got, ref, equal_nan=True)
    mask = rng.random((7, 9)) > 0.9  # 63 bytes: not a multiple of 4
    assert np.array_equal(_round_trip(tmp_path, [mask])[0], mask)
    assert len(lzf_compress(sparse)) < sparse.nbytes / 5


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from([0, 0, 0, 1, 255, 7]), min_size=1, max_size=3000))
def test_arbitrary_byte_runs_decode(tmp_path_factory, values):
    data = np.array(values, np.uint8)
    assert np.array_equal(_round_trip(tmp_path_factory.mktemp("lzf"), [data])[0], data)


def test_encode_chunk_stores_incompressible_raw(tmp_path):
    from datasets.lzf import encode_chunk

    rng = np.random.default_rng(3)
    noise = rng.random((20, 30)).astype(np.float32)
    sparse = np.zeros((20, 30), np.float32)
    sparse[3, 4] = 2.5
    assert encode_chunk(noise)[0] == 1 and encode_chunk(sparse)[0] == 0
    with h5py.File(tmp_path / "m.h5", "w") as f:
        ds = f.create_dataset("a", (2, 20, 30), np.float32, chunks=(1, 20, 30), compression="lzf")
        for i, a in enumerate((noise, sparse)):
            mask, data = encode_chunk(a)
            ds.id.write_direct_chunk((i, 0, 0), data, mask)
    with h5py.File(tmp_path / "m.h5", "r") as f:
        assert np.array_equal(f["a"][0], noise) and np.array_equal(f["a"][1], sparse)


def _sparse_round_trip(tmp_path, array):
    from datasets.lzf import encode_sparse_chunk

    mask, data = encode_sparse_chunk(array)
    data = np.array(data)  # the encoder's buffer is reused by its next call
    with h5py.File(tmp_path / "s.h5", "w") as f:
        ds = f.create_dataset("a", (1, *array.shape), array.dtype, chunks=(1, *array.shape), compression="lzf")
        ds.id.write_direct_chunk((0,) * (array.ndim + 1), data, mask)
    with h5py.File(tmp_path / "s.h5", "r") as f:
        return f["a"][0], mask, data.nbytes


def _sparse_grid(rng, planes, height, width, n_hits, density):
    hits = np.unique(rng.integers(0, height * width, n_hits))
    grid = np.zeros((planes, height, width), np.float32)
    for c in range(planes):
        on = hits[rng.random(hits.size) < density]
        grid[c].ravel()[on] = rng.normal(size=on.size).astype(np.float32)
    return grid


def test_sparse_encoder_decodes_exactly_and_beats_the_dense_one(tmp_path):
    from datasets.lzf import encode_chunk

    rng = np.random.default_rng(5)
    for n_hits in (0, 1, 40, 15_000, 80_000):
        grid = _sparse_grid(rng, 5, 260, 346, n_hits, 0.4)
        back, mask, size = _sparse_round_trip(tmp_path, grid)
        assert np.array_equal(back, grid), n_hits
        if n_hits == 15_000:  # a 50 ms MVSEC-rate window: isolated words cost ~8 bytes, not ~12
            assert mask == 0 and size < 0.75 * len(encode_chunk(grid)[1])


@settings(max_examples=80, deadline=None)
@given(st.integers(1, 4), st.integers(1, 40), st.integers(1, 90), st.integers(0, 400), st.floats(0.0, 1.0),
       st.integers(0, 2**31))
def test_sparse_encoder_round_trip_any_layout(tmp_path_factory, planes, height, width, n_hits, density, seed):
    # Long zero runs (> 264 bytes, > 8192 bytes so no earlier zero stretch is in reach), runs of
    # one word, odd word counts, non-zero first and last words, all-zero grids.
    rng = np.random.default_rng(seed)
    grid = _sparse_grid(rng, planes, height, width, n_hits, density)
    back, _, _ = _sparse_round_trip(tmp_path_factory.mktemp("sparse"), grid)
    assert np.array_equal(back, grid)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from([0, 0, 0, 0, 0, 0, 1, 255]), min_size=1, max_size=3000))
def test_sparse_encoder_any_bytes(tmp_path_factory, values):
    n = max(len(values) - len(values) % 4, 4)  # whole 4-byte words
    data = np.array((values + [0, 0, 0])[:n], np.uint8)
    back, _, _ = _sparse_round_trip(tmp_path_factory.mktemp("sparse_bytes"), data)
    assert np.array_equal(back, data)


def test_sparse_encoder_checks_its_input_and_stores_noise_raw():
    from datasets.lzf import encode_sparse_chunk

    with pytest.raises(ValueError, match="4-byte words"):
        encode_sparse_chunk(np.zeros(7, np.uint8))
    noise = np.random.default_rng(1).random((3, 8)).astype(np.float32)
    mask, data = encode_sparse_chunk(noise)
    assert mask == 1 and bytes(data) == noise.tobytes()


def test_sparse_encoder_zero_run_after_a_long_dense_stretch(tmp_path):
    # The earlier zero stretch is then more than 8192 bytes back, out of LZF's reach.
    rng = np.random.default_rng(7)
    for dense_words in (2040, 2046, 2047, 2048, 2300, 5000):
        data = np.zeros(300 + dense_words + 20_000, np.float32)  # compressible overall: not stored raw
        data[300:300 + dense_words] = rng.random(dense_words).astype(np.float32) + 1.0
        back, mask, _ = _sparse_round_trip(tmp_path, data)
        assert mask == 0 and np.array_equal(back, data), dense_words
