"""torchrun with 2 processes (gloo, CPU) follows the loss curve of 1 process with twice the batch."""

import csv
import os
import subprocess
import sys

import pytest
from tiny_data import write_tiny_cache

TINY = ["--max-disparity", "12", "--timesteps", "2", "--feature-filter-multiplier", "2",
        "--matching-filter-multiplier", "2", "--crop-height", "18", "--crop-width", "30", "--device", "cpu",
        "--epochs", "3", "--lr", "0.01"]


def _torchrun(nproc: int, cache, out, batch_size: int) -> list[float]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}",
           "-m", "stereo", "train", "stereo", str(cache), "--out", str(out), "--batch-size", str(batch_size), *TINY]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    with open(out / "log.csv") as f:
        return [float(row["train_loss"]) for row in csv.DictReader(f)]


@pytest.mark.skipif(sys.platform != "linux", reason="gloo multi-process test on Linux only")
def test_two_processes_match_one_process_with_twice_the_batch(tmp_path):
    cache = write_tiny_cache(tmp_path / "c.h5", frames=8)
    single = _torchrun(1, cache, tmp_path / "one", batch_size=4)
    double = _torchrun(2, cache, tmp_path / "two", batch_size=2)
    assert len(single) == len(double) == 3
    # Same samples per step; batch norm statistics are per process on CPU (SyncBatchNorm needs
    # CUDA), so the curves agree within a tolerance rather than exactly.
    for a, b in zip(single, double, strict=True):
        assert b == pytest.approx(a, rel=0.1), (single, double)
    assert single[-1] < single[0] and double[-1] < double[0]
