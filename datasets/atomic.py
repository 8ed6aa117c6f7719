"""Write files so that no half-written output ever appears under its final name."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def check_output_folder(path: str | os.PathLike) -> Path:
    """Return ``path`` as a Path after checking that its folder exists and is writable.

    Raises:
        FileNotFoundError: the parent folder does not exist.
        PermissionError: the parent folder is not writable.
    """
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise FileNotFoundError(f"output folder does not exist: {parent}")
    if not os.access(parent, os.W_OK):
        raise PermissionError(f"output folder is not writable: {parent}")
    return path


def check_output_file(path: str | os.PathLike) -> Path:
    """:func:`check_output_folder`, and ``path`` itself must not be a folder.

    Raises:
        FileNotFoundError, PermissionError: as :func:`check_output_folder`.
        IsADirectoryError: ``path`` is an existing folder.
    """
    path = check_output_folder(path)
    if path.is_dir():
        raise IsADirectoryError(f"output {path} is a folder; give a file name")
    return path


def partial_path(path: str | os.PathLike) -> Path:
    """The deterministic temporary name used for ``path`` while it is being written."""
    path = Path(path)
    return path.with_name(f".{path.name}.partial")


@contextmanager
def atomic_output(path: str | os.PathLike, *, keep_partial: bool = False) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success move it into place with ``os.replace``.

    Args:
        path: the final file name.
        keep_partial: keep the temporary file when the body raises (for resumable jobs);
            otherwise it is deleted.

    Example:
        >>> import tempfile, pathlib
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
        >>> with atomic_output(out) as tmp:
        ...     _ = tmp.write_text("done")
        >>> out.read_text()
        'done'
    """
    final = check_output_file(path)
    tmp = partial_path(final)
    try:
        yield tmp
    except BaseException:
        if not keep_partial:
            tmp.unlink(missing_ok=True)
        raise
    try:
        os.replace(tmp, final)
    except BaseException:
        # A complete file that cannot take its name (the name is a folder, say) is removed too,
        # resumable or not: nothing is left to resume.
        tmp.unlink(missing_ok=True)
        raise
