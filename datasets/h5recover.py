"""Reopen an HDF5 file whose writer was killed, and keep two writers off one file.

A file created with ``libver="latest"`` (superblock version 2 or 3) records in its superblock that
it is open for writing; a writer killed before it closes the file (SIGKILL, SIGTERM, out of
memory) leaves that mark, and HDF5 then refuses to open the file again ("file is already open
for write ... may use <h5clear file>"). Its data up to the last flush are intact (the resumable
cache flushes after every batch, in SWMR mode), so :func:`clear_write_flags` does what
``h5clear -s`` does: zero the mark and rewrite the superblock checksum.

Clearing the mark is only safe when no live process is writing the file, which HDF5's own lock
cannot tell once a writer is in SWMR mode (it releases the lock); :func:`exclusive_writer` holds
an advisory lock on a side file for the whole run instead, which the kernel drops when the
process dies.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_MASK = 0xFFFFFFFF


def _rot(x: int, k: int) -> int:
    return ((x << k) | (x >> (32 - k))) & _MASK


def lookup3(data: bytes, initval: int = 0) -> int:
    """Bob Jenkins' lookup3 ``hashlittle`` of ``data``: the checksum HDF5 puts on its metadata."""
    length = len(data)
    a = b = c = (0xDEADBEEF + length + initval) & _MASK
    i = 0
    while length > 12:
        a = (a + int.from_bytes(data[i:i + 4], "little")) & _MASK
        b = (b + int.from_bytes(data[i + 4:i + 8], "little")) & _MASK
        c = (c + int.from_bytes(data[i + 8:i + 12], "little")) & _MASK
        a = (a - c) & _MASK; a ^= _rot(c, 4); c = (c + b) & _MASK  # noqa: E702 - the mix, as published
        b = (b - a) & _MASK; b ^= _rot(a, 6); a = (a + c) & _MASK  # noqa: E702
        c = (c - b) & _MASK; c ^= _rot(b, 8); b = (b + a) & _MASK  # noqa: E702
        a = (a - c) & _MASK; a ^= _rot(c, 16); c = (c + b) & _MASK  # noqa: E702
        b = (b - a) & _MASK; b ^= _rot(a, 19); a = (a + c) & _MASK  # noqa: E702
        c = (c - b) & _MASK; c ^= _rot(b, 4); b = (b + a) & _MASK  # noqa: E702
        length -= 12
        i += 12
    if length == 0:
        return c
    tail = data[i:i + length] + bytes(12 - length)  # the last 1..12 bytes, zero-padded
    a = (a + int.from_bytes(tail[0:4], "little")) & _MASK
    b = (b + int.from_bytes(tail[4:8], "little")) & _MASK
    c = (c + int.from_bytes(tail[8:12], "little")) & _MASK
    c ^= b; c = (c - _rot(b, 14)) & _MASK  # noqa: E702 - the final mix
    a ^= c; a = (a - _rot(c, 11)) & _MASK  # noqa: E702
    b ^= a; b = (b - _rot(a, 25)) & _MASK  # noqa: E702
    c ^= b; c = (c - _rot(b, 16)) & _MASK  # noqa: E702
    a ^= c; a = (a - _rot(c, 4)) & _MASK  # noqa: E702
    b ^= a; b = (b - _rot(a, 14)) & _MASK  # noqa: E702
    c ^= b; c = (c - _rot(b, 24)) & _MASK  # noqa: E702
    return c


def _superblock_offset(f) -> int | None:
    """Where the superblock starts: 0, or 512, 1024, 2048, ... after a user block."""
    offset = 0
    size = os.fstat(f.fileno()).st_size
    while offset + 8 <= size:
        f.seek(offset)
        if f.read(8) == _SIGNATURE:
            return offset
        offset = 512 if offset == 0 else offset * 2
    return None


def clear_write_flags(path: str | os.PathLike) -> bool:
    """Zero the "open for writing" flags of a version 2/3 superblock; True when they were set.

    Files with an older superblock (no such flags) or a damaged one are left untouched.
    """
    with open(path, "r+b") as f:
        start = _superblock_offset(f)
        if start is None:
            return False
        f.seek(start)
        head = f.read(12)
        if len(head) < 12 or head[8] not in (2, 3):
            return False
        offsets = head[9]
        body = head + f.read(4 * offsets)  # base, extension, end-of-file and root addresses
        stored = f.read(4)
        if len(stored) < 4 or lookup3(body) != int.from_bytes(stored, "little"):
            return False  # not a superblock this function understands: leave it to HDF5
        if body[11] == 0:
            return False
        body = body[:11] + b"\x00" + body[12:]
        f.seek(start)
        f.write(body + lookup3(body).to_bytes(4, "little"))
        f.flush()
        os.fsync(f.fileno())
    return True


@contextmanager
def exclusive_writer(path: str | os.PathLike) -> Iterator[None]:
    """Hold an advisory lock on ``.NAME.lock`` beside ``path`` while the body runs.

    Raises:
        BlockingIOError: another live process holds it (two runs writing one output).
    """
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; runs are not guarded against each other
        yield
        return
    path = Path(path)
    lock_path = path.with_name(f".{path.name.lstrip('.')}.lock")
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BlockingIOError(f"{path} is being written by another process (a second run with the same "
                                  f"output?); wait for it to finish or stop it") from None
        try:
            yield
        finally:
            lock_path.unlink(missing_ok=True)
    finally:
        os.close(fd)
