"""Run a stereo model over windows and score it with the MVSEC protocol (per frame, then averaged)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import torch

from stereo.data import StereoSample
from stereo.metrics import disparity_errors
from stereo.protocol import GTMode, MetricAccumulator, prepare_ground_truth

# A predictor maps batched left/right event tensors [N, C, H, W] to disparity [N, 1, H, W] px.
Predictor = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class Evaluation:
    """Result of :func:`evaluate_predictor`.

    Attributes:
        summary: flat dict of frame-averaged metrics (see :class:`stereo.protocol.MetricAccumulator`).
        gt_mode: how the ground truth was prepared.
        per_frame: ``(frame_index, metrics dict)`` per frame, in input order.
    """

    summary: dict[str, float]
    gt_mode: GTMode
    per_frame: list[tuple[int, dict[str, float]]] = field(default_factory=list)


def model_predictor(model: torch.nn.Module) -> Predictor:
    """Wrap a :class:`stereo.network.SpikingStereoNet` (or anything returning ``.disparity``)."""

    def predict(left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
        return model(left, right).disparity

    return predict


@torch.no_grad()
def evaluate_predictor(
    predictor: Predictor,
    batches: Iterable[StereoSample],
    *,
    focal_baseline: float,
    gt_mode: GTMode | None = None,
    device: str | torch.device = "cpu",
    prefix: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> Evaluation:
    """Score a predictor on batches of samples with the MVSEC protocol.

    Args:
        predictor: batched ``(left, right) -> disparity [N, 1, H, W]``.
        batches: :class:`StereoSample` batches (e.g. a DataLoader over a cache).
        focal_baseline: fB of the recording, px*m.
        gt_mode: exact/DDES-quantised and dense/sparse GT (default exact dense).
        device: where the predictor runs.
        prefix: metric key prefix such as ``"mvsec-split1-test"``.
        progress: called with the number of frames after each batch.

    Returns:
        :class:`Evaluation`.
    """
    gt_mode = gt_mode or GTMode()
    accumulator = MetricAccumulator(prefix=prefix)
    per_frame: list[tuple[int, dict[str, float]]] = []
    for batch in batches:
        pred = predictor(batch.left.to(device), batch.right.to(device)).float().cpu().numpy()
        for i in range(pred.shape[0]):
            gt = prepare_ground_truth(batch.disparity[i, 0], gt_mode, sparse_mask=batch.sparse_mask[i, 0])
            metrics = disparity_errors(pred[i, 0], gt, focal_baseline=focal_baseline)
            accumulator.add(metrics)
            per_frame.append((int(batch.frame_index[i]), metrics.to_dict()))
        if progress is not None:
            progress(pred.shape[0])
    return Evaluation(summary=accumulator.summary(), gt_mode=gt_mode, per_frame=per_frame)



def baseline_predictor(method: str, *, max_disparity: int) -> Predictor:
    """A classical baseline (``"sgbm"`` or ``"bm"``) on event images of the cached tensors, holes filled."""
    from stereo.baselines import baseline_disparity, tensor_event_image

    def predict(left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
        out = [baseline_disparity(tensor_event_image(lt), tensor_event_image(rt), method=method,
                                  max_disparity=max_disparity) for lt, rt in zip(left.cpu(), right.cpu(), strict=True)]
        return torch.from_numpy(np.stack(out)).unsqueeze(1)

    return predict


def split_frames(source_data: str, *, split: int | None, subset: str) -> list[int] | None:
    """GT frame indices of an MVSEC split subset that belong to the recording ``source_data``.

    Returns None (all frames) when ``split`` is None. The sequence is recognised from the data file
    name (``indoor_flying1_data.hdf5`` -> ``indoor_flying1``).

    Raises:
        ValueError: unknown subset, or the recording is not part of the split.
    """
    if subset not in ("train", "val", "test"):
        raise ValueError(f"--subset must be train, val or test, got {subset!r}")
    if split is None:
        return None
    from datasets.splits import mvsec_split

    frames = getattr(mvsec_split(split), subset)
    sequence = source_data.replace("_data.hdf5", "").replace(".hdf5", "")
    selected = [k for seq, k in frames if seq == sequence]
    if not selected:
        names = sorted({seq for seq, _ in frames})
        raise ValueError(f"recording {source_data} is not in the {subset} set of MVSEC split {split} "
                         f"(which uses {', '.join(names)})")
    return selected


def evaluate_on_caches(
    caches: list[str],
    *,
    checkpoint: str | None,
    baselines: tuple[str, ...] = (),
    split: int | None = None,
    subset: str = "test",
    gt_mode: GTMode | None = None,
    device: str | torch.device = "cpu",
    batch_size: int = 1,
    progress: Callable[[int], None] | None = None,
) -> list[dict]:
    """Evaluate a trained checkpoint and/or classical baselines on cached windows.

    Returns:
        One :func:`stereo.protocol.results_record` dict per method (model first), each with the
        frame-averaged metrics, the GT mode, fB, the frame count, the number of the split's frames
        the caches lack (``split_frames_missing``) and, for the model, its energy
        per frame (mJ) and mean firing rate measured on ``search.cost.ENERGY_SAMPLES`` frames spread evenly
        over the evaluated ones.
    """
    from torch.utils.data import DataLoader

    from search.cost import ENERGY_SAMPLES, energy_report
    from stereo.data import CacheStereoDataset
    from stereo.protocol import results_record
    from stereo.train import check_cache_matches, load_trained_model

    if batch_size < 1:
        raise ValueError(f"--batch-size must be >= 1, got {batch_size}")
    gt_mode = gt_mode or GTMode()
    frames = [split_frames(_source_name(path), split=split, subset=subset) for path in caches]
    dataset = CacheStereoDataset(caches, frames=frames if split is not None else None)
    # A cache may lack some of a split's frames (windows outside the events): scores over fewer
    # frames are not the published protocol, so the record says how many are missing.
    missing = sum(len(f) for f in frames) - len(dataset) if split is not None else 0
    focal_baseline = float(dataset.attrs["focal_baseline"])
    methods: list[tuple[str, Predictor, dict]] = []
    if checkpoint is not None:
        model, payload = load_trained_model(checkpoint, device=device)
        check_cache_matches(dataset.attrs, model.config, what="the cache",
                            trained_on=payload.get("extra", {}).get("data"))
        # Firing rates vary from window to window: average a few spread over the evaluated set.
        picks = sorted({int(i) for i in np.linspace(0, len(dataset) - 1, min(ENERGY_SAMPLES, len(dataset))).round()})
        samples = [dataset[i] for i in picks]
        report = energy_report(model, torch.stack([torch.as_tensor(s.left) for s in samples]).to(device),
                               torch.stack([torch.as_tensor(s.right) for s in samples]).to(device),
                               num_samples=len(samples))
        spiking = [layer for layer in report.layers if layer.spiking_input]
        extra = {"energy_mj_per_frame": report.total_mj,
                 "ann_equivalent_mj_per_frame": report.ann_equivalent_mj,
                 "mean_firing_rate": float(np.mean([layer.input_rate for layer in spiking])) if spiking else 0.0,
                 "checkpoint": str(checkpoint), "genotype": payload["genotype"]}
        methods.append((f"spiking stereo ({checkpoint})", model_predictor(model), extra))
    max_disparity = model.config.max_disparity if checkpoint is not None else 48
    for name in baselines:
        methods.append((f"{name.upper()} on event images (holes filled)",
                        baseline_predictor(name, max_disparity=max_disparity), {}))
    if not methods:
        raise ValueError("nothing to evaluate: give a checkpoint and/or --baseline")
    records = []
    for method, predictor, extra in methods:
        loader = DataLoader(dataset, batch_size=batch_size)
        evaluation = evaluate_predictor(predictor, loader, focal_baseline=focal_baseline, gt_mode=gt_mode,
                                        device=device, progress=progress)
        records.append(results_record(method=method, metrics=evaluation.summary, gt_mode=gt_mode,
                                      focal_baseline=focal_baseline,
                                      extra={**extra, "caches": [str(c) for c in caches], "split": split,
                                             "subset": subset if split is not None else "all",
                                             "split_frames_missing": missing}))
    return records


def _source_name(cache_path: str) -> str:
    from datasets.cache import StereoCache

    with StereoCache(cache_path) as cache:
        return str(cache.attrs["source_data"])
