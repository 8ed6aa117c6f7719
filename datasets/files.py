"""Plain event files: npz / npy / h5 with x, y, t, p arrays or an (N, 4) array, and text ``t x y p``.

Conventions (override with ``columns`` and ``time_unit``):

- named arrays: ``x``, ``y``, ``p`` and one of ``t`` (seconds if float, microseconds if integer),
  ``t_us``, ``t_ns``; an optional ``sensor_wh`` gives the sensor size;
- DSEC ``events.h5`` (root ``t_offset`` and ``ms_to_idx``): read by
  :class:`datasets.dsec.DsecEvents`, t as absolute seconds;
- an (N, 4) array: columns ``t x y p`` with t in microseconds when it has an integer dtype
  (DVS recorders), ``x y t p`` with t in seconds when float (MVSEC); stereo npz files hold one
  such array per camera (``left``, ``right``);
- text: one event per line, ``t x y p`` with t in seconds (the ECD / rpg convention), ``#``
  comments allowed; a header line naming the columns (``x,y,t,p`` or ``timestamp x y polarity``)
  sets their order.
"""

from __future__ import annotations

import os
import zipfile
import zlib
from pathlib import Path

import numpy as np

from datasets.events import Events

TIME_UNITS = {"s": 1.0, "ms": 1e-3, "us": 1e-6, "ns": 1e-9}
_TIME_KEYS = {"t": None, "t_s": "s", "t_ms": "ms", "t_us": "us", "t_ns": "ns", "ts": None, "timestamp": None}


def _from_table(table: np.ndarray, *, columns: str | None, time_unit: str | None, source: str,
                sensor_wh=None) -> Events:
    if table.ndim != 2 or table.shape[1] != 4:
        raise ValueError(f"{source}: expected an (N, 4) event array, got shape {table.shape}")
    integer = np.issubdtype(table.dtype, np.integer)
    columns = columns or ("txyp" if integer else "xytp")
    if sorted(columns) != sorted("txyp"):
        raise ValueError(f"columns must be a permutation of 'txyp', got {columns!r}")
    col = {c: table[:, i] for i, c in enumerate(columns)}
    unit = time_unit or ("us" if integer else "s")
    return _build(col["x"], col["y"], col["t"], col["p"], unit, source, sensor_wh)


def _build(x, y, t, p, unit: str, source: str, sensor_wh) -> Events:
    if unit not in TIME_UNITS:
        raise ValueError(f"time unit must be one of {', '.join(TIME_UNITS)}, got {unit!r}")
    width = height = None
    if sensor_wh is not None:
        width, height = (int(v) for v in np.asarray(sensor_wh).ravel()[:2])
    events = Events.from_arrays(x, y, t, p, time_scale=TIME_UNITS[unit], width=width, height=height)
    try:
        return events.check()
    except ValueError as exc:
        raise ValueError(f"{source}: {exc}") from None


def _from_named(get, keys: list[str], *, camera: str | None, columns, time_unit, source: str) -> Events:
    sensor_wh = get("sensor_wh") if "sensor_wh" in keys else None
    if camera is not None:
        if camera not in keys:
            raise ValueError(f"{source}: no array named {camera!r} (has {', '.join(keys)})")
        return _from_table(np.asarray(get(camera)), columns=columns, time_unit=time_unit, source=source,
                           sensor_wh=sensor_wh)
    time_key = next((k for k in _TIME_KEYS if k in keys), None)
    if time_key is not None and all(k in keys for k in "xyp"):
        t = np.asarray(get(time_key))
        unit = time_unit or _TIME_KEYS[time_key] or ("us" if np.issubdtype(t.dtype, np.integer) else "s")
        return _build(np.asarray(get("x")), np.asarray(get("y")), t, np.asarray(get("p")), unit, source, sensor_wh)
    tables = [k for k in keys if k in ("events", "left", "right")]
    if len(tables) == 1:
        return _from_table(np.asarray(get(tables[0])), columns=columns, time_unit=time_unit, source=source,
                           sensor_wh=sensor_wh)
    if tables:
        raise ValueError(f"{source}: holds several event arrays ({', '.join(tables)}); pass camera=")
    raise ValueError(f"{source}: no x, y, t, p arrays and no (N, 4) 'events' array (has {', '.join(keys)})")


# What np.load and NpzFile raise for an empty, truncated, damaged or pickled file.
_NUMPY_ERRORS = (EOFError, zipfile.BadZipFile, zlib.error, ValueError, OSError)


def _unreadable(what: str, exc: BaseException, *, damaged: str, numpy_data: bool = True) -> ValueError:
    """One clear error for numpy data that cannot be read. Without numpy's or zip's magic bytes
    (``numpy_data`` False) np.load tries a pickle and blames allow_pickle: that is a damaged file."""
    if "pickle" in str(exc) and numpy_data:
        return ValueError(f"cannot read {what}: it holds Python objects, which are not loaded "
                          f"(save plain numeric arrays)")
    return ValueError(f"cannot read {what}: {damaged}")


def _npz_member(data, source: str):
    """``data[name]`` with a damaged member reported as one clear error."""

    def get(name: str) -> np.ndarray:
        try:
            return data[name]
        except _NUMPY_ERRORS as exc:
            raise _unreadable(f"array {name!r} of {source}", exc, damaged="damaged") from None

    return get


def load_numpy(path: str | os.PathLike):
    """``np.load`` (no pickles) with one clear error for an empty, damaged or object-array file.

    Returns:
        An ``NpzFile`` (use it as a context manager) for ``.npz``, an array for ``.npy``.

    Raises:
        ValueError: the file cannot be read as numpy data.
    """
    path = Path(path)
    if path.stat().st_size == 0:
        raise ValueError(f"cannot read {path}: the file is empty")
    with open(path, "rb") as f:
        head = f.read(6)
    try:
        return np.load(path)
    except _NUMPY_ERRORS as exc:
        kind = path.suffix.lower() or "numpy"
        raise _unreadable(str(path), exc, damaged=f"not a valid {kind} file (truncated or damaged?)",
                          numpy_data=head.startswith((b"\x93NUMPY", b"PK\x03\x04"))) from None


_HEADER_NAMES = {"t": "t", "ts": "t", "time": "t", "timestamp": "t", "t_s": "t", "x": "x", "y": "y", "p": "p",
                 "pol": "p", "polarity": "p"}


def _text_header(path: Path, delimiter: str | None) -> tuple[int, str | None]:
    """Lines to skip before the numbers, and the column order a header line names (None: no header)."""
    with open(path, errors="replace") as f:
        for index, line in enumerate(f):
            text = line.strip()
            if not text or text.startswith("#"):
                continue
            fields = [v.strip().lower() for v in text.split(delimiter)]
            try:
                for v in fields:
                    float(v)
            except ValueError:
                names = "".join(_HEADER_NAMES.get(v, "?") for v in fields)
                if sorted(names) != sorted("txyp"):
                    raise ValueError(f"{path}: the header {text!r} does not name the columns t, x, y, p") from None
                return index + 1, names
            return 0, None
    return 0, None


def read_event_file(path: str | os.PathLike, *, camera: str | None = None, columns: str | None = None,
                    time_unit: str | None = None) -> Events:
    """Read events from ``.npz``, ``.npy``, ``.h5``/``.hdf5`` or text (``.txt``, ``.csv``).

    Args:
        path: the file.
        camera: name of the (N, 4) array to read in a stereo file (e.g. "left").
        columns: column order of an (N, 4) array, a permutation of "txyp".
        time_unit: "s", "ms", "us" or "ns", overriding the convention.

    Returns:
        :class:`Events`, checked to be sorted and inside ``sensor_wh`` when the file gives it.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"event file not found: {path}")
    suffix = path.suffix.lower()
    source = str(path)
    if suffix == ".npz":
        with load_numpy(path) as data:
            return _from_named(_npz_member(data, source), list(data.files), camera=camera, columns=columns,
                               time_unit=time_unit, source=source)
    if suffix == ".npy":
        return _from_table(load_numpy(path), columns=columns, time_unit=time_unit, source=source)
    if suffix in (".h5", ".hdf5"):
        import h5py
        import hdf5plugin  # noqa: F401 - registers Blosc/ZSTD, which DSEC event files use

        if not h5py.is_hdf5(path):
            raise ValueError(f"not an HDF5 file: {path}")
        with h5py.File(path, "r") as h5:
            if not ("t_offset" in h5 and "ms_to_idx" in h5 and time_unit is None):
                group = h5["events"] if isinstance(h5.get("events"), h5py.Group) else h5
                keys = [k for k in group if isinstance(group[k], h5py.Dataset)]
                return _from_named(lambda k: group[k][()], keys, camera=camera, columns=columns,
                                   time_unit=time_unit, source=source)
        from datasets.dsec import DsecEvents

        with DsecEvents(path) as events:  # t in microseconds after t_offset, sensor 640 x 480
            try:
                return events.rows().check()
            except ValueError as exc:
                raise ValueError(f"{source}: {exc}") from None
    if suffix in (".txt", ".csv"):
        delimiter = "," if suffix == ".csv" else None
        skip, header_columns = _text_header(path, delimiter)
        try:
            table = np.loadtxt(path, dtype=np.float64, comments="#", delimiter=delimiter, ndmin=2, skiprows=skip)
        except ValueError as exc:
            raise ValueError(f"{path}: not a 't x y p' text event file ({exc})") from None
        if table.size == 0:
            table = table.reshape(0, 4)
        return _from_table(table, columns=columns or header_columns or "txyp", time_unit=time_unit or "s",
                           source=source)
    raise ValueError(f"unknown event file type {suffix!r}: {path} (use .npz, .npy, .h5, .hdf5, .txt or .csv)")
