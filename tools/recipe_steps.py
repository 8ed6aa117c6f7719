"""Helpers shared by the reproduction recipes: run a ``stereo`` command in-process, subset caches."""

from __future__ import annotations

import shlex
from collections.abc import Iterable
from pathlib import Path


def run_stereo(*args: object) -> None:
    """Run one ``stereo`` command in this process, printing it first as a shell line.

    Raises:
        RuntimeError: the command exited with a non-zero status (its one-line error is on stderr).
    """
    from stereo.cli import main

    argv = [str(a) for a in args]
    print("$ stereo " + shlex.join(argv), flush=True)
    try:
        main(argv)
    except SystemExit as exc:
        if exc.code not in (0, None):
            raise RuntimeError(f"step failed (exit {exc.code}): stereo {shlex.join(argv)}") from None


def write_subset_cache(source: str | Path, target: str | Path, frame_indices: Iterable[int]) -> int:
    """Copy the frames of a ``stereo preprocess`` cache whose GT frame index is in ``frame_indices``.

    Frames are copied one at a time (bounded memory) with the source's chunking and compression,
    in source order; the attributes are kept. The file appears atomically.

    Returns:
        The number of frames written.

    Raises:
        ValueError: none of the wanted frames is in the cache.
    """
    import h5py
    import numpy as np

    from datasets.atomic import atomic_output
    from datasets.cache import StereoCache

    wanted = {int(k) for k in frame_indices}
    with StereoCache(source) as cache:
        rows = [i for i, k in enumerate(cache.frame_index) if int(k) in wanted]
        if not rows:
            raise ValueError(f"{source} holds none of the {len(wanted)} wanted frames")
        src = cache.h5
        with atomic_output(target) as tmp, h5py.File(tmp, "w") as dst:
            for name, data in src.items():
                out = dst.create_dataset(name, shape=(len(rows), *data.shape[1:]), dtype=data.dtype,
                                         chunks=data.chunks if data.ndim > 1 else None,
                                         compression=data.compression if data.ndim > 1 else None)
                if data.ndim > 1:
                    for j, i in enumerate(rows):
                        out[j] = data[i]
                else:
                    out[...] = np.asarray(data[...])[rows]
            dst.attrs.update(dict(src.attrs))
    return len(rows)
