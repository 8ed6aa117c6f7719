"""``stereo train stereo``: train a spiking stereo network on preprocessed caches."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import typer

from search.backends.classify_config import default_of, help_of
from search.local_config import LocalOptions as L


def _local(name: str, *flags: str):
    return typer.Option(default_of(L, name), *flags, help=help_of(L, name))


def train_stereo_command(
    train: list[Path] = typer.Argument(..., help="Training caches written by `stereo preprocess`."),
    val: list[Path] = typer.Option([], "--val", help="Validation cache (repeat the option for several)."),
    genotype: str = typer.Option("spikedhs_mvsec", help="Named genotype or genotype JSON file."),
    out: Path = typer.Option(Path("runs/stereo"), help="Run folder: checkpoints, log.csv, TensorBoard."),
    epochs: int = typer.Option(200, help="Epochs to train."),
    batch_size: int = typer.Option(2, help="Samples per step (per process under torchrun)."),
    lr: float = typer.Option(1e-3, help="Adam learning rate."),
    milestones: str = typer.Option("50,100,150", help="Epochs at which the learning rate is multiplied by --lr-gamma."),
    lr_gamma: float = typer.Option(0.5, help="MultiStepLR factor."),
    crop_height: int = typer.Option(200, help="Random training crop height (clipped to the frame)."),
    crop_width: int = typer.Option(280, help="Random training crop width (clipped to the frame)."),
    loss: str = typer.Option("cross_entropy", help="cross_entropy (sub-pixel, DDES) or smooth_l1 (LEAStereo)."),
    max_disparity: int = typer.Option(48, help="Candidate disparities 0..D-1 px (multiple of 3)."),
    timesteps: int = typer.Option(4, help="Simulation timesteps T."),
    input_mode: str = typer.Option("repeat", help="repeat (tensor at every step) or bins_as_time (bin t at step t)."),
    feature_filter_multiplier: int = typer.Option(8, help="Channels per node at level 0 of the feature net."),
    matching_filter_multiplier: int = typer.Option(8, help="Channels per node at level 0 of the matching net."),
    cost_upsampling: str = typer.Option(
        "trilinear", help="trilinear (LEAStereo: coarse sample k lands at full index 3k+1) or aligned (at 3k)."),
    cost_volume: str = typer.Option(
        "concat", help="concat (LEAStereo: left and shifted right features) or coincidence (also their product, "
                       "for spikes their coincidences: a direct match signal that speeds up early training)."),
    refinement_channels: int = typer.Option(
        0, help="Width of a real-valued full-resolution refinement head (0: none). With --init-from, a new head "
                "is added on top of the model (refused if it already has one)."),
    refinement_dilations: str = typer.Option("1,2,4,8", help="Dilations of the head's residual 3x3 layers."),
    refinement_probability_channels: int = typer.Option(
        0, help="Channels the matching's candidate probabilities are projected to as a head input (0: not used)."),
    refinement_cost_radius: int = typer.Option(
        0, help="Head input: full-resolution matching cost at offsets -r..r px around the coarse disparity "
                "(0: not used)."),
    freeze: str = typer.Option(
        "", help="Comma-separated parts whose weights stay fixed: feature, matching, refine (e.g. "
                 "'feature,matching' trains only a refinement head)."),
    neuron: str = typer.Option(
        "lif", help="Neuron of every layer the genotype gives no setting: lif, if, plif, or ann (ReLU: the same "
                    "network without spikes, its ANN peer; use --timesteps 1 with it)."),
    seed: int = typer.Option(0, help="Seed of weights, sampling and crops."),
    device: str = typer.Option("auto", help="auto, cpu or cuda."),
    amp: bool = typer.Option(True, "--amp/--no-amp", help="Mixed precision on CUDA."),
    cpu_bf16: bool = typer.Option(
        False, "--cpu-bf16/--no-cpu-bf16",
        help="On the CPU, the forward pass in bfloat16 (about 1.5x faster steps on CPUs with AVX512-BF16, "
             "e.g. AMD Zen 4; can be slower without)."),
    workers: int = typer.Option(0, help="DataLoader worker processes."),
    max_steps_per_epoch: int = typer.Option(None, help="Cap on steps per epoch."),
    time_limit_minutes: float = typer.Option(None, help="Stop after the epoch that exceeds this wall time."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out from its last checkpoint."),
    deterministic: bool = typer.Option(
        False, "--deterministic/--no-deterministic",
        help="Deterministic algorithms: a rerun on the same GPU and software gives the same weights bit for bit "
             "(CUDA training is otherwise not repeatable; CPU training always is)."),
    init_from: Path = typer.Option(
        None, help="Start from this trained model's weights (fine-tuning; 'default' = the shipped model). The "
                   "genotype and network options are then taken from the checkpoint."),
    dgs: bool = _local("dgs", "--dgs/--no-dgs"),
    dgs_deltas: str = _local("dgs_deltas"),
    dgs_sites_per_batch: int = _local("dgs_sites_per_batch"),
    tps: bool = _local("tps", "--tps/--no-tps"),
    tps_decays: str = _local("tps_decays"),
    tps_kinds: str = _local("tps_kinds"),
    hns: bool = _local("hns", "--hns/--no-hns"),
    hns_budget_mj: float | None = _local("hns_budget_mj"),
    hns_budget_weight: float = _local("hns_budget_weight"),
    local_every: int = _local("local_every"),
    local_batches: int = _local("local_batches"),
    local_lr: float = _local("local_lr"),
) -> None:
    """Train a searched spiking stereo network (Adam + MultiStepLR, checkpoints every epoch).

    Examples:

        stereo train stereo flying2.h5 flying3.h5 --val flying1.h5 --out runs/split1

        stereo train stereo s.h5 --epochs 5 --crop-height 96 --crop-width 192 --timesteps 2

        torchrun --nproc_per_node 2 -m stereo train stereo s.h5 --out runs/ddp

        stereo train stereo my_recording.h5 --init-from default --epochs 5 --lr 1e-3
        (fine-tune the shipped default model on your own preprocessed recordings)

        stereo train stereo s.h5 --val v.h5 --init-from runs/a/best.pt --refinement-channels 12 \\
            --freeze feature,matching --loss smooth_l1
        (add a full-resolution refinement head to a trained network and train only the head)

        stereo train stereo s.h5 --val v.h5 --neuron ann --timesteps 1
        (the ANN peer: the same genotype and widths with ReLUs, to compare with the spiking net)

        stereo train stereo s.h5 --val v.h5 --dgs --tps --hns --local-every 5 --local-batches 200
        (node settings chosen by the rounds go into the checkpoint's genotype and OUT/genotype.json;
        show them with `stereo genotype show OUT/genotype.json`)
    """
    import logging

    from search.neurons import NeuronConfig
    from stereo.network import StereoNetConfig
    from stereo.refinement import RefinementConfig
    from stereo.train import StereoTrainConfig, train_stereo

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    from datasets.cache import StereoCache

    if not refinement_channels and (refinement_probability_channels or refinement_cost_radius):
        raise ValueError("--refinement-probability-channels and --refinement-cost-radius need --refinement-channels")
    with StereoCache(train[0]) as cache:
        in_channels = int(cache.attrs["num_bins"])
    refinement = (RefinementConfig(channels=refinement_channels,
                                   dilations=_integers(refinement_dilations, "--refinement-dilations"),
                                   probability_channels=refinement_probability_channels,
                                   cost_radius=refinement_cost_radius)
                  if refinement_channels else None)
    if init_from is not None:
        init_from, network = _checkpoint_network(init_from)
        if refinement is not None:
            if network.refinement is not None:
                raise ValueError(f"--init-from {init_from} already has a refinement head (its settings are kept): "
                                 f"drop --refinement-channels")
            network = dataclasses.replace(network, refinement=refinement)
    else:
        network = StereoNetConfig(in_channels=in_channels, max_disparity=max_disparity, timesteps=timesteps,
                                  input_mode=input_mode, feature_filter_multiplier=feature_filter_multiplier,
                                  matching_filter_multiplier=matching_filter_multiplier,
                                  cost_upsampling=cost_upsampling, cost_volume=cost_volume,
                                  neuron=NeuronConfig(kind=neuron),
                                  refinement=refinement)
    milestone_list = _integers(milestones, "--milestones")
    config = StereoTrainConfig(
        train=tuple(str(p) for p in train), val=tuple(str(p) for p in val), genotype=genotype, out=str(out),
        epochs=epochs, batch_size=batch_size, lr=lr, milestones=milestone_list, lr_gamma=lr_gamma,
        crop_height=crop_height, crop_width=crop_width, loss=loss, seed=seed, device=device, amp=amp,
        workers=workers, max_steps_per_epoch=max_steps_per_epoch, time_limit_minutes=time_limit_minutes,
        network=network, init_from=None if init_from is None else str(init_from), deterministic=deterministic,
        cpu_bf16=cpu_bf16, freeze=tuple(part.strip() for part in freeze.split(",") if part.strip()),
        local=L(dgs=dgs, dgs_deltas=dgs_deltas, dgs_sites_per_batch=dgs_sites_per_batch, tps=tps,
                tps_decays=tps_decays, tps_kinds=tps_kinds, hns=hns, hns_budget_mj=hns_budget_mj,
                hns_budget_weight=hns_budget_weight, local_every=local_every, local_batches=local_batches,
                local_lr=local_lr),
    )
    metrics = train_stereo(config, resume=resume)
    if metrics:
        shown = ", ".join(f"{k}={v:.4g}" for k, v in metrics.items() if isinstance(v, float | int))
        typer.echo(f"trained {metrics['epoch']} epochs -> {out / 'last.pt'}: {shown}")
    else:
        typer.echo(f"nothing to do: {out / 'last.pt'} has already trained {epochs} epochs (raise --epochs to go on)")


def _integers(text: str, option: str) -> tuple[int, ...]:
    try:
        return tuple(int(item) for item in text.split(",") if item.strip())
    except ValueError:
        raise ValueError(f"{option} must be comma-separated integers, got {text!r}") from None


def _checkpoint_network(path: Path):
    """``(checkpoint path, its StereoNetConfig)``; ``default`` names the shipped model."""
    from stereo.network import StereoNetConfig
    from stereo.train import load_trained_model

    if str(path) == "default":
        from stereo.infer import default_model_path

        path = default_model_path()
    if not path.is_file():
        raise ValueError(f"--init-from: no such checkpoint: {path}")
    _, payload = load_trained_model(path)
    return path, StereoNetConfig.from_dict(payload["extra"]["network"])
