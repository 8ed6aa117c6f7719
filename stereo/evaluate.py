"""Run a stereo model over windows and score it with the MVSEC protocol (per frame, then averaged)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

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

