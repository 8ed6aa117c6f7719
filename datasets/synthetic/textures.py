"""Procedural, tileable, band-limited textures and their packed mip-map atlas.

Every texture is periodic on its square tile (so wrap-around sampling shows no seam) and is
blurred slightly so that its finest detail spans about two texels: the renderer samples it
with trilinear mip-mapping, so neither near nor far surfaces alias into flickering events.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TEXTURE_KINDS = ("noise", "stripes", "checkers", "blobs", "cells")


def _periodic_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur with wrap-around borders (via the FFT); ``image`` is (N, N)."""
    n = image.shape[0]
    freq = np.fft.fftfreq(n)
    gain = np.exp(-2.0 * (np.pi * sigma) ** 2 * (freq[:, None] ** 2 + freq[None, :] ** 2))
    return np.fft.ifft2(np.fft.fft2(image) * gain).real


def _value_noise(rng: np.random.Generator, size: int, *, finest_cell: int, coarsest_cell: int,
                 roughness: float) -> np.ndarray:
    """Multi-octave periodic value noise on an (size, size) tile, values of any range."""
    out = np.zeros((size, size))
    cell = coarsest_cell
    while cell >= finest_cell:
        grid = rng.random((size // cell, size // cell))
        pos = np.arange(size) / cell
        i0 = np.floor(pos).astype(np.int64)
        frac = pos - i0
        smooth = frac * frac * (3.0 - 2.0 * frac)
        i0 %= grid.shape[0]
        i1 = (i0 + 1) % grid.shape[0]
        rows = grid[:, i0] * (1.0 - smooth) + grid[:, i1] * smooth
        out += (rows[i0, :] * (1.0 - smooth[:, None]) + rows[i1, :] * smooth[:, None]) * cell**roughness
        cell //= 2
    return out


def _square_wave(rng: np.random.Generator, size: int, kx: int, ky: int) -> np.ndarray:
    """A soft square wave along the integer wave vector (kx, ky), periodic on the tile, in [-1, 1]."""
    yy, xx = np.mgrid[0:size, 0:size]
    phase = 2.0 * np.pi * (kx * xx + ky * yy) / size + rng.uniform(0, 2 * np.pi)
    sharpness = rng.uniform(1.5, 8.0)
    duty = rng.uniform(-0.4, 0.4)
    return np.tanh(sharpness * (np.sin(phase) - duty))


def _wave_vector(rng: np.random.Generator, size: int, min_period: float, max_period: float) -> tuple[int, int]:
    """Integer wave numbers whose period (texels) lies in the range, at a random orientation."""
    period = np.exp(rng.uniform(np.log(min_period), np.log(max_period)))
    angle = rng.uniform(0, np.pi)
    k = size / period
    kx, ky = int(round(k * np.cos(angle))), int(round(k * np.sin(angle)))
    if kx == 0 and ky == 0:
        kx = 1
    return kx, ky


def _blobs(rng: np.random.Generator, size: int) -> np.ndarray:
    """Random bright and dark disks of a few radii (periodic)."""
    out = np.zeros((size, size))
    yy, xx = np.mgrid[0:size, 0:size]
    dist = np.hypot(np.minimum(xx, size - xx), np.minimum(yy, size - yy))
    for _ in range(rng.integers(1, 4)):
        radius = np.exp(rng.uniform(np.log(3.0), np.log(size / 8)))
        count = int(np.clip(rng.uniform(0.05, 0.6) * size**2 / (np.pi * radius**2), 3, 400))
        deltas = np.zeros((size, size))
        np.add.at(deltas, (rng.integers(0, size, count), rng.integers(0, size, count)),
                  rng.choice([-1.0, 1.0], count) * rng.uniform(0.3, 1.0, count))
        disk = (dist <= radius).astype(float)
        out += np.fft.ifft2(np.fft.fft2(deltas) * np.fft.fft2(disk)).real
    return out


def _cells(rng: np.random.Generator, size: int) -> np.ndarray:
    """Periodic Voronoi cells of random gray levels: straight edges at every orientation."""
    count = int(rng.integers(6, 80))
    seeds = rng.uniform(0, size, (count, 2))
    levels = rng.random(count)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    best = np.full((size, size), np.inf, dtype=np.float32)
    out = np.zeros((size, size))
    for (sy, sx), level in zip(seeds, levels, strict=True):
        dy = np.abs(yy - sy)
        dx = np.abs(xx - sx)
        d2 = np.minimum(dy, size - dy) ** 2 + np.minimum(dx, size - dx) ** 2
        closer = d2 < best
        best[closer] = d2[closer]
        out[closer] = level
    return out


def _normalise(image: np.ndarray) -> np.ndarray:
    lo, hi = np.percentile(image, [0.5, 99.5])
    return np.clip((image - lo) / max(hi - lo, 1e-9), 0.0, 1.0)


def make_texture(rng: np.random.Generator, size: int, kind: str | None = None) -> np.ndarray:
    """One random albedo texture, float32 (size, size) in [0.03, 1], periodic on its tile.

    Args:
        rng: the random generator (the only source of randomness).
        size: tile side in texels (a power of two, at least 16).
        kind: one of :data:`TEXTURE_KINDS`; random when None.

    Returns:
        The albedo, mean and contrast drawn at random, finest detail about two texels wide.
    """
    if kind is None:
        kind = str(rng.choice(TEXTURE_KINDS))
    if kind == "noise":
        base = _value_noise(rng, size, finest_cell=2, coarsest_cell=size // 4,
                            roughness=rng.uniform(0.3, 1.2))
    elif kind == "stripes":
        base = _square_wave(rng, size, *_wave_vector(rng, size, 5.0, size / 3))
    elif kind == "checkers":
        kx, ky = _wave_vector(rng, size, 6.0, size / 3)
        base = _square_wave(rng, size, kx, ky) * _square_wave(rng, size, -ky, kx)
    elif kind == "blobs":
        base = _blobs(rng, size)
    elif kind == "cells":
        base = _cells(rng, size)
    else:
        raise ValueError(f"unknown texture kind {kind!r}; known: {', '.join(TEXTURE_KINDS)}")
    texture = _normalise(base)
    # A little multi-scale noise on every pattern, so no two surfaces are perfectly clean copies.
    grain = _normalise(_value_noise(rng, size, finest_cell=2, coarsest_cell=size // 4, roughness=0.8))
    texture = (1 - (w := rng.uniform(0.05, 0.35))) * texture + w * grain
    texture = _normalise(_periodic_blur(texture, 0.7))
    mean = rng.uniform(0.25, 0.65)
    contrast = rng.uniform(0.25, 0.85)
    return np.clip(mean + contrast * (texture - 0.5), 0.03, 1.0).astype(np.float32)


@dataclass(frozen=True)
class TextureAtlas:
    """All mip levels of all textures packed into one flat array (what the numba renderer reads).

    Attributes:
        data: float32 (total_texels,), every level of every texture, row-major.
        offsets: int64 (T, max_levels), start of level l of texture t in ``data``.
        sizes: int64 (T, max_levels), side of the (square) level.
        num_levels: int64 (T,), levels per texture (level 0 is the full tile).
    """

    data: np.ndarray
    offsets: np.ndarray
    sizes: np.ndarray
    num_levels: np.ndarray


def build_atlas(textures: list[np.ndarray]) -> TextureAtlas:
    """Pack square power-of-two textures and their 2x2 box-filtered mip pyramids.

    Args:
        textures: float32 (N_t, N_t) tiles.
    """
    pyramids = []
    for tex in textures:
        levels = [np.asarray(tex, dtype=np.float32)]
        while levels[-1].shape[0] > 2:
            prev = levels[-1]
            levels.append(0.25 * (prev[0::2, 0::2] + prev[1::2, 0::2] + prev[0::2, 1::2] + prev[1::2, 1::2]))
        pyramids.append(levels)
    max_levels = max(len(p) for p in pyramids)
    offsets = np.zeros((len(textures), max_levels), dtype=np.int64)
    sizes = np.ones((len(textures), max_levels), dtype=np.int64)
    chunks, position = [], 0
    for t, levels in enumerate(pyramids):
        for level, image in enumerate(levels):
            offsets[t, level] = position
            sizes[t, level] = image.shape[0]
            chunks.append(image.ravel())
            position += image.size
    num_levels = np.array([len(p) for p in pyramids], dtype=np.int64)
    return TextureAtlas(np.concatenate(chunks).astype(np.float32), offsets, sizes, num_levels)
