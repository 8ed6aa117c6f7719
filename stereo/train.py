"""Training of the spiking stereo network on preprocessed caches.

One process or many (``torchrun --nproc_per_node K``: DistributedDataParallel, gloo on CPU, NCCL
on CUDA). Adam with MultiStepLR (DESIGN.md section 5), random crops, smooth-L1 or sub-pixel
cross-entropy loss, AMP on CUDA, validation with the MVSEC metrics every epoch, a CSV/TensorBoard
log, and an atomic checkpoint after every epoch from which a killed run resumes.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, DistributedSampler, RandomSampler

from search.checkpoint import load_checkpoint, restore_checkpoint, save_checkpoint
from search.local import add_new_parameters
from search.local_config import LocalOptions
from search.named_genotypes import resolve_genotype
from search.runlog import RunLog
from stereo.data import CacheStereoDataset, check_same_preprocessing
from stereo.disparity import smooth_l1_disparity_loss, subpixel_cross_entropy_loss
from stereo.evaluate import evaluate_predictor, model_predictor
from stereo.network import SpikingStereoNet, StereoNetConfig
from stereo.protocol import GTMode

log = logging.getLogger(__name__)

LOSSES = ("cross_entropy", "smooth_l1")
FREEZABLE = ("feature", "matching", "refine")
CHECKPOINT_KIND = "train-stereo"
LAST_CHECKPOINT = "last.pt"
BEST_CHECKPOINT = "best.pt"


@dataclass(frozen=True)
class StereoTrainConfig:
    """Settings of a training run (the network's shape lives in :class:`StereoNetConfig`).

    Attributes:
        train: training cache files.
        val: validation cache files (empty: no validation).
        genotype: a named genotype or a genotype JSON path.
        out: run folder (checkpoints, log.csv, TensorBoard, config.json).
        epochs: epochs to train.
        batch_size: samples per step and process.
        lr: Adam learning rate.
        milestones: epochs at which the learning rate is multiplied by ``lr_gamma``.
        lr_gamma: MultiStepLR factor.
        crop_height, crop_width: random training crop (clipped to the frame size).
        loss: ``"cross_entropy"`` (sub-pixel, DDES) or ``"smooth_l1"`` (LEAStereo).
        seed: seed of weights, sampling and crops.
        device: ``"auto"``, ``"cpu"`` or ``"cuda"`` (``"cuda:1"`` ...).
        amp: mixed precision on CUDA (ignored on CPU).
        workers: DataLoader worker processes.
        max_steps_per_epoch: cap on steps per epoch (None: the whole training set).
        time_limit_minutes: stop after the epoch in which this wall time is exceeded (None: no limit).
        val_every: validate every this many epochs (and after the last one).
        local: DGS/TPS/HNS switches and settings (all off: the plain training loop, unchanged).
        init_from: a trained stereo checkpoint whose weights the run starts from (fine-tuning, e.g. the
            default model on your own recordings). The genotype is taken from it (``genotype`` is
            then ignored) and ``network`` must equal its network settings, except that it may add a
            refinement head to a checkpoint without one; the optimiser starts fresh.
        freeze: parts of the network whose weights stay fixed (``"feature"``, ``"matching"``,
            ``"refine"``); frozen parts also keep their batch-norm statistics (eval mode). E.g. train
            only a new refinement head on top of a trained network.
        deterministic: ``torch.use_deterministic_algorithms(True)`` for the run (and cuBLAS's fixed
            workspace), so that a rerun on the same GPU and software gives the same weights bit for
            bit. Without it CUDA training is not repeatable: on an H200 two identical 6-step runs
            ended with weights up to 0.2 apart; with it they were identical. CPU runs are
            repeatable either way.
        cpu_bf16: on the CPU, run the forward pass under ``torch.autocast`` with bfloat16 (the weights,
            the loss and the optimiser stay float32; validation runs in float32). On a CPU with
            AVX512-BF16 (AMD Zen 4) a training step of issue 5's shape takes 0.217 instead of
            0.320 s on 2 threads (``tools/bench_train_step.py``); without such instructions it can
            be slower. Its spikes differ from those of a float32 run, so it does not reproduce one
            bit for bit (a bfloat16 run repeats itself on the same machine). Ignored on CUDA
            (``amp`` applies there).
    """

    train: tuple[str, ...]
    val: tuple[str, ...] = ()
    genotype: str = "spikedhs_mvsec"
    out: str = "runs/stereo"
    epochs: int = 200
    batch_size: int = 2
    lr: float = 1e-3
    milestones: tuple[int, ...] = (50, 100, 150)
    lr_gamma: float = 0.5
    crop_height: int = 200
    crop_width: int = 280
    loss: str = "cross_entropy"
    seed: int = 0
    device: str = "auto"
    amp: bool = True
    workers: int = 0
    max_steps_per_epoch: int | None = None
    time_limit_minutes: float | None = None
    val_every: int = 1
    network: StereoNetConfig = field(default_factory=StereoNetConfig)
    local: LocalOptions = field(default_factory=LocalOptions)
    init_from: str | None = None
    freeze: tuple[str, ...] = ()
    deterministic: bool = False
    cpu_bf16: bool = False

    def __post_init__(self) -> None:
        if not self.train:
            raise ValueError("no training caches given")
        if self.loss not in LOSSES:
            raise ValueError(f"unknown loss {self.loss!r}; known: {', '.join(LOSSES)}")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError("epochs and batch_size must be >= 1")
        if not self.lr >= 0 or not self.lr_gamma > 0:
            raise ValueError(f"--lr must be >= 0 and --lr-gamma > 0, got {self.lr} and {self.lr_gamma}")
        if self.crop_height < 1 or self.crop_width < 1:
            raise ValueError(f"--crop-height and --crop-width must be >= 1, got {self.crop_height}x{self.crop_width}")
        unknown = set(self.freeze) - set(FREEZABLE)
        if unknown:
            raise ValueError(f"--freeze: unknown part(s) {', '.join(sorted(unknown))}; known: {', '.join(FREEZABLE)}")
        if any(m < 1 for m in self.milestones):
            raise ValueError(f"--milestones must be epochs >= 1, got {list(self.milestones)}")


def resolve_device(name: str) -> torch.device:
    """``"auto"`` -> CUDA when available else CPU; asking for CUDA without a GPU is an error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        device = None
    if device is None or device.type not in ("cpu", "cuda"):
        raise ValueError(f"--device must be auto, cpu, cuda or cuda:N, got {name!r}")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {name!r} requested but no CUDA GPU is available (use --device cpu)")
    return device


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@dataclass
class _Distributed:
    rank: int = 0
    world_size: int = 1

    distributed: bool = False

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _init_distributed(device: torch.device) -> _Distributed:
    # Launched by torchrun (even with one process): DistributedDataParallel and DistributedSampler,
    # so K processes with batch b see exactly the samples of one process with batch K*b.
    if "WORLD_SIZE" not in os.environ:
        return _Distributed()
    backend = "nccl" if device.type == "cuda" else "gloo"
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group(backend=backend)
    return _Distributed(rank=torch.distributed.get_rank(), world_size=torch.distributed.get_world_size(),
                        distributed=True)


def _loss(output, gt: torch.Tensor, config: StereoTrainConfig) -> tuple[torch.Tensor, dict[str, float]]:
    """``config.loss`` on the matching's output, plus smooth-L1 on the refined disparity when there is a head."""
    max_disparity = config.network.max_disparity
    coarse = output.disparity if output.coarse_disparity is None else output.coarse_disparity
    if config.loss == "smooth_l1":
        loss, info = smooth_l1_disparity_loss(coarse, gt, max_disparity=max_disparity)
    else:
        loss, info = subpixel_cross_entropy_loss(output.log_probability.float(), gt, max_disparity=max_disparity)
    if output.coarse_disparity is not None:
        refined, _ = smooth_l1_disparity_loss(output.disparity.float(), gt, max_disparity=max_disparity)
        loss = loss + refined
    return loss, info


def freeze_parts(model: SpikingStereoNet, parts: tuple[str, ...]) -> None:
    """Fix the weights of the named parts and put them (and their batch norms) in eval mode.

    Call again after every ``model.train()``, which switches them back to training mode.
    """
    for name in parts:
        part = getattr(model, name, None)
        if part is None:
            raise ValueError(f"--freeze {name}: this network has no {name} part")
        part.requires_grad_(False)
        part.eval()


def build_model(genotype_spec: str, network: StereoNetConfig) -> tuple[SpikingStereoNet, dict]:
    """The network of a genotype (name or JSON path) and the genotype as a dict."""
    genotype = resolve_genotype(genotype_spec)
    return SpikingStereoNet(genotype, network), genotype.to_dict()


def _model_from_checkpoint(path: str, network: StereoNetConfig) -> tuple[SpikingStereoNet, dict, dict | None]:
    """A trained checkpoint's network with its weights, its genotype and the preprocessing it was trained on."""
    model, payload = load_trained_model(path)
    theirs = payload["extra"]["network"]
    mine = network.to_dict()
    adds_head = network.refinement is not None and not theirs.get("refinement")
    differ = {k: (mine.get(k), theirs.get(k)) for k in {*mine, *theirs}
              if theirs.get(k) != mine.get(k) and not (adds_head and k == "refinement")}
    if differ:
        shown = ", ".join(f"{k} {ours!r} vs {other!r}" for k, (ours, other) in sorted(differ.items()))
        raise ValueError(f"{path}: the run's network settings differ from the checkpoint's ({shown}); "
                         f"fine-tuning keeps the checkpoint's network (it may only add a refinement head)")
    if adds_head:  # the checkpoint's weights plus a new head that starts as the identity
        trained = model
        model = SpikingStereoNet(trained.genotype, network)
        missing, unexpected = model.load_state_dict(trained.state_dict(), strict=False)
        if unexpected or any(not key.startswith("refine.") for key in missing):
            raise ValueError(f"{path}: weights do not fit the network with a refinement head")
    return model.train(), payload["genotype"], payload.get("extra", {}).get("data")


def check_cache_matches(attrs: dict, network: StereoNetConfig, *, what: str, trained_on: dict | None = None,
                        reference: str = "the model was trained on") -> None:
    """Refuse caches the network cannot take (channel count) or was not trained for.

    Args:
        attrs: the cache's attributes (representation, num_bins, window_ms, ...).
        network: the network's configuration.
        what: how to name the cache in the message.
        trained_on: preprocessing settings to match (a checkpoint's ``extra["data"]``, or the
            training caches' attributes); representation, bins and window length must be equal.
        reference: how to name ``trained_on`` in the message.
    """
    channels = 2 if attrs["representation"] == "count" else int(attrs["num_bins"])
    if channels != network.in_channels:
        raise ValueError(
            f"{what} holds {attrs['representation']} tensors with {channels} channels but the model expects "
            f"{network.in_channels}; preprocess with --bins {network.in_channels} or train a matching model"
        )
    if trained_on is not None:
        check_same_preprocessing(attrs, trained_on, what=what, reference_name=reference)


def train_stereo(config: StereoTrainConfig, *, resume: bool = False) -> dict:
    """Train (or resume) a run; returns the final epoch's metrics.

    Args:
        config: the run settings.
        resume: continue from ``out/last.pt`` (refused when it was made with other settings).

    Returns:
        Flat dict: ``epoch``, ``train_loss`` and validation metrics of the last epoch.
    """
    device = resolve_device(config.device)
    if config.deterministic:
        # cuBLAS reads this when it first creates its handle, i.e. before the first CUDA matmul
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(config.deterministic or was_deterministic)
    try:
        return _train(config, device, resume=resume)
    finally:
        torch.use_deterministic_algorithms(was_deterministic)


def _train(config: StereoTrainConfig, device: torch.device, *, resume: bool) -> dict:
    dist = _init_distributed(device)
    if device.type == "cuda" and dist.distributed:
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    out = Path(config.out)
    seed_everything(config.seed)

    init_data = None
    if config.init_from:
        model, genotype, init_data = _model_from_checkpoint(config.init_from, config.network)
    else:
        model, genotype = build_model(config.genotype, config.network)
    model.to(device)
    freeze_parts(model, config.freeze)
    trainable = [p for p in model.parameters() if p.requires_grad]
    if not trainable:
        raise ValueError(f"--freeze {','.join(config.freeze)} leaves nothing to train")
    train_set = CacheStereoDataset(config.train, crop=None, seed=config.seed)
    check_cache_matches(train_set.attrs, config.network, what="the training cache", trained_on=init_data,
                        reference=f"{config.init_from} was trained on")
    crop = (min(config.crop_height, train_set.attrs["height"]), min(config.crop_width, train_set.attrs["width"]))
    train_set = CacheStereoDataset(config.train, crop=crop, seed=config.seed)
    focal_baseline = float(train_set.attrs["focal_baseline"])
    val_set = CacheStereoDataset(config.val, seed=config.seed) if config.val else None
    if val_set is not None:
        check_cache_matches(val_set.attrs, config.network, what="the validation cache", trained_on=train_set.attrs,
                            reference="the training caches have")
    if config.local.any_local:
        _check_local_allowed(dist=dist, resume=resume, freeze=config.freeze)
    last = out / LAST_CHECKPOINT
    if resume and not last.exists():
        raise FileNotFoundError(f"nothing to resume: {last} does not exist")
    if not resume and last.exists():
        raise FileExistsError(f"{out} already holds a run ({last}); pass --resume to continue it or choose "
                              f"another --out")
    if dist.is_main:  # only once the inputs are known to be usable: a refused run leaves no folder
        out.mkdir(parents=True, exist_ok=True)
    local = (_local_searches(config, model, train_set, val_set, device, out, dist=dist, resume=resume)
             if config.local.any_local else None)

    optimizer = torch.optim.Adam(trainable, lr=config.lr, betas=(0.9, 0.999))
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=list(config.milestones),
                                                     gamma=config.lr_gamma)
    run_config = _jsonable_config(config)
    start_epoch, step = 0, 0
    if resume:
        payload = _with_network_defaults(load_checkpoint(last, map_location=device))
        start_epoch, step = restore_checkpoint(
            payload, model=model, config=run_config, genotype=genotype, optimizers={"adam": optimizer},
            schedulers={"lr": scheduler}, kind=CHECKPOINT_KIND,
            ignore_config_keys=("out", "device", "workers", "epochs", "time_limit_minutes"), source=str(last),
        )

    train_model: torch.nn.Module = model
    if dist.distributed:
        if device.type == "cuda":
            train_model = torch.nn.SyncBatchNorm.convert_sync_batchnorm(model)
        train_model = torch.nn.parallel.DistributedDataParallel(
            train_model, device_ids=[device.index] if device.type == "cuda" else None)
        sampler = DistributedSampler(train_set, num_replicas=dist.world_size, rank=dist.rank, shuffle=True,
                                     seed=config.seed)
    else:
        sampler = RandomSampler(train_set, generator=torch.Generator().manual_seed(config.seed))
    use_amp = config.amp and device.type == "cuda"
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp)
    use_bf16 = config.cpu_bf16 and device.type == "cpu"

    if dist.is_main:
        (out / "config.json").write_text(json.dumps({"config": run_config, "genotype": genotype}, indent=2))
    # log.csv counts epochs from 1 (row k = after k epochs); the rows of the epochs already done stay
    runlog = RunLog(out, start_epoch=start_epoch + 1) if dist.is_main else None
    started = time.monotonic()
    metrics: dict = {}
    best = math.inf
    try:
        for epoch in range(start_epoch, config.epochs):
            if isinstance(sampler, DistributedSampler):
                sampler.set_epoch(epoch)
            else:
                sampler.generator.manual_seed(config.seed * 100_003 + epoch)
            train_set.set_epoch(epoch)
            loader = DataLoader(train_set, batch_size=config.batch_size, sampler=sampler,
                                num_workers=config.workers, drop_last=True)
            model.train()
            freeze_parts(model, config.freeze)
            losses = []
            for batch_index, batch in enumerate(loader):
                if config.max_steps_per_epoch is not None and batch_index >= config.max_steps_per_epoch:
                    break
                left, right = batch.left.to(device), batch.right.to(device)
                gt = batch.disparity.to(device)
                with torch.autocast(device.type, enabled=use_amp or use_bf16,
                                    dtype=torch.bfloat16 if use_bf16 else None):
                    output = train_model(left, right)
                loss, _ = _loss(output, gt, config)
                optimizer.zero_grad(set_to_none=True)
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
                losses.append(loss.detach())
                step += 1
            scheduler.step()
            train_loss = torch.stack(losses).mean() if losses else torch.tensor(math.nan)
            if dist.distributed:
                train_loss = train_loss.to(device)
                torch.distributed.all_reduce(train_loss)
                train_loss = train_loss / dist.world_size
            metrics = {"epoch": epoch + 1, "step": step, "train_loss": float(train_loss),
                       "lr": scheduler.get_last_lr()[0], "minutes": (time.monotonic() - started) / 60}
            if local is not None:
                local_metrics, genotype = local.after_epoch(epoch, genotype)
                add_new_parameters(optimizer, model)  # e.g. the learned tau of a PLIF that TPS chose
                metrics.update(local_metrics)
            if dist.is_main:
                if val_set is not None and ((epoch + 1) % config.val_every == 0 or epoch + 1 == config.epochs):
                    model.eval()
                    evaluation = evaluate_predictor(
                        model_predictor(model), DataLoader(val_set, batch_size=1, num_workers=config.workers),
                        focal_baseline=focal_baseline, gt_mode=GTMode(), device=device, prefix="val")
                    metrics.update(evaluation.summary)
                save_checkpoint(last, model=model, epoch=epoch + 1, step=step, config=run_config,
                                genotype=genotype, optimizers={"adam": optimizer}, schedulers={"lr": scheduler},
                                kind=CHECKPOINT_KIND, extra={"metrics": metrics,
                                                             "network": config.network.to_dict(),
                                                             "data": dict(train_set.attrs)})
                score = metrics["train_loss"] if val_set is None else metrics.get("val/mean_disparity_error")
                if score is not None and score < best:
                    best = score
                    save_checkpoint(out / BEST_CHECKPOINT, model=model, epoch=epoch + 1, step=step,
                                    config=run_config, genotype=genotype, kind=CHECKPOINT_KIND,
                                    extra={"metrics": metrics, "network": config.network.to_dict(),
                                           "data": dict(train_set.attrs)})
                runlog.log_epoch(epoch + 1, metrics)
                log.info("epoch %d: %s", epoch + 1, ", ".join(f"{k}={v:.4g}" for k, v in metrics.items()
                                                             if isinstance(v, float)))
            if config.time_limit_minutes is not None and (time.monotonic() - started) / 60 > config.time_limit_minutes:
                break
        if local is not None:
            local.finish()
    finally:
        if runlog is not None:
            runlog.close()
        if dist.distributed:
            torch.distributed.destroy_process_group()
    return metrics


def _with_network_defaults(payload: dict) -> dict:
    """The checkpoint with its network config completed by the defaults of options added since.

    A run written before an option existed ran with that option's default behaviour, so it
    resumes under the new version instead of being refused as "a different config".
    """
    config = payload.get("config")
    if not isinstance(config, dict) or not isinstance(config.get("network"), dict):
        return payload
    try:
        network = asdict(StereoNetConfig.from_dict(config["network"]))
    except (TypeError, ValueError):
        return payload  # not ours to fix: the comparison reports the difference
    return {**payload, "config": {**config, "network": network}}


def _jsonable_config(config: StereoTrainConfig) -> dict:
    data = asdict(config)
    data["train"] = [str(p) for p in config.train]
    data["val"] = [str(p) for p in config.val]
    data["milestones"] = list(config.milestones)
    if not config.local.any_local:
        del data["local"]  # runs without local searches keep the config (and resume) of earlier versions
    if config.init_from is None:
        del data["init_from"]  # likewise for runs that do not fine-tune
    if not config.deterministic:
        del data["deterministic"]
    if not config.cpu_bf16:
        del data["cpu_bf16"]  # float32 runs keep the config (and resume) of earlier versions
    if config.freeze:
        data["freeze"] = list(config.freeze)
    else:
        del data["freeze"]
    return data


class _LocalSearches:
    """DGS/TPS/HNS rounds of a training run (:class:`search.backends.stereo_local.StereoLocal`).

    Rounds use their own seeded sampler (the training sampler and the global random stream are
    untouched) and held-out batches from the validation caches when given, else alternate
    training batches. After a round the genotype, with the chosen node settings, is stored in the
    checkpoints and written to ``out/genotype.json``.
    """

    def __init__(self, config: StereoTrainConfig, model: torch.nn.Module, train_set: CacheStereoDataset,
                 val_set: CacheStereoDataset | None, device: torch.device, out: Path) -> None:
        from search.backends.stereo_local import StereoLocal

        self.config, self.train_set, self.val_set, self.out = config, train_set, val_set, out
        first = CacheStereoDataset(config.train, seed=config.seed)[0]  # HNS energies: full frame, both views

        def loss_fn(net: torch.nn.Module, batch) -> torch.Tensor:
            output = net(batch.left.to(device), batch.right.to(device))
            return _loss(output, batch.disparity.to(device), config)[0]

        self.local = StereoLocal(config.local, model, loss_fn=loss_fn, out_dir=out,
                                 energy_pair=(first.left[None].to(device), first.right[None].to(device)))

    def _pairs(self, epoch: int):
        from search.backends.stereo_local import alternate_pairs

        seed = self.config.seed * 100_003 + epoch + 7_919
        sampler = RandomSampler(self.train_set, generator=torch.Generator().manual_seed(seed))
        train = DataLoader(self.train_set, batch_size=self.config.batch_size, sampler=sampler, drop_last=True,
                           num_workers=self.config.workers, generator=torch.Generator().manual_seed(seed))
        heldout = None
        if self.val_set is not None:
            heldout = DataLoader(self.val_set, batch_size=self.config.batch_size, num_workers=self.config.workers,
                                 generator=torch.Generator().manual_seed(seed))
        return alternate_pairs(train, heldout)

    def after_epoch(self, epoch: int, genotype: dict) -> tuple[dict[str, float], dict]:
        """Run the rounds due after ``epoch`` (0-based); returns log metrics and the genotype dict."""
        from search.genotype import Genotype

        metrics = self.local.after_epoch(epoch, lambda: self._pairs(epoch))
        if not metrics:
            return {}, genotype
        updated = self.local.genotype(Genotype.from_dict(genotype))
        updated.save_json(self.out / "genotype.json")
        return metrics, updated.to_dict()

    def finish(self) -> None:
        self.local.finish()


def _local_searches(config: StereoTrainConfig, model: torch.nn.Module, train_set: CacheStereoDataset,
                    val_set: CacheStereoDataset | None, device: torch.device, out: Path, *,
                    dist: _Distributed, resume: bool) -> _LocalSearches:
    _check_local_allowed(dist=dist, resume=resume)
    return _LocalSearches(config, model, train_set, val_set, device, out)


def _check_local_allowed(*, dist: _Distributed, resume: bool, freeze: tuple[str, ...] = ()) -> None:
    if freeze:  # their rounds rewrite neuron settings (and may add PLIF parameters) in any part
        raise ValueError("--freeze is not supported together with --dgs/--tps/--hns")
    if dist.distributed:
        raise ValueError("--dgs/--tps/--hns are not supported under torchrun (train in one process)")
    if resume:
        raise ValueError("--resume is not supported together with --dgs/--tps/--hns (the node settings of the "
                         "interrupted run are in its genotype.json: train that genotype instead)")


def load_trained_model(path: str | os.PathLike, *, device: str | torch.device = "cpu") -> tuple[SpikingStereoNet, dict]:
    """Rebuild a trained network from a checkpoint alone (genotype and network config inside).

    Returns:
        ``(model in eval mode, checkpoint payload)``; the payload's ``extra["data"]`` holds the
        preprocessing settings the model was trained on.

    Raises:
        ValueError: the file is not a stereo checkpoint of this project.
    """
    from search.genotype import Genotype

    payload = load_checkpoint(path, map_location=device)
    if payload.get("kind") != CHECKPOINT_KIND or "network" not in payload.get("extra", {}):
        raise ValueError(f"{path} is not a stereo model checkpoint (kind {payload.get('kind')!r})")
    network = StereoNetConfig.from_dict(payload["extra"]["network"])
    model = SpikingStereoNet(Genotype.from_dict(payload["genotype"]), network)
    try:
        model.load_state_dict(payload["model"])
    except RuntimeError as exc:
        raise ValueError(f"{path}: weights do not fit the network described in the checkpoint: {exc}") from exc
    return model.to(device).eval(), payload
