"""Plain event files: the real recordings in shared data and every supported format."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from datasets.files import read_event_file


def test_real_files(shared_data):
    folder = shared_data / "real_events"
    for name, n, size in [("dvxplorer_sample.npz", 111_954, (320, 240)),
                          ("prophesee_gen3_evt2_sparklers.npz", 521_252, (640, 480))]:
        ev = read_event_file(folder / name)
        assert len(ev) == n and (ev.width, ev.height) == size
        assert set(np.unique(ev.p)) <= {-1, 1} and ev.t.dtype == np.float64
    raw = np.load(folder / "dvs128_stereo_pendulum_30cm.npz")
    for cam, n in (("left", 141_252), ("right", 261_307)):
        ev = read_event_file(folder / "dvs128_stereo_pendulum_30cm.npz", camera=cam)
        assert len(ev) == n and ev.x.max() < 128
        # The real right camera reports 1,233 events with y in 128..131 on its 128x128 sensor;
        # the file gives no sensor size, so the reader keeps them (callers crop or pass sensor_wh).
        assert ev.y.max() == (127 if cam == "left" else 131)
        np.testing.assert_allclose(ev.t, raw[cam][:, 0] * 1e-6)
        assert ev.duration == pytest.approx(13.7, abs=0.1)
    with pytest.raises(ValueError, match="camera"):
        read_event_file(folder / "dvs128_stereo_pendulum_30cm.npz")


def test_formats_round_trip(tmp_path):
    x, y = np.array([1, 2, 3]), np.array([4, 5, 6])
    t, p = np.array([0.5, 0.75, 1.0]), np.array([1, 0, 1])
    np.savez(tmp_path / "a.npz", x=x, y=y, t=t, p=p)
    np.save(tmp_path / "b.npy", np.stack([x, y, t, p], axis=1).astype(np.float64))  # float: x y t p
    np.save(tmp_path / "c.npy", np.stack([(t * 1e6).astype(int), x, y, p], axis=1))  # int: t_us x y p
    with h5py.File(tmp_path / "d.h5", "w") as f:
        for k, v in dict(x=x, y=y, t=(t * 1e6).astype(np.int64), p=p).items():
            f[f"events/{k}"] = v
    lines = "".join(f"{a} {b} {c} {d}\n" for a, b, c, d in zip(t, x, y, p, strict=True))
    (tmp_path / "e.txt").write_text("# t x y p\n" + lines)
    for name in ("a.npz", "b.npy", "c.npy", "d.h5", "e.txt"):
        ev = read_event_file(tmp_path / name)
        assert ev.x.tolist() == [1, 2, 3] and ev.y.tolist() == [4, 5, 6], name
        np.testing.assert_allclose(ev.t, t, err_msg=name)
        assert ev.p.tolist() == [1, -1, 1], name


def test_text_files_with_a_header_line(tmp_path):
    (tmp_path / "a.csv").write_text("# recorded with a DVS\nx,y,t,p\n1,4,0.5,1\n2,5,0.75,0\n")
    (tmp_path / "b.txt").write_text("timestamp x y polarity\n0.5 1 4 1\n0.75 2 5 0\n")
    for name in ("a.csv", "b.txt"):
        ev = read_event_file(tmp_path / name)
        assert ev.x.tolist() == [1, 2] and ev.y.tolist() == [4, 5] and ev.p.tolist() == [1, -1], name
        np.testing.assert_allclose(ev.t, [0.5, 0.75])
    (tmp_path / "c.txt").write_text("a b c d\n0.5 1 4 1\n")
    with pytest.raises(ValueError, match="does not name the columns"):
        read_event_file(tmp_path / "c.txt")


def test_bad_files(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_event_file(tmp_path / "none.npz")
    np.savez(tmp_path / "unsorted.npz", x=[0, 0], y=[0, 0], t=[1.0, 0.5], p=[1, 1])
    with pytest.raises(ValueError, match="not sorted"):
        read_event_file(tmp_path / "unsorted.npz")
    np.savez(tmp_path / "out.npz", x=[5], y=[0], t=[1.0], p=[1], sensor_wh=[4, 4])
    with pytest.raises(ValueError, match="outside"):
        read_event_file(tmp_path / "out.npz")
    (tmp_path / "bad.h5").write_text("no")
    with pytest.raises(ValueError, match="HDF5"):
        read_event_file(tmp_path / "bad.h5")
    np.savez(tmp_path / "good.npz", x=np.arange(5000), y=np.zeros(5000), t=np.linspace(0, 1, 5000), p=np.ones(5000))
    good = (tmp_path / "good.npz").read_bytes()
    (tmp_path / "truncated.npz").write_bytes(good[: len(good) // 2])
    (tmp_path / "empty.npz").write_bytes(b"")
    (tmp_path / "junk.npz").write_text("junk")
    np.save(tmp_path / "objects.npy", np.array([{"t": 1}, None], dtype=object), allow_pickle=True)
    np.savez(tmp_path / "objects.npz", x=np.array([{"x": 1}], dtype=object), y=[0], t=[0.0], p=[1])
    for name, reason in (("truncated.npz", "not a valid .npz file"), ("empty.npz", "empty"),
                         ("junk.npz", "not a valid .npz file"), ("objects.npy", "Python objects"),
                         ("objects.npz", "Python objects")):
        with pytest.raises(ValueError, match=reason) as info:
            read_event_file(tmp_path / name)
        assert name in str(info.value) and "allow_pickle" not in str(info.value)
    (tmp_path / "bad.aedat").write_text("no")
    with pytest.raises(ValueError, match="unknown event file"):
        read_event_file(tmp_path / "bad.aedat")
