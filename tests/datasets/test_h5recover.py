import os
import signal
import subprocess
import sys

import h5py
import numpy as np
import pytest

from datasets.h5recover import clear_write_flags, exclusive_writer, lookup3


def test_lookup3_published_values():
    # From Bob Jenkins' lookup3.c self-test (driver5) and its empty-input value.
    assert lookup3(b"") == 0xDEADBEEF
    assert lookup3(b"Four score and seven years ago") == 0x17770551
    assert lookup3(b"Four score and seven years ago", 1) == 0xCD628161


def test_lookup3_reproduces_the_checksum_hdf5_writes(tmp_path):
    path = tmp_path / "a.h5"
    with h5py.File(path, "w", libver="latest") as f:
        f["x"] = np.arange(5)
    raw = path.read_bytes()
    assert raw[8] in (2, 3)  # superblock version
    end = 12 + 4 * raw[9]
    assert lookup3(raw[:end]) == int.from_bytes(raw[end:end + 4], "little")


def test_clear_write_flags_reopens_a_killed_writers_file(tmp_path):
    path = tmp_path / "a.h5"
    script = (f"import h5py, numpy as np, os, signal; f = h5py.File({str(path)!r}, 'w', libver='latest'); "
              "f['x'] = np.arange(7); f.flush(); f.swmr_mode = True; os.kill(os.getpid(), signal.SIGKILL)")
    assert subprocess.run([sys.executable, "-c", script]).returncode == -signal.SIGKILL
    with pytest.raises(OSError, match="already open for write"):
        h5py.File(path, "r").close()
    assert clear_write_flags(path) is True
    assert clear_write_flags(path) is False  # nothing left to clear
    with h5py.File(path, "r+", libver="latest") as f:
        assert f["x"][:].tolist() == list(range(7))


def test_clear_write_flags_leaves_other_files_alone(tmp_path):
    text = tmp_path / "t.h5"
    text.write_bytes(b"not an HDF5 file at all" * 10)
    old = tmp_path / "old.h5"
    with h5py.File(old, "w") as f:  # default libver: superblock version 0, no flags
        f["x"] = 1
    before = old.read_bytes(), text.read_bytes()
    assert clear_write_flags(old) is False and clear_write_flags(text) is False
    assert (old.read_bytes(), text.read_bytes()) == before


@pytest.mark.skipif(os.name != "posix", reason="advisory locks are POSIX only")
def test_exclusive_writer_refuses_a_second_holder_and_cleans_up(tmp_path):
    target = tmp_path / ".c.h5.partial"
    with exclusive_writer(target):
        assert (tmp_path / ".c.h5.partial.lock").exists()
        with pytest.raises(BlockingIOError, match="another process"), exclusive_writer(target):
            pass
    assert not (tmp_path / ".c.h5.partial.lock").exists()
    with exclusive_writer(target):  # free again
        pass
