"""``stereo infer``: disparity (and depth) for every window of a recording, streamed and batched.

Pipeline: a background thread reads the recording chunk by chunk (:mod:`stereo.recordings`),
cuts windows, rectifies and builds the event tensors exactly as ``stereo preprocess`` does
(:func:`datasets.cache.window_tensor`); the main thread runs batches of windows through the
network and writes the outputs. The two overlap (numba kernels and torch release the GIL), and a
bounded queue keeps memory flat however long the recording is.

Output folder (DESIGN.md section 8), built in a hidden sibling folder and moved into place at the
end, so a failed or interrupted run leaves nothing under the final name:

- ``disparity/NNNNNN.png``: uint16 ``round(256 d)``, 0 = no estimate (DSEC convention);
- ``colour/NNNNNN.png``: the disparity colour-mapped (viridis, 0 to the model's max disparity);
- ``timestamps.txt``: the window end of each frame in seconds, one per line, same order;
- ``metrics.json`` with GT: frame-averaged ``one_pixel_accuracy`` (%), ``mean_disparity_error``
  (px), ``mean_depth_error`` (m), ``median_depth_error`` (m) and the 2/3-pixel accuracies, frame
  counts: :class:`stereo.protocol.MetricAccumulator` on exact dense GT, as ``stereo eval stereo``;
- ``depth/NNNNNN.png`` (uint16 millimetres, 0 = none, saturating at 65.535 m) or
  ``depth/NNNNNN.npy`` (float32 metres, NaN = none) with ``depth="png"`` / ``"npy"``.

A window in which either camera has no event gets no estimate (all 0 in the PNG, NaN in the
metrics, where a missing estimate counts as 0 px as in :func:`stereo.metrics.disparity_errors`).
With ``near_events_px`` the maps are semi-dense: only pixels within that many pixels of a
left-camera event of the window keep their estimate (the network sees nothing elsewhere, which
matters on real sensors with an empty background); the others count as missing in the metrics.
"""

from __future__ import annotations

import json
import math
import os
import queue
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

DEPTH_FORMATS = ("png", "npy")
METRICS_FILE = "metrics.json"
TIMESTAMPS_FILE = "timestamps.txt"
_DATA_KEYS = ("representation", "num_bins", "window_ms", "height", "width")
_QUEUE_BATCHES = 2  # prepared batches waiting for the network: bounds memory


def default_model_path() -> Path:
    """The model shipped inside the package (``stereo/default/model.pt``).

    Raises:
        FileNotFoundError: no default model is shipped with this installation.
    """
    from importlib import resources

    try:
        path = Path(str(resources.files("stereo.default") / "model.pt"))
    except ModuleNotFoundError:
        path = None
    if path is None or not path.is_file():
        raise FileNotFoundError("no default model shipped; pass --model")
    return path


@dataclass(frozen=True)
class ModelSettings:
    """The preprocessing a checkpoint was trained with (``payload["extra"]["data"]``).

    Attributes:
        representation: "voxel", "sbt" or "count".
        num_bins: channels of the event tensor (time bins; 2 for counts).
        window_ms: window length in ms.
        height, width: training frame size in px.
        focal_baseline: fB of the training data in px*m (None when not recorded).
    """

    representation: str
    num_bins: int
    window_ms: float
    height: int
    width: int
    focal_baseline: float | None = None

    def window_tensors(self, window, *, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
        """The left and right event tensors ``[C, H, W]`` of a :class:`stereo.recordings.Window`, built as the
        model's training caches were (``stereo preprocess``)."""
        from datasets.cache import window_tensor

        return tuple(window_tensor(ev.x, ev.y, ev.t, ev.p, representation=self.representation,
                                   num_bins=self.num_bins, window_ms=self.window_ms, height=height, width=width,
                                   t_end=window.t_end) for ev in (window.left, window.right))


def checkpoint_settings(payload: dict, *, in_channels: int, source: str) -> ModelSettings:
    """Read and check the preprocessing settings stored in a stereo checkpoint.

    Raises:
        ValueError: settings are missing, unknown, or do not fit the network.
    """
    from datasets.cache import REPRESENTATIONS

    data = payload.get("extra", {}).get("data")
    missing = [k for k in _DATA_KEYS if not isinstance(data, dict) or k not in data]
    if missing:
        raise ValueError(f"{source} does not record the preprocessing it was trained with (no {', '.join(missing)} "
                         "in its data settings); retrain it with `stereo train stereo`")
    if data["representation"] not in REPRESENTATIONS:
        raise ValueError(f"{source} was trained on the representation {data['representation']!r}, which this "
                         f"version cannot build (known: {', '.join(REPRESENTATIONS)})")
    settings = ModelSettings(
        representation=str(data["representation"]), num_bins=int(data["num_bins"]),
        window_ms=float(data["window_ms"]), height=int(data["height"]), width=int(data["width"]),
        focal_baseline=None if data.get("focal_baseline") is None else float(data["focal_baseline"]))
    channels = 2 if settings.representation == "count" else settings.num_bins
    if channels != in_channels:
        raise ValueError(f"{source}: its data settings give {settings.representation} tensors with {channels} "
                         f"channels but its network takes {in_channels}")
    if not settings.window_ms > 0:
        raise ValueError(f"{source}: window_ms must be > 0, got {settings.window_ms}")
    return settings


@dataclass
class InferReport:
    """What :func:`infer_recording` did.

    Attributes:
        out_dir: the output folder.
        windows: windows written.
        empty_windows: windows without events in a camera (no estimate).
        seconds: wall time of the streaming loop (reading, preprocessing, network, writing).
        metrics: the content of ``metrics.json`` (None without GT).
        energy_mj_per_frame: estimated energy of one window on neuromorphic hardware (mJ), with the
            firing rates of up to ``search.cost.ENERGY_SAMPLES`` windows (the first of each of the first batches).
        frame_size: (height, width) of the recording's frames.
        trained_size: (height, width) the model was trained on.
        skipped_windows: GT timestamps whose window is not inside both cameras' events.
        focal_baseline: fB used for depth, px*m (None when neither recording nor checkpoint has it).
        notes: remarks (size differences, dropped events, ...).
        video: the video file, if one was written.
    """

    out_dir: Path
    windows: int
    empty_windows: int
    seconds: float
    metrics: dict[str, float] | None
    energy_mj_per_frame: float
    frame_size: tuple[int, int]
    trained_size: tuple[int, int]
    skipped_windows: int = 0
    focal_baseline: float | None = None
    notes: list[str] = field(default_factory=list)
    video: Path | None = None

    @property
    def windows_per_second(self) -> float:
        return self.windows / self.seconds if self.seconds > 0 else math.inf

    def summary_line(self) -> str:
        """One line: windows, windows/s, metrics with GT, energy per frame, notes."""
        parts = [f"{self.windows} windows in {self.seconds:.1f} s ({self.windows_per_second:.2f} windows/s)"]
        if self.empty_windows:
            parts.append(f"{self.empty_windows} without events (no estimate)")
        if self.metrics is not None:
            m = self.metrics
            parts.append(f"1PA {m['one_pixel_accuracy']:.1f} %, mean disparity error "
                         f"{m['mean_disparity_error']:.3f} px, mean depth error {m['mean_depth_error']:.3f} m, "
                         f"median depth error {m['median_depth_error']:.3f} m")
        if self.skipped_windows:
            parts.append(f"{self.skipped_windows} GT frames outside the events skipped")
        parts.append(f"energy {self.energy_mj_per_frame:.3g} mJ/frame")
        parts.extend(self.notes)
        return f"{'; '.join(parts)}; wrote {self.out_dir}"


_OUTPUT_ENTRIES = ("disparity", "colour", "depth", TIMESTAMPS_FILE, METRICS_FILE)


def _check_out_dir(out: Path, *, overwrite: bool, video: Path | None, inputs: tuple) -> Path:
    """Refuse an output that is not a folder, a non-empty folder without ``overwrite``, and any
    folder that ``overwrite`` would delete more from than an earlier ``stereo infer`` output."""
    from datasets.atomic import check_output_folder

    out = check_output_folder(Path(out).absolute())
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"output {out} exists and is not a folder")
    if not out.is_dir() or not any(out.iterdir()):
        return out
    if not overwrite:
        raise FileExistsError(f"output folder {out} exists and is not empty (pass --overwrite to replace it)")
    for given in inputs:
        if given is not None and Path(given).absolute().is_relative_to(out):
            raise ValueError(f"--overwrite would delete the input {given}, which lies in the output folder {out}")
    allowed = set(_OUTPUT_ENTRIES) | ({video.name} if video is not None and video.absolute().parent == out else set())
    foreign = sorted(p.name for p in out.iterdir() if p.name not in allowed)
    if foreign:
        raise ValueError(f"--overwrite replaces only an earlier stereo infer output, and {out} also holds "
                         f"{', '.join(foreign[:3])}{' ...' if len(foreign) > 3 else ''}; choose another --out")
    return out


def _move_into_place(tmp: Path, out: Path) -> None:
    """``os.replace`` the finished folder onto ``out`` (an existing folder is swapped out first)."""
    if out.is_dir() and any(out.iterdir()):
        old = out.with_name(f".{out.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        os.replace(out, old)
        os.replace(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, out)  # rename(2) replaces an empty folder


@dataclass
class _Prepared:
    index: int
    t_end: float
    left: np.ndarray
    right: np.ndarray
    empty: bool
    gt: np.ndarray | None
    event_image: np.ndarray | None


class _Producer(threading.Thread):
    """Reads windows and builds their tensors in batches; errors are handed to the consumer."""

    _DONE = object()

    def __init__(self, source, plan, settings: ModelSettings, *, batch_size: int, event_images: bool) -> None:
        super().__init__(daemon=True, name="stereo-infer-reader")
        self.source, self.plan, self.settings = source, plan, settings
        self.batch_size, self.event_images = batch_size, event_images
        self.queue: queue.Queue = queue.Queue(maxsize=_QUEUE_BATCHES)
        self.stop = threading.Event()

    def _put(self, item) -> bool:
        while not self.stop.is_set():
            try:
                self.queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def run(self) -> None:
        from stereo.recordings import iter_windows
        from stereo.visualize import event_frame_image

        s, src = self.settings, self.source
        try:
            batch: list[_Prepared] = []
            for w in iter_windows(src, self.plan, window_ms=s.window_ms):
                if self.stop.is_set():
                    return
                tensors = s.window_tensors(w, height=src.height, width=src.width)
                image = (event_frame_image(w.left.x, w.left.y, w.left.p, src.height, src.width)
                         if self.event_images else None)
                batch.append(_Prepared(w.index, w.t_end, tensors[0], tensors[1],
                                       len(w.left) == 0 or len(w.right) == 0, w.gt_disparity, image))
                if len(batch) == self.batch_size:
                    if not self._put(batch):
                        return
                    batch = []
            if batch and not self._put(batch):
                return
            self._put(self._DONE)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the consumer thread
            self._put(exc)

    def batches(self):
        """Yield prepared batches until the producer is done; re-raise its error."""
        while True:
            item = self.queue.get()
            if item is self._DONE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item


def near_events_mask(left_tensor: np.ndarray, radius_px: int) -> np.ndarray:
    """Pixels within ``radius_px`` (Chebyshev distance) of an event of the window.

    Args:
        left_tensor: the left event tensor ``[C, H, W]`` of the window.
        radius_px: >= 0.

    Returns:
        bool ``[H, W]``.
    """
    import cv2

    has_event = np.any(left_tensor != 0, axis=0).astype(np.uint8)
    if radius_px == 0:
        return has_event.astype(bool)
    if radius_px >= max(has_event.shape):  # reaches every pixel from any event: no kernel of that size needed
        return np.full(has_event.shape, bool(has_event.any()))
    kernel = np.ones((2 * radius_px + 1, 2 * radius_px + 1), np.uint8)
    return cv2.dilate(has_event, kernel).astype(bool)


def _write_frame(tmp: Path, name: str, disparity: np.ndarray, *, max_disparity: float, depth: str | None,
                 focal_baseline: float | None) -> np.ndarray:
    """Write one window's disparity, colour and depth files; returns the colour image (RGB)."""
    import cv2

    from datasets.dsec import encode_disparity_png
    from datasets.mvsec import disparity_to_depth
    from stereo.visualize import colorize_disparity

    (tmp / "disparity" / f"{name}.png").write_bytes(encode_disparity_png(disparity))
    colour = colorize_disparity(disparity, max_disparity=max_disparity)
    if not cv2.imwrite(str(tmp / "colour" / f"{name}.png"), np.ascontiguousarray(colour[..., ::-1])):
        raise OSError(f"cannot write {tmp / 'colour' / (name + '.png')}")
    if depth is not None:
        z = disparity_to_depth(disparity, focal_baseline)
        if depth == "npy":
            np.save(tmp / "depth" / f"{name}.npy", z)
        else:
            mm = np.zeros(z.shape, np.uint16)
            ok = np.isfinite(z)
            mm[ok] = np.clip(np.rint(z[ok] * 1000.0), 1, 65535).astype(np.uint16)
            if not cv2.imwrite(str(tmp / "depth" / f"{name}.png"), mm):
                raise OSError(f"cannot write {tmp / 'depth' / (name + '.png')}")
    return colour


class _Video:
    """An mp4 (OpenCV, mp4v) of colour disparity beside the left event frame, written atomically."""

    def __init__(self, path: Path, tmp_dir: Path, out: Path, *, fps: float, height: int, width: int) -> None:
        import cv2

        self.final = path
        inside = path.resolve().parent == out.resolve()
        # A video inside the output folder is built with it; elsewhere it gets its own temporary name
        # (with the .mp4 suffix, from which OpenCV picks the container).
        self.tmp = tmp_dir / path.name if inside else path.with_name(f".{path.stem}.partial{path.suffix}")
        self.own_file = not inside
        self.writer = cv2.VideoWriter(str(self.tmp), cv2.VideoWriter_fourcc(*"mp4v"), fps, (2 * width, height))
        if not self.writer.isOpened():
            raise ValueError(f"OpenCV cannot write the video {path} (use a .mp4 name)")

    def add(self, event_image: np.ndarray, colour: np.ndarray) -> None:
        self.writer.write(np.ascontiguousarray(np.hstack([event_image, colour])[..., ::-1]))

    def finish(self) -> None:
        self.writer.release()
        if self.own_file:
            os.replace(self.tmp, self.final)

    def discard(self) -> None:
        self.writer.release()
        if self.own_file:
            self.tmp.unlink(missing_ok=True)


def infer_recording(
    recording: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    model_path: str | os.PathLike | None = None,
    gt: str | os.PathLike | None = None,
    right: str | os.PathLike | None = None,
    calib: str | os.PathLike | None = None,
    every_ms: float = 50.0,
    batch_size: int = 4,
    depth: str | None = None,
    video: str | os.PathLike | None = None,
    overwrite: bool = False,
    width: int | None = None,
    height: int | None = None,
    focal_baseline: float | None = None,
    device: str | torch.device = "cpu",
    near_events_px: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> InferReport:
    """Run a trained stereo model over every window of a recording and write the output folder.

    Windows are ``(t_end - window, t_end]`` with the window length of the checkpoint; they end at
    the GT timestamps when ``gt`` is given (MVSEC), else every ``every_ms`` ms. The network and
    the preprocessing come from the checkpoint alone.

    Args:
        recording: MVSEC ``*_data.hdf5``, DSEC sequence folder or plain event file(s).
        out_dir: output folder (see the module docstring); must not exist or be empty.
        model_path: checkpoint from ``stereo train stereo``; None: the shipped default model.
        gt: MVSEC ``*_gt.hdf5`` to score against (only when given; the twin is not looked up).
        right: right-camera event file when ``recording`` is a plain left-camera file.
        calib: MVSEC rectification maps for raw MVSEC files.
        every_ms: window spacing without GT, ms.
        batch_size: windows per forward pass.
        depth: also write metric depth: "png" (uint16 mm) or "npy" (float32 m); None: no depth.
        video: also write an mp4 of colour disparity beside the left event frame.
        overwrite: replace an existing non-empty ``out_dir`` (and ``video``).
        width, height: frame size of plain files / MVSEC files without GT.
        focal_baseline: fB in px*m for depth and depth metrics, instead of the recording's (and,
            when the recording has none, the checkpoint's).
        device: torch device of the network.
        near_events_px: keep estimates only within this many pixels of a left-camera event of the
            window (semi-dense maps; 0 = on event pixels only); None: dense maps.
        progress: called as ``progress(windows_done, windows_total)`` after each batch.

    Returns:
        :class:`InferReport`.

    Raises:
        FileNotFoundError, FileExistsError, ValueError: bad inputs, with one message naming them.
    """
    from datasets.atomic import partial_path
    from search.cost import ENERGY_SAMPLES, energy_report
    from stereo.metrics import disparity_errors
    from stereo.protocol import GTMode, MetricAccumulator, prepare_ground_truth, write_results_json
    from stereo.recordings import open_recording, plan_windows
    from stereo.train import load_trained_model

    if depth not in (None, *DEPTH_FORMATS):
        raise ValueError(f"--depth must be one of {', '.join(DEPTH_FORMATS)}, got {depth!r}")
    if batch_size < 1:
        raise ValueError(f"--batch-size must be >= 1, got {batch_size}")
    if not every_ms > 0:
        raise ValueError(f"--every-ms must be > 0, got {every_ms}")
    if near_events_px is not None and near_events_px < 0:
        raise ValueError(f"--near-events must be >= 0 px, got {near_events_px}")
    video_path = None if video is None else Path(video)
    out = _check_out_dir(Path(out_dir), overwrite=overwrite, video=video_path,
                         inputs=(recording, gt, right, calib, model_path))
    if video_path is not None:
        if video_path.suffix.lower() != ".mp4":
            raise ValueError(f"--video must name an .mp4 file, got {video_path}")
        if video_path.exists() and not overwrite:
            raise FileExistsError(f"video exists: {video_path} (pass --overwrite to replace it)")
        if video_path.absolute().parent != out:  # inside --out it is built with the folder
            from datasets.atomic import check_output_file

            check_output_file(video_path)
    model_path = default_model_path() if model_path is None else Path(model_path)
    model, payload = load_trained_model(model_path, device=device)
    settings = checkpoint_settings(payload, in_channels=model.config.in_channels, source=str(model_path))

    with open_recording(recording, gt=gt, right=right, calib=calib, width=width, height=height,
                        focal_baseline=focal_baseline) as source:
        plan = plan_windows(source, window_ms=settings.window_ms, every_ms=every_ms)
        notes = list(source.notes)
        if (source.height, source.width) != (settings.height, settings.width):
            notes.append(f"frames {source.width}x{source.height} differ from the training frames "
                         f"{settings.width}x{settings.height} (the network takes any size)")
        focal_baseline = source.focal_baseline or settings.focal_baseline
        if depth is not None:
            if focal_baseline is None:
                raise ValueError("--depth needs the focal length times baseline, which neither the recording nor "
                                 "the checkpoint gives")
            if source.focal_baseline is None:
                notes.append(f"depth uses the training fB {focal_baseline:g} px*m (the recording gives none)")
        tmp = partial_path(out)
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        clip = None
        try:
            for sub in ("disparity", "colour") + (("depth",) if depth else ()):
                (tmp / sub).mkdir()
            if video_path is not None:
                spacing = float(np.median(np.diff(plan.ends))) if len(plan.ends) > 1 else every_ms / 1000.0
                clip = _Video(video_path, tmp, out, fps=max(1.0, min(120.0, 1.0 / spacing)),
                              height=source.height, width=source.width)
            accumulator = MetricAccumulator() if plan.gt_index is not None else None
            gt_mode = GTMode()
            max_disparity = float(model.config.max_disparity)
            total = len(plan.ends)
            done = empty = 0
            samples: list[tuple[torch.Tensor, torch.Tensor]] = []  # energy: the first window of each early batch
            started = time.perf_counter()
            producer = _Producer(source, plan, settings, batch_size=batch_size, event_images=clip is not None)
            producer.start()
            try:
                with open(tmp / TIMESTAMPS_FILE, "w") as stamps:
                    for batch in producer.batches():
                        left = torch.from_numpy(np.stack([b.left for b in batch])).to(device)
                        right_t = torch.from_numpy(np.stack([b.right for b in batch])).to(device)
                        if len(samples) < ENERGY_SAMPLES:
                            samples.append((left[:1].clone(), right_t[:1].clone()))
                        with torch.inference_mode():
                            pred = model(left, right_t).disparity.float().cpu().numpy()[:, 0]
                        for b, disparity in zip(batch, pred, strict=True):
                            if b.empty:
                                disparity = np.full_like(disparity, np.nan)
                                empty += 1
                            elif near_events_px is not None:
                                disparity = np.where(near_events_mask(b.left, near_events_px), disparity, np.nan)
                            name = f"{b.index:06d}"
                            colour = _write_frame(tmp, name, disparity, max_disparity=max_disparity, depth=depth,
                                                  focal_baseline=focal_baseline)
                            stamps.write(f"{b.t_end:.6f}\n")
                            if clip is not None:
                                clip.add(b.event_image, colour)
                            if accumulator is not None:
                                ref = prepare_ground_truth(b.gt, gt_mode)
                                accumulator.add(disparity_errors(disparity, ref,
                                                                 focal_baseline=source.focal_baseline))
                        done += len(batch)
                        if progress is not None:
                            progress(done, total)
            finally:
                producer.stop.set()
                producer.join()
            seconds = time.perf_counter() - started
            metrics = None
            if accumulator is not None:
                metrics = accumulator.summary()
                write_results_json(tmp / METRICS_FILE, metrics)
            energy = energy_report(model, torch.cat([a for a, _ in samples]), torch.cat([b for _, b in samples]),
                                   num_samples=len(samples)).total_mj
            if clip is not None:
                clip.finish()
                clip = None
            _move_into_place(tmp, out)
        except BaseException:
            if clip is not None:
                clip.discard()
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return InferReport(out_dir=out, windows=done, empty_windows=empty, seconds=seconds, metrics=metrics,
                       energy_mj_per_frame=float(energy), frame_size=(source.height, source.width),
                       trained_size=(settings.height, settings.width), skipped_windows=plan.skipped,
                       focal_baseline=focal_baseline, notes=notes,
                       video=None if video_path is None else video_path)


def read_metrics(out_dir: str | os.PathLike) -> dict[str, float]:
    """The ``metrics.json`` of an output folder (for tests and the demo)."""
    return json.loads((Path(out_dir) / METRICS_FILE).read_text())
