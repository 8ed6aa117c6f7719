"""Checkpoints: atomic write, full round trip, resume refusals, wrapper stripping; the run log."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from search.checkpoint import (
    load_checkpoint,
    restore_checkpoint,
    save_checkpoint,
    unwrap_model,
)
from search.runlog import RunLog

CONFIG = {"epochs": 3, "lr": 0.1, "out": "runs/a", "betas": (0.9, 0.999)}
GENOTYPE = {"cell": [[1, 1], [0, 1]], "path": [0, 1]}


def _run(seed=0):
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=3)
    return model, opt, sched


def _train_step(model, opt, sched):
    x = torch.randn(8, 4)
    loss = model(x).square().mean()
    opt.zero_grad()
    loss.backward()
    opt.step()
    sched.step()
    return loss.item()


def test_round_trip_restores_model_optimizer_scheduler_and_rng(tmp_path):
    model, opt, sched = _run()
    _train_step(model, opt, sched)
    path = save_checkpoint(tmp_path / "ckpt.pt", model=model, epoch=1, step=1, config=CONFIG,
                           genotype=GENOTYPE, optimizers={"weights": opt}, schedulers={"weights": sched},
                           kind="test")
    assert not list(tmp_path.glob(".*partial"))
    expected = [_train_step(model, opt, sched), random.random(), float(np.random.rand())]

    fresh, fresh_opt, fresh_sched = _run(seed=123)
    payload = load_checkpoint(path)
    epoch, step = restore_checkpoint(payload, model=fresh, config=dict(CONFIG, betas=[0.9, 0.999]),
                                     genotype=GENOTYPE, optimizers={"weights": fresh_opt},
                                     schedulers={"weights": fresh_sched}, kind="test")
    assert (epoch, step) == (1, 1)
    assert fresh_sched.last_epoch == 1
    got = [_train_step(fresh, fresh_opt, fresh_sched), random.random(), float(np.random.rand())]
    assert got == expected  # identical continuation: weights, momentum, lr, all RNGs


def test_payload_holds_the_run_description(tmp_path):
    model, opt, sched = _run()
    save_checkpoint(tmp_path / "c.pt", model=model, epoch=2, config=CONFIG, genotype=GENOTYPE, kind="k",
                    extra={"top1": 50.0})
    payload = load_checkpoint(tmp_path / "c.pt")
    assert payload["config"]["lr"] == 0.1 and payload["genotype"] == GENOTYPE
    assert payload["extra"] == {"top1": 50.0} and payload["epoch"] == 2
    assert isinstance(payload["code_version"], str) and payload["code_version"]


@pytest.mark.parametrize(("change", "match"), [
    ({"config": dict(CONFIG, lr=0.2)}, "lr: 0.1 \\(checkpoint\\) vs 0.2"),
    ({"genotype": {"cell": [[0, 1]], "path": [0]}}, "different genotype"),
    ({"kind": "other"}, "made by 'test'"),
])
def test_resume_refuses_a_different_run(tmp_path, change, match):
    model, opt, sched = _run()
    save_checkpoint(tmp_path / "c.pt", model=model, epoch=1, config=CONFIG, genotype=GENOTYPE, kind="test")
    args = {"config": CONFIG, "genotype": GENOTYPE, "kind": "test", **change}
    with pytest.raises(ValueError, match=match):
        restore_checkpoint(load_checkpoint(tmp_path / "c.pt"), model=model, **args)


def test_resume_ignores_listed_keys(tmp_path):
    model, _, _ = _run()
    save_checkpoint(tmp_path / "c.pt", model=model, epoch=1, config=CONFIG)
    restore_checkpoint(load_checkpoint(tmp_path / "c.pt"), model=model, config=dict(CONFIG, out="elsewhere"),
                       ignore_config_keys=["out"])


def test_missing_and_malformed_checkpoints(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.pt"):
        load_checkpoint(tmp_path / "nope.pt")
    (tmp_path / "bad.pt").write_bytes(b"garbage")
    with pytest.raises(ValueError, match="bad.pt"):
        load_checkpoint(tmp_path / "bad.pt")
    torch.save({"something": 1}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not a checkpoint"):
        load_checkpoint(tmp_path / "other.pt")
    with pytest.raises(IsADirectoryError, match="is a folder"):
        load_checkpoint(tmp_path)
    import argparse

    torch.save({"format": 1, "model": argparse.Namespace(a=1)}, tmp_path / "objects.pt")
    with pytest.raises(ValueError, match="Python objects besides tensors") as info:
        load_checkpoint(tmp_path / "objects.pt")
    assert "weights_only" not in str(info.value) and "trust" not in str(info.value)


def test_failed_save_leaves_no_file(tmp_path):
    model, _, _ = _run()
    with pytest.raises(Exception):  # noqa: B017 - any pickling error
        save_checkpoint(tmp_path / "c.pt", model=model, epoch=1, config=CONFIG, extra={"f": lambda: 0})
    assert list(tmp_path.iterdir()) == []


def test_wrappers_are_stripped(tmp_path):
    model, _, _ = _run()
    wrapped = torch.nn.DataParallel(model)
    assert unwrap_model(wrapped) is model
    save_checkpoint(tmp_path / "c.pt", model=wrapped, epoch=0, config={})
    keys = load_checkpoint(tmp_path / "c.pt")["model"].keys()
    assert not any(k.startswith("module.") for k in keys)


def test_runlog_writes_rows_and_truncates_on_resume(tmp_path):
    log = RunLog(tmp_path, tensorboard=False)
    for epoch in range(3):
        log.log_epoch(epoch, {"loss": 1.0 / (epoch + 1), "top1": 10.0 * epoch})
    lines = (tmp_path / "log.csv").read_text().splitlines()
    assert lines[0] == "epoch,loss,top1" and len(lines) == 4 and lines[2] == "1,0.5,10"
    resumed = RunLog(tmp_path, start_epoch=1, tensorboard=False)
    resumed.log_epoch(1, {"loss": 0.25, "arch_top1": 5.0})  # a new column; earlier rows blank
    lines = (tmp_path / "log.csv").read_text().splitlines()
    assert lines == ["epoch,loss,top1,arch_top1", "0,1,0,", "1,0.25,,5"]


def test_runlog_tensorboard_events(tmp_path):
    pytest.importorskip("tensorboard")
    with RunLog(tmp_path) as log:
        log.log_epoch(0, {"loss": 1.0})
    assert list((tmp_path / "tensorboard").glob("events.out.tfevents.*"))
