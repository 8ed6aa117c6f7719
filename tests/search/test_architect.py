"""The bi-level loop on a toy supernet: which parameters each step moves, warm-up, outputs, resume."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from datasets.classify import make_loader
from search.architect import (
    ArchitectConfig,
    architecture_step,
    make_optimizers,
    run_search,
    seed_everything,
    weight_step,
)
from search.genotype import Genotype, decode_cell, viterbi


class ToySupernet(torch.nn.Module):
    """Three candidate linear maps mixed by softmax(alpha[0]); output scaled by a beta weight."""

    def __init__(self) -> None:
        super().__init__()
        self.candidates = torch.nn.ModuleList(torch.nn.Linear(4, 3) for _ in range(3))
        self.alpha = torch.nn.Parameter(1e-3 * torch.randn(9, 3))
        self.beta = torch.nn.Parameter(1e-3 * torch.randn(2, 4, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mix = torch.softmax(self.alpha[0], dim=0)
        out = sum(w * op(x) for w, op in zip(mix, self.candidates, strict=True))
        return out * (0.5 + torch.softmax(self.beta[0, 0], dim=0)[1])

    def arch_parameters(self) -> list[torch.nn.Parameter]:
        return [self.alpha, self.beta]

    def weight_parameters(self) -> list[torch.nn.Parameter]:
        return list(self.candidates.parameters())


class ToyTask:
    """Cross-entropy with input noise from the global RNG (so RNG restore matters on resume)."""

    def __init__(self, penalty_weight: float = 0.0) -> None:
        self.penalty_weight = penalty_weight

    def task_loss(self, model, batch, *, train):
        x, y = batch
        if train:
            x = x + 0.1 * torch.randn_like(x)
        logits = model(x)
        loss = torch.nn.functional.cross_entropy(logits, y)
        return loss, {"loss": loss.item(), "top1": (logits.argmax(1) == y).float().mean().item() * 100}

    def architecture_penalty(self, model):
        # a "cost" that prefers candidate 0 on every edge
        penalty = self.penalty_weight * torch.softmax(model.alpha, dim=-1)[:, 1:].sum()
        return penalty, {"penalty": penalty.item()}

    def genotype(self, model):
        return Genotype(cells={"classify": decode_cell(model.alpha)}, paths={"classify": viterbi(model.beta)})


def _loaders(seed=0, n=32, batch=8):
    g = torch.Generator().manual_seed(99)
    x = torch.randn(n, 4, generator=g)
    y = (x[:, 0] > 0).long() + (x[:, 1] > 0).long()
    data = torch.utils.data.TensorDataset(x, y)
    half = np.arange(n)
    return (make_loader(data, half[: n // 2], batch_size=batch, shuffle=True, seed=seed),
            make_loader(data, half[n // 2:], batch_size=batch, shuffle=True, seed=seed + 1))


def _snapshot(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_one_step_moves_alpha_beta_and_weights_each_in_its_own_step():
    seed_everything(0)
    model, task = ToySupernet(), ToyTask(penalty_weight=0.1)
    weight_opt, arch_opt, _ = make_optimizers(model, ArchitectConfig(epochs=1))
    w_loader, a_loader = _loaders()
    w_batch, a_batch = next(iter(w_loader)), next(iter(a_loader))

    before = _snapshot(model)
    metrics = architecture_step(model, task, a_batch, arch_opt)
    after_arch = _snapshot(model)
    assert not torch.equal(before["alpha"], after_arch["alpha"])
    assert not torch.equal(before["beta"], after_arch["beta"])
    assert all(torch.equal(before[k], after_arch[k]) for k in before if k.startswith("candidates"))
    assert {"arch_loss", "arch_top1", "penalty"} <= set(metrics)

    weight_step(model, task, w_batch, weight_opt, grad_clip=5.0, weight_params=model.weight_parameters())
    after_weight = _snapshot(model)
    assert torch.equal(after_arch["alpha"], after_weight["alpha"])
    assert torch.equal(after_arch["beta"], after_weight["beta"])
    assert all(not torch.equal(after_arch[k], after_weight[k]) for k in before if k.startswith("candidates"))
    assert all(p.grad is None for p in model.parameters())  # no gradient leaks into the next step


def test_optimizers_follow_the_design_hyperparameters():
    model = ToySupernet()
    weight_opt, arch_opt, scheduler = make_optimizers(model, ArchitectConfig(epochs=4, weight_lr=0.2))
    assert isinstance(weight_opt, torch.optim.SGD) and isinstance(arch_opt, torch.optim.Adam)
    group = weight_opt.param_groups[0]
    assert (group["lr"], group["momentum"], group["weight_decay"]) == (0.2, 0.9, 3e-4)
    arch_group = arch_opt.param_groups[0]
    assert (arch_group["lr"], arch_group["betas"], arch_group["weight_decay"]) == (1e-3, (0.9, 0.999), 1e-3)
    assert isinstance(scheduler, torch.optim.lr_scheduler.CosineAnnealingLR)


def test_warmup_epochs_leave_alpha_and_beta_untouched(tmp_path):
    seed_everything(0)
    model = ToySupernet()
    before = _snapshot(model)
    w_loader, a_loader = _loaders()
    result = run_search(model, ToyTask(0.1), weight_loader=w_loader, arch_loader=a_loader,
                        config=ArchitectConfig(epochs=2, warmup_epochs=2), out_dir=tmp_path, progress=False)
    after = _snapshot(model)
    assert torch.equal(before["alpha"], after["alpha"]) and torch.equal(before["beta"], after["beta"])
    assert not torch.equal(before["candidates.0.weight"], after["candidates.0.weight"])
    assert [row["arch_active"] for row in result.history] == [0.0, 0.0]


def test_outputs_each_epoch_genotype_log_checkpoint(tmp_path):
    seed_everything(0)
    model = ToySupernet()
    w_loader, a_loader = _loaders()
    seen = []

    def check(epoch, row):  # the epoch's files exist when the callback runs
        seen.append(epoch)
        assert (tmp_path / "genotypes" / f"epoch_{epoch:03d}.json").is_file()
        assert len((tmp_path / "log.csv").read_text().splitlines()) == epoch + 2

    result = run_search(model, ToyTask(0.1), weight_loader=w_loader, arch_loader=a_loader,
                        config=ArchitectConfig(epochs=3, warmup_epochs=1), out_dir=tmp_path, progress=False,
                        on_epoch_end=check)
    assert seen == [0, 1, 2]
    final = Genotype.load_json(tmp_path / "genotype.json")
    assert final == result.genotype == Genotype.load_json(tmp_path / "genotypes" / "epoch_002.json")
    assert json.loads((tmp_path / "genotype.json").read_text())["cells"]["classify"]
    header = (tmp_path / "log.csv").read_text().splitlines()[0].split(",")
    assert {"epoch", "lr", "train_loss", "train_top1", "arch_loss", "penalty", "seconds"} <= set(header)
    assert (tmp_path / "checkpoint.pt").is_file()
    assert not list(tmp_path.rglob(".*partial")) and not list(tmp_path.rglob("*.tmp"))


def test_budget_penalty_steers_the_architecture(tmp_path):
    """With a large penalty on candidates 1 and 2, every edge decodes to op 0."""
    seed_everything(0)
    model = ToySupernet()
    w_loader, a_loader = _loaders()
    config = ArchitectConfig(epochs=4, warmup_epochs=0, arch_lr=0.05)
    result = run_search(model, ToyTask(penalty_weight=10.0), weight_loader=w_loader, arch_loader=a_loader,
                        config=config, out_dir=tmp_path, progress=False)
    assert all(op == 0 for _, op in result.genotype.cell("classify"))


class _Interrupt(Exception):
    pass


def _search(out_dir, *, resume=False, stop_after=None, epochs=3):
    seed_everything(7)
    model = ToySupernet()
    w_loader, a_loader = _loaders(seed=7)

    def maybe_stop(epoch, row):
        if stop_after is not None and epoch == stop_after:
            raise _Interrupt  # killed after the epoch's checkpoint was written

    result = run_search(model, ToyTask(0.1), weight_loader=w_loader, arch_loader=a_loader,
                        config=ArchitectConfig(epochs=epochs, warmup_epochs=1, seed=7), out_dir=out_dir,
                        resume=resume, progress=False, on_epoch_end=maybe_stop)
    return model, result


def test_resume_after_interruption_gives_identical_results(tmp_path):
    reference, ref_result = _search(tmp_path / "a")
    with pytest.raises(_Interrupt):
        _search(tmp_path / "b", stop_after=0)
    resumed, result = _search(tmp_path / "b", resume=True)
    assert result.start_epoch == 1 and len(result.history) == 2
    for key, value in _snapshot(reference).items():
        assert torch.equal(value, resumed.state_dict()[key]), key
    for ref_row, row in zip(ref_result.history[1:], result.history, strict=True):
        assert {k: v for k, v in ref_row.items() if k != "seconds"} == {
            k: v for k, v in row.items() if k != "seconds"}
    assert result.genotype == ref_result.genotype
    rows = (tmp_path / "b" / "log.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["0", "1", "2"]


def test_resume_refusals(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        _search(tmp_path / "empty", resume=True)
    _search(tmp_path / "run", epochs=1)
    with pytest.raises(FileExistsError, match="--resume"):
        _search(tmp_path / "run", epochs=1)
    with pytest.raises(ValueError, match="epochs: 1 \\(checkpoint\\) vs 2"):
        _search(tmp_path / "run", resume=True, epochs=2)


# --------------------------------------------------------------------------- the classification backend


def _tiny_supernet():
    from search.backends.classify_net import ClassifySupernet

    seed_everything(0)
    return ClassifySupernet(num_classes=3, num_layers=2, num_levels=2, filter_multiplier=2, timesteps=2)


def _classify_task(budget_mj=None, budget_weight=0.0):
    from search.backends.classify import ClassifyTask

    return ClassifyTask(mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25), device=torch.device("cpu"),
                        image_size=(8, 8), budget_mj=budget_mj, budget_weight=budget_weight)


def _image_batch(seed=0, n=4):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 3, 8, 8), generator=g, dtype=torch.uint8), torch.arange(n) % 3


def test_real_supernet_step_moves_alpha_beta_and_weights():
    model = _tiny_supernet()
    task = _classify_task(budget_mj=1e-6, budget_weight=1.0)  # the budget is exceeded: penalty > 0
    weight_opt, arch_opt, _ = make_optimizers(model, ArchitectConfig(epochs=1))
    before = _snapshot(model)
    metrics = architecture_step(model, task, _image_batch(1), arch_opt)
    assert metrics["penalty"] > 0 and metrics["expected_mj"] > 0
    weight_step(model, task, _image_batch(2), weight_opt, grad_clip=5.0, weight_params=model.weight_parameters())
    after = _snapshot(model)
    assert not torch.equal(before["arch_alpha"], after["arch_alpha"])
    assert not torch.equal(before["arch_beta"], after["arch_beta"])
    weights = [k for k in before if not k.startswith("arch_") and k.endswith("weight")]
    assert weights and all(not torch.equal(before[k], after[k]) for k in weights if k.startswith("stem"))
    assert sum(not torch.equal(before[k], after[k]) for k in weights) > len(weights) // 2


def test_network_state_does_not_leak_between_batches():
    from search.backends.classify_net import ClassifyNet

    model = _tiny_supernet()
    task = _classify_task()
    first, other = _image_batch(3), _image_batch(4)
    images = task.prepare(first, train=False)[0]
    for mode in (True, False):
        model.train(mode)
        with torch.no_grad():
            a = model(images).logits
            model(task.prepare(other, train=False)[0])  # a different batch in between
            b = model(images).logits
        assert torch.equal(a, b)
    net = ClassifyNet(model.genotype(), num_classes=3, filter_multiplier=2, timesteps=2).eval()
    with torch.no_grad():
        a = net(images).logits
        net(task.prepare(other, train=False)[0])
        assert torch.equal(a, net(images).logits)


def test_topk_correct_hand_example():
    from search.backends.classify import topk_correct

    logits = torch.tensor([[0.1, 0.9, 0.0], [0.8, 0.1, 0.05], [0.2, 0.3, 0.5]])
    labels = torch.tensor([1, 2, 0])
    assert topk_correct(logits, labels, ks=(1, 2, 5)) == [1, 1, 3]  # k capped at the 3 classes


def test_minimum_energy_is_the_encoder_layer():
    from search.backends.classify import minimum_energy_mj

    # T * (3x3 kernel * 3 in * 3*4 out * 8*8 pixels) MACs * 4.6 pJ
    expected = 2 * (9 * 3 * 12 * 64) * 4.6e-9
    assert minimum_energy_mj(timesteps=2, in_channels=3, filter_multiplier=4, image_size=(8, 8)) == pytest.approx(
        expected)
    model = _tiny_supernet()
    floor = minimum_energy_mj(timesteps=2, in_channels=3, filter_multiplier=2, image_size=(8, 8))
    assert float(model.expected_energy_mj((8, 8)).detach()) > floor
