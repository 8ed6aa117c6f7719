"""Smoke runs of the throughput benchmarks at toy sizes: they must run end to end and report."""

import pytest

from tools import bench_preprocess, bench_voxel


def test_bench_preprocess_runs_on_its_own_recordings(tmp_path, capsys):
    bench_preprocess.main(["--seconds", "0.4", "--rate", "20000", "--repeats", "1", "--workers", "1",
                           "--folder", str(tmp_path)])
    out = capsys.readouterr().out
    assert "M events/s" in out and "reproduce:" in out


def test_bench_voxel_runs_and_agrees_with_numpy(capsys):
    bench_voxel.main(["--events", "20000", "--bins", "3", "--repeats", "1"])
    out = capsys.readouterr().out
    max_diff = float(out.split("max |ours - numpy| = ")[1].split()[0])
    assert max_diff < 1e-5 and "ours vs tonic" in out


def test_bench_voxel_refuses_bad_counts_with_one_line(capsys):
    with pytest.raises(SystemExit) as exc:
        bench_voxel.main(["--events", "1000", "--calls", "0"])
    assert exc.value.code == 2 and "--calls" in capsys.readouterr().err


def test_bench_train_step_runs_at_toy_size(capsys):
    from tools import bench_train_step

    bench_train_step.main(["--crop", "12", "24", "--batch", "1", "--max-disparity", "12", "--repeats", "1"])
    out = capsys.readouterr().out
    assert "slice assignment" in out and "--cost-volume coincidence" in out and "--cpu-bf16" in out


def test_slice_assignment_peer_builds_the_same_volume():
    import torch

    from stereo.cost_volume import concat_cost_volume
    from tools.bench_train_step import slice_assignment_volume

    left, right = torch.rand(2, 3, 4, 9), torch.rand(2, 3, 4, 9)
    assert torch.equal(slice_assignment_volume(left, right, num_disparities=5),
                       concat_cost_volume(left, right, num_disparities=5))
