"""The numba LZF encoder produces chunks h5py's standard lzf filter decodes exactly."""

from __future__ import annotations

import h5py
import numpy as np
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
