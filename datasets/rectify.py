"""Stereo rectification of event coordinates through precomputed integer lookup tables.

A rectification map gives, for every raw (distorted) pixel ``(x, y)``, its rectified position
``(x_map[y, x], y_map[y, x])`` (MVSEC's convention). We round it (``np.rint``) and drop
positions outside the frame once, into a lookup table ``lut[y * W + x] -> ry * W + rx`` or -1,
so that rectifying events is a gather. Maps come from MVSEC's text files, an npz, a camera yaml
(OpenCV fisheye / equidistant model, as MVSEC's calibration) or the identity.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numba
import numpy as np

from datasets.events import Events

CAMERAS = ("left", "right")


@dataclass(frozen=True)
class Rectification:
    """Lookup tables for both cameras.

    Attributes:
        left, right: int32 (H*W,) raw pixel index ``y*W + x`` -> rectified index, -1 = dropped.
        height, width: sensor size (raw and rectified frames have the same size).
        description: where the maps came from (stored in caches).
    """

    left: np.ndarray
    right: np.ndarray
    height: int
    width: int
    description: str

    def lut(self, camera: str) -> np.ndarray:
        if camera not in CAMERAS:
            raise ValueError(f"camera must be one of {CAMERAS}, got {camera!r}")
        return self.left if camera == "left" else self.right

    def packed(self, camera: str) -> np.ndarray:
        """:func:`packed_lut` of ``camera``'s table (computed once): what the per-event kernels read."""
        self.lut(camera)  # checks the name
        return self._packed[CAMERAS.index(camera)]

    @cached_property
    def _packed(self) -> tuple[np.ndarray, np.ndarray]:
        return packed_lut(self.left, self.width, self.height), packed_lut(self.right, self.width, self.height)


def packed_lut(lut: np.ndarray, width: int, height: int) -> np.ndarray:
    """A rectification lookup table with the target pixel packed as ``(ry << 16) | rx``.

    Args:
        lut: int (H*W,) raw pixel index -> rectified index ``ry * W + rx``, -1 = dropped.
        width, height: frame size (each below 32,768 px).

    Returns:
        int32 (H*W,), -1 where ``lut`` is -1. Per-event kernels then need no integer division.
    """
    if width >= 1 << 15 or height >= 1 << 15:
        raise ValueError(f"frame size {width}x{height} too large for a packed lookup table")
    lut = np.asarray(lut, np.int64)
    return np.where(lut >= 0, ((lut // width) << 16) | (lut % width), -1).astype(np.int32)


def lut_from_maps(x_map: np.ndarray, y_map: np.ndarray) -> np.ndarray:
    """Integer lookup table from float maps indexed ``[y, x]``.

    Args:
        x_map, y_map: float (H, W) rectified coordinates of each raw pixel (NaN = no mapping).

    Returns:
        int32 (H*W,): rectified index ``ry*W + rx`` with ``(rx, ry)`` rounded, or -1 where the
        rounded position falls outside the H x W frame or the map is not finite.
    """
    if x_map.shape != y_map.shape or x_map.ndim != 2:
        raise ValueError(f"x and y maps must be 2-D and of equal shape, got {x_map.shape} and {y_map.shape}")
    height, width = x_map.shape
    with np.errstate(invalid="ignore"):
        rx, ry = np.rint(x_map.astype(np.float64)), np.rint(y_map.astype(np.float64))
        inside = np.isfinite(rx) & np.isfinite(ry) & (rx >= 0) & (rx < width) & (ry >= 0) & (ry < height)
    lut = np.full((height, width), -1, np.int32)
    lut[inside] = (ry[inside] * width + rx[inside]).astype(np.int32)
    return lut.ravel()


def identity(height: int, width: int) -> Rectification:
    """No rectification (events already rectified, e.g. synthetic recordings)."""
    lut = np.arange(height * width, dtype=np.int32)
    return Rectification(lut, lut, height, width, "identity")


# ---------------------------------------------------------------------------------------------
# Map files


def read_mvsec_maps(folder: str | Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Read ``*_{left,right}_{x,y}_map.txt`` (MVSEC) from a folder.

    Returns:
        ``{"left": (x_map, y_map), "right": (x_map, y_map)}``, float32 (H, W) each.
    """
    folder = Path(folder)
    maps = {}
    for cam in CAMERAS:
        pair = []
        for axis in ("x", "y"):
            found = sorted(folder.glob(f"*{cam}_{axis}_map.txt"))
            if not found:
                raise FileNotFoundError(f"no *{cam}_{axis}_map.txt rectification map in {folder}")
            pair.append(np.loadtxt(found[0], dtype=np.float32, ndmin=2))
        maps[cam] = (pair[0], pair[1])
    return maps


def write_mvsec_maps(folder: str | Path, prefix: str, maps: dict[str, tuple[np.ndarray, np.ndarray]]) -> None:
    """Write maps as MVSEC text files ``{prefix}_{cam}_{axis}_map.txt`` (one row per image row)."""
    for cam in CAMERAS:
        for axis, values in zip(("x", "y"), maps[cam], strict=True):
            np.savetxt(Path(folder) / f"{prefix}_{cam}_{axis}_map.txt", values, fmt="%.6f")


def read_npz_maps(path: str | Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Read an npz with ``{left,right}_{x,y}_map`` arrays (H, W)."""
    with np.load(path) as data:
        missing = [f"{c}_{a}_map" for c in CAMERAS for a in "xy" if f"{c}_{a}_map" not in data.files]
        if missing:
            raise ValueError(f"{path}: missing rectification arrays {missing}")
        return {c: (data[f"{c}_x_map"], data[f"{c}_y_map"]) for c in CAMERAS}


_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"


def _yaml_numbers(text: str, key: str) -> np.ndarray | None:
    """Numbers of ``key``'s value in simple ROS / Kalibr calibration yaml (no PyYAML needed)."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        match = re.match(rf"^(\s*){re.escape(key)}\s*:(.*)$", line)
        if not match:
            continue
        indent, block = len(match.group(1)), [match.group(2)]
        for nxt in lines[i + 1:]:
            key_line = re.match(r"^(\s*)[A-Za-z_][\w]*\s*:", nxt)
            if key_line and len(key_line.group(1)) <= indent:
                break
            block.append(nxt)
        body = "\n".join(block)
        data = re.search(r"data\s*:\s*\[([^\]]*)\]", body)
        body = data.group(1) if data else re.sub(r"\b(rows|cols)\s*:\s*\d+", "", body)
        return np.array([float(v) for v in re.findall(_NUMBER, body)], np.float64)
    return None


def read_camera_yaml(path: str | Path, *, section: str | None = None) -> dict[str, np.ndarray]:
    """K, D, R, P, width, height from a ROS camera yaml or one ``camN`` section of a camchain yaml.

    ROS keys: camera_matrix, distortion_coefficients, rectification_matrix, projection_matrix,
    image_width/height. Kalibr/MVSEC camchain keys: intrinsics [fu fv pu pv], distortion_coeffs,
    rectification_matrix, projection_matrix, resolution [w h].
    """
    text = Path(path).read_text()
    if section is not None:
        start = re.search(rf"^{re.escape(section)}\s*:", text, flags=re.M)
        if start is None:
            raise ValueError(f"{path}: no '{section}' section")
        rest = text[start.end():]
        end = re.search(r"^[A-Za-z_]\w*\s*:", rest, flags=re.M)
        text = rest[: end.start()] if end else rest

    def need(*keys: str) -> np.ndarray:
        for key in keys:
            values = _yaml_numbers(text, key)
            if values is not None:
                return values
        raise ValueError(f"{path}: calibration yaml lacks {' / '.join(keys)}")

    k = need("camera_matrix", "intrinsics")
    K = k.reshape(3, 3) if k.size == 9 else np.array([[k[0], 0, k[2]], [0, k[1], k[3]], [0, 0, 1.0]])
    size = _yaml_numbers(text, "resolution")
    if size is None:
        size = np.array([need("image_width")[0], need("image_height")[0]])
    return {
        "K": K,
        "D": need("distortion_coefficients", "distortion_coeffs")[:4],
        "R": need("rectification_matrix").reshape(3, 3),
        "P": need("projection_matrix").reshape(3, 4),
        "width": int(size[0]),
        "height": int(size[1]),
    }


def fisheye_maps(calib: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Rectification maps of one camera with OpenCV's fisheye (equidistant) model.

    Returns:
        float32 (H, W) x_map and y_map: rectified coordinates of each raw pixel.
    """
    import cv2

    width, height = calib["width"], calib["height"]
    xs, ys = np.meshgrid(np.arange(width, dtype=np.float64), np.arange(height, dtype=np.float64))
    points = np.stack([xs.ravel(), ys.ravel()], axis=-1)[None]
    rect = cv2.fisheye.undistortPoints(points, calib["K"], calib["D"].reshape(1, 4),
                                       R=calib["R"], P=calib["P"])[0]
    return (rect[:, 0].reshape(height, width).astype(np.float32),
            rect[:, 1].reshape(height, width).astype(np.float32))


def maps_from_yaml(path: str | Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Maps for both cameras from a left ROS yaml (its right twin found by name) or a camchain yaml."""
    path = Path(path)
    text = path.read_text()
    if re.search(r"^cam1\s*:", text, flags=re.M):
        calibs = [read_camera_yaml(path, section=s) for s in ("cam0", "cam1")]
    else:
        if "left" not in path.name:
            raise ValueError(f"{path}: give the left camera yaml (its name must contain 'left') or a camchain yaml")
        right = path.with_name(path.name.replace("left", "right"))
        if not right.is_file():
            raise FileNotFoundError(f"right camera yaml not found next to {path}: {right.name}")
        calibs = [read_camera_yaml(path), read_camera_yaml(right)]
    return {cam: fisheye_maps(c) for cam, c in zip(CAMERAS, calibs, strict=True)}


def load_rectification(calib: str | Path) -> Rectification:
    """Rectification from a folder of MVSEC map txt files, an npz of maps or a calibration yaml."""
    calib = Path(calib)
    if not calib.exists():
        raise FileNotFoundError(f"calibration not found: {calib}")
    if calib.is_dir():
        maps = read_mvsec_maps(calib)
    elif calib.suffix == ".npz":
        maps = read_npz_maps(calib)
    elif calib.suffix in (".yaml", ".yml"):
        maps = maps_from_yaml(calib)
    else:
        raise ValueError(f"calibration must be a folder of MVSEC map files, an .npz or a .yaml: {calib}")
    height, width = maps["left"][0].shape
    if maps["right"][0].shape != (height, width):
        raise ValueError(f"{calib}: left and right maps differ in size")
    luts = [lut_from_maps(*maps[c]) for c in CAMERAS]
    return Rectification(luts[0], luts[1], height, width, f"maps from {calib.name}")



def for_recording(calib: str | Path | None, *, rectified: bool, height: int, width: int,
                  source: str) -> Rectification | None:
    """The rectification a recording needs: its calibration, or None for already rectified events.

    Args:
        calib: MVSEC map folder, npz or yaml; None when the recording needs none.
        rectified: whether the recording says its events are rectified (``stereo synth`` files).
        height, width: the frame size the calibration must have.
        source: the recording's name, for the message.

    Raises:
        ValueError: the calibration has another size, or raw events come without a calibration.
    """
    if calib is not None:
        rect = load_rectification(calib)
        if (rect.height, rect.width) != (height, width):
            raise ValueError(f"calibration {calib} is {rect.width}x{rect.height} but the frames are {width}x{height}")
        return rect
    if rectified:
        return None
    raise ValueError(f"{source} holds raw (distorted) events: pass --calib with the MVSEC "
                     "rectification maps (folder of *_map.txt, .npz or calibration .yaml)")

# ---------------------------------------------------------------------------------------------
# Applying a lookup table


@numba.njit(cache=True, nogil=True)
def _gather(x, y, packed, width, height, out_x, out_y, keep):  # pragma: no cover - compiled
    n_out = 0
    for i in range(x.shape[0]):
        xi = np.int64(x[i])
        yi = np.int64(y[i])
        if xi < 0 or xi >= width or yi < 0 or yi >= height:
            return -1
        r = packed[yi * width + xi]
        if r >= 0:
            out_x[n_out] = r & 0xFFFF
            out_y[n_out] = r >> 16
            keep[n_out] = i
            n_out += 1
    return n_out


def rectify_events(events: Events, rect: Rectification, camera: str) -> Events:
    """Rectified copy of ``events``: coordinates mapped through the table, dropped events removed."""
    n = len(events)
    out_x, out_y = np.empty(n, np.int16), np.empty(n, np.int16)
    keep = np.empty(n, np.int64)
    n_out = _gather(events.x, events.y, rect.packed(camera), rect.width, rect.height, out_x, out_y, keep)
    if n_out < 0:
        raise ValueError(f"{camera} event coordinates outside the {rect.width}x{rect.height} sensor")
    keep = keep[:n_out]
    return Events(out_x[:n_out], out_y[:n_out], events.t[keep], events.p[keep],
                  width=rect.width, height=rect.height)
