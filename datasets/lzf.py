"""A fast LZF encoder for sparse HDF5 chunks, readable by h5py's built-in ``lzf`` filter.

h5py's own LZF filter runs single-threaded inside HDF5 at ~200 MB/s, which made writing voxel
grids (mostly zeros) the bottleneck of preprocessing. These encoders emit valid LZF streams
that only exploit runs of identical 4-byte words, in numba without the GIL, so worker threads
compress chunks in parallel and the parent stores them with ``Dataset.id.write_direct_chunk``;
any reader decompresses them with the standard filter.

- :func:`encode_chunk` / :func:`lzf_compress`: runs of any word (zeros, NaN holes); the first
  word of a run is a literal and the rest are back-references at offset 4.
- :func:`encode_sparse_chunk`: runs of zero words only, each copied from an earlier zero stretch
  of the output where one is within LZF's 8 KB reach, which saves the literal zero word per run
  (voxel grids about a third smaller).

LZF format (liblzf ``lzf_d.c``): control byte ``c < 32``: ``c + 1`` literal bytes follow;
otherwise ``len = c >> 5`` (7 means one more length byte is added), offset
``((c & 31) << 8) + next byte + 1``, copy ``len + 2`` bytes from ``offset`` bytes back.
"""

from __future__ import annotations

import threading

import numba
import numpy as np

_MAX_LITERAL = 32
_MAX_REF = 264  # 7 + 255 + 2
_MIN_RUN_WORDS = 3
_scratch = threading.local()  # per-thread output buffer of the encoders


@numba.njit(cache=True, nogil=True, inline="always")
def _literal(src, start, stop, out, op):  # pragma: no cover - compiled
    while start < stop:
        n = min(stop - start, _MAX_LITERAL)
        out[op] = n - 1
        op += 1
        for k in range(n):
            out[op + k] = src[start + k]
        op += n
        start += n
    return op


@numba.njit(cache=True, nogil=True)
def _encode(src, words, out, word_bytes, check_at, max_ratio):  # pragma: no cover - compiled
    n_words = words.shape[0]
    op = 0
    lit_start = 0
    i = 0
    while i < n_words:
        w = words[i]
        j = i + 1
        while j < n_words and words[j] == w:
            j += 1
        if j - i >= _MIN_RUN_WORDS:
            op = _literal(src, lit_start, word_bytes * (i + 1), out, op)
            remaining = word_bytes * (j - i - 1)
            while remaining > 0:
                length = min(remaining, _MAX_REF)
                if 0 < remaining - length < 3:
                    length = remaining - 3
                code = length - 2
                if code < 7:
                    out[op] = code << 5
                    out[op + 1] = word_bytes - 1  # offset: one word back
                    op += 2
                else:
                    out[op] = 7 << 5
                    out[op + 1] = code - 7
                    out[op + 2] = word_bytes - 1
                    op += 3
                remaining -= length
            lit_start = word_bytes * j
        i = j
        if check_at > 0 and word_bytes * i >= check_at:
            # Give up on data that does not compress (returns -1); the caller stores it raw.
            check_at = 0
            if op + (word_bytes * i - lit_start) > max_ratio * word_bytes * i:
                return -1
    return _literal(src, lit_start, src.shape[0], out, op)


_MAX_OFFSET = 8192


@numba.njit(cache=True, nogil=True, inline="always")
def _reference(out, op, length, offset):  # pragma: no cover - compiled
    """Emit a back-reference copying ``length`` (3..264) bytes from ``offset`` (<= 8192) bytes back.

    Without a branch: three bytes are always written and ``op`` advances by 2 (short form,
    ``length <= 8``) or 3; a byte past the short form is overwritten by whatever follows.
    """
    code = length - 2
    far = offset - 1
    long = np.int64(code >= 7)
    out[op] = (min(code, 7) << 5) | (far >> 8)
    out[op + 1] = (code - 7) if long else (far & 255)
    out[op + 2] = far & 255
    return op + 2 + long


@numba.njit(cache=True, nogil=True, inline="always")
def _literal_word(src, w, out, op, lit_head, lit_len, new):  # pragma: no cover - compiled
    """Append word ``w`` of ``src`` (a zero word for ``w = -1``) to the open literal run, or to a new
    one when ``new`` or the open one is full; returns ``(op, lit_head, lit_len)``. Branch-free."""
    new = new | (lit_len == _MAX_LITERAL)
    lit_head = op if new else lit_head
    op += np.int64(new)
    lit_len = 0 if new else lit_len
    for b in range(4):
        out[op + b] = src[4 * w + b] if w >= 0 else 0
    lit_len += 4
    out[lit_head] = lit_len - 1
    return op + 4, lit_head, lit_len


@numba.njit(cache=True, nogil=True)
def _nonzero_words(words, positions):  # pragma: no cover - compiled
    """Write the indices of the non-zero words of ``words`` into ``positions`` (at least
    ``len(words)`` long), in order; returns how many.

    Every index is stored and the count advanced by the comparison, without a branch (which
    scattered non-zero words would mispredict about half the time).
    """
    k = 0
    for i in range(words.shape[0]):
        positions[k] = i
        k += words[i] != 0
    return k


@numba.njit(cache=True, nogil=True)
def _encode_zero_runs(src, words, out, positions):  # pragma: no cover - compiled
    """LZF stream of ``words`` (uint32 view of ``src``) for mostly-zero data.

    Non-zero words become literals. A zero run copies, where it can, from an earlier zero
    stretch of the output (a back-reference up to 8192 bytes back) instead of starting with a
    literal zero word, so an isolated non-zero word costs about 8 bytes instead of 12.
    ``positions`` is int32 scratch of at least ``len(words)``. The non-zero words are found first
    and the emission avoids data-dependent branches where it can: scattered words make them
    unpredictable, and they, not the bytes written, were the cost.
    """
    n_words = words.shape[0]
    count = _nonzero_words(words, positions)
    op = 0
    lit_head = 0  # out index of the open literal run's control byte
    lit_len = _MAX_LITERAL  # "full": the first literal word opens a run
    ref_start = 0  # a stretch of zero bytes already in the decoded output: [ref_start, ref_start + ref_len)
    ref_len = 0
    pos = 0  # first word not yet emitted
    for j in range(count + 1):
        w = np.int64(positions[j]) if j < count else n_words
        closed = False  # whether a reference follows the open literal run (the next word opens one)
        if w > pos:  # the zero run [pos, w)
            q = 4 * pos
            run = 4 * (w - pos)
            first = min(run, ref_len, _MAX_REF)
            offset = q - (ref_start + ref_len - first)
            if first >= 4 and offset <= _MAX_OFFSET:
                op = _reference(out, op, first, offset)
                closed = True
            else:  # no zero stretch in reach: one literal zero word first
                op, lit_head, lit_len = _literal_word(src, -1, out, op, lit_head, lit_len, False)
                first = 4
                closed = run > 4
            # The rest copies the zeros just written (offset 4): a reference written in any case
            # and kept when there is a rest, then more for runs over 264 bytes (rare).
            remaining = run - first
            length = min(remaining, _MAX_REF)
            after = _reference(out, op, max(length, 4), 4)
            op = after if remaining > 0 else op
            remaining -= length
            while remaining > 0:
                length = min(remaining, _MAX_REF)
                op = _reference(out, op, length, 4)
                remaining -= length
            better = (run >= min(ref_len, _MAX_REF)) | (q - (ref_start + ref_len) > _MAX_OFFSET // 2)
            ref_start = q if better else ref_start
            ref_len = run if better else ref_len
        if j == count:
            return op
        op, lit_head, lit_len = _literal_word(src, w, out, op, lit_head, lit_len, closed)
        pos = w + 1
    return op  # not reached: the last pass (j == count) returns


def encode_sparse_chunk(array: np.ndarray, *, max_ratio: float = 0.8) -> tuple[int, np.ndarray]:
    """:func:`encode_chunk` for mostly-zero data such as voxel grids (about a third smaller).

    Only runs of zero words are compressed (runs of other repeated values, such as NaN holes,
    are not: use :func:`encode_chunk` for those).

    Args:
        array: C-contiguous, any dtype, ``nbytes`` a multiple of 4.
        max_ratio: as for :func:`encode_chunk`.

    Returns:
        ``(filter_mask, data)`` for ``Dataset.id.write_direct_chunk``. ``data`` is a uint8 view
        of a per-thread buffer that the thread's next call of either encoder overwrites (or of
        ``array`` itself when stored raw): copy it to keep it.
    """
    if not array.flags.c_contiguous or array.nbytes % 4:
        raise ValueError(f"expected a C-contiguous array of whole 4-byte words, got {array.dtype} {array.shape}")
    src = array.reshape(-1).view(np.uint8)
    out = _thread_buffer(src.shape[0])
    positions = getattr(_scratch, "positions", None)
    if positions is None or positions.shape[0] < src.shape[0] // 4:
        positions = _scratch.positions = np.empty(src.shape[0] // 4, np.int32)
    n = _encode_zero_runs(src, src.view(np.uint32), out, positions)
    if n > max_ratio * src.shape[0]:
        return 1, src
    return 0, out[:n]


def lzf_compress(array: np.ndarray) -> bytes:
    """LZF-compress the bytes of an array (one HDF5 chunk).

    Args:
        array: any dtype; its raw C-order bytes are compressed.

    Returns:
        The compressed bytes (at most ``nbytes + nbytes/32 + 1``).
    """
    src = np.ascontiguousarray(array).reshape(-1).view(np.uint8)
    words = src[: src.shape[0] // 4 * 4].view(np.uint32)
    out = np.empty(src.shape[0] + src.shape[0] // _MAX_LITERAL + 16, np.uint8)
    return out[: _encode(src, words, out, 4, 0, 0.0)].tobytes()


def encode_chunk(array: np.ndarray, *, max_ratio: float = 0.8) -> tuple[int, np.ndarray]:
    """Bytes and HDF5 filter mask for ``Dataset.id.write_direct_chunk`` on an lzf dataset.

    Chunks that do not shrink below ``max_ratio`` of their size (judged on the first half,
    so incompressible data costs half a pass) are stored raw with filter mask 1 (lzf
    skipped for that chunk), which HDF5 readers handle transparently.

    Returns:
        ``(filter_mask, data)``; ``data`` is a uint8 view of a per-thread buffer that the
        thread's next call of either encoder overwrites (or of ``array`` itself when stored raw, if it was
        C-contiguous): copy it to keep it.
    """
    src = np.ascontiguousarray(array).reshape(-1).view(np.uint8)
    words = src[: src.shape[0] // 4 * 4].view(np.uint32)
    out = _thread_buffer(src.shape[0])
    n = _encode(src, words, out, 4, src.shape[0] // 2, max_ratio)
    if n < 0 or n > max_ratio * src.shape[0]:
        return 1, src
    return 0, out[:n]


def _thread_buffer(nbytes: int) -> np.ndarray:
    """This thread's output buffer, large enough for the LZF stream of ``nbytes`` input bytes.

    Reused call after call: a fresh buffer of a chunk's size would be page-faulted in each time,
    which costs about as much as encoding into it.
    """
    size = nbytes + nbytes // _MAX_LITERAL + 16
    out = getattr(_scratch, "out", None)
    if out is None or out.shape[0] < size:
        out = _scratch.out = np.empty(size, np.uint8)
    return out
