"""Simulate a moving stereo event camera and write the recording in the MVSEC layout."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from datasets.atomic import atomic_output, check_output_folder
from datasets.synthetic.config import (
    BASELINE_M,
    CENTER_X_PX,
    CENTER_Y_PX,
    FOCAL_BASELINE,
    FOCAL_PX,
    GENERATOR_VERSION,
    IMAGE_HEIGHT,
    IMAGE_WIDTH,
    START_TIME_S,
    SynthConfig,
)
from datasets.synthetic.esim import EventSensor, log_intensity
from datasets.synthetic.render import Renderer, View
from datasets.synthetic.scene import Scene, make_scene
from datasets.synthetic.writer import CAMERAS, RecordingWriter

FIRST_DEPTH_TIME_S = 0.1  # leaves a full 50 ms event window before the first depth frame
EVENT_TAIL_S = 0.005  # events run a little past the last depth frame, so it lies inside their range
# Image speed of a rotation is largest in the corners: 1 + (half diagonal / f)^2 times the centre's.
_ROTATION_CORNER_GAIN = 1.0 + ((IMAGE_WIDTH / 2) ** 2 + (IMAGE_HEIGHT / 2) ** 2) / FOCAL_PX**2


def output_paths(prefix: str | os.PathLike) -> tuple[Path, Path]:
    """``PREFIX_data.hdf5`` and ``PREFIX_gt.hdf5`` for an output prefix."""
    prefix = Path(prefix)
    if prefix.name in ("", ".", ".."):
        raise ValueError(f"output prefix needs a file name part, got {str(prefix)!r}")
    return prefix.with_name(f"{prefix.name}_data.hdf5"), prefix.with_name(f"{prefix.name}_gt.hdf5")


def frame_schedule(config: SynthConfig) -> tuple[np.ndarray, np.ndarray]:
    """Times (s, from the start) of the grayscale frames and of the depth frames."""
    image_times = np.arange(int(np.floor(config.seconds * config.image_rate_hz + 1e-9)) + 1) / config.image_rate_hz
    first = int(np.ceil(FIRST_DEPTH_TIME_S * config.depth_rate_hz - 1e-9))
    last = int(np.floor(config.seconds * config.depth_rate_hz + 1e-9))
    depth_times = np.arange(first, last + 1) / config.depth_rate_hz
    return image_times, depth_times


def synthesize_recording(prefix: str | os.PathLike, config: SynthConfig | None = None, *,
                         overwrite: bool = False, show_progress: bool = True) -> tuple[Path, Path]:
    """Render a random scene seen by a moving stereo event camera; write MVSEC-layout files.

    The left camera follows a smooth random path; the right one is rigidly attached at
    ``BASELINE_M`` along its x axis (a rectified pair, ``x_right = x_left - FOCAL_BASELINE / Z``).
    Both are rendered at an adaptive rate (image motion below ``config.max_pixel_step`` px per
    render) and turned into events by :class:`~datasets.synthetic.esim.EventSensor`. Depth
    ground truth (left, and right for convenience) is rendered at ``config.depth_rate_hz``
    from ``FIRST_DEPTH_TIME_S`` on; the left one has random holes. Times are
    ``START_TIME_S + seconds from the start``.

    Args:
        prefix: writes ``PREFIX_data.hdf5`` and ``PREFIX_gt.hdf5``.
        config: what to simulate; ``SynthConfig()`` when None.
        overwrite: replace existing output files.
        show_progress: draw a progress bar on stderr.

    Returns:
        The paths of the data and ground-truth files.

    Raises:
        ValueError: a config too short to hold one depth frame.
        FileNotFoundError / PermissionError: a missing or unwritable output folder.
        FileExistsError: an output file exists and ``overwrite`` is False.
    """
    config = config or SynthConfig()
    if config.seconds < FIRST_DEPTH_TIME_S:
        raise ValueError(f"seconds must be at least {FIRST_DEPTH_TIME_S} (one depth frame after a full "
                         f"50 ms event window), got {config.seconds}")
    paths = output_paths(prefix)
    for path in paths:
        check_output_folder(path)
        if path.is_dir():
            raise IsADirectoryError(f"output path is a folder: {path}")
        if path.exists() and not overwrite:
            raise FileExistsError(f"output file already exists: {path} (use --overwrite to replace it)")
    with atomic_output(paths[0]) as data_tmp, atomic_output(paths[1]) as gt_tmp:
        _simulate(config, data_tmp, gt_tmp, show_progress=show_progress)
    return paths


def _render_interval(scene: Scene, config: SynthConfig, t: float, nearest_m: float) -> float:
    """Time step (s) that keeps every pixel's image motion below ``config.max_pixel_step``."""
    linear, angular = scene.trajectory.speeds(t)
    linear += scene.surfaces.max_speed()
    speed_px = FOCAL_PX * linear / max(nearest_m, 0.2) + FOCAL_PX * angular * _ROTATION_CORNER_GAIN
    dt = config.max_pixel_step / max(speed_px, 1e-9)
    return float(np.clip(dt, config.min_render_dt_s, config.max_render_dt_s))


def _holes(depth: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Punch a few random elliptical NaN holes into a depth map (in place) and return it."""
    height, width = depth.shape
    yy, xx = np.mgrid[0:height, 0:width]
    for _ in range(rng.poisson(2.0)):
        cx, cy = rng.uniform(0, width), rng.uniform(0, height)
        ax, ay = rng.uniform(2, 14, 2)
        depth[((xx - cx) / ax) ** 2 + ((yy - cy) / ay) ** 2 <= 1.0] = np.nan
    return depth


def _to_uint8(intensity: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(intensity * 255.0), 0, 255).astype(np.uint8)


def _simulate(config: SynthConfig, data_path: Path, gt_path: Path, *, show_progress: bool) -> None:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    scene_seed, sensor_seed, hole_seed = np.random.SeedSequence(config.seed).spawn(3)
    scene = make_scene(np.random.default_rng(scene_seed), min_depth_m=config.min_depth_m,
                       moving_objects=config.moving_objects)
    renderer = Renderer(scene)
    hole_rng = np.random.default_rng(hole_seed)
    image_times, depth_times = frame_schedule(config)
    end = config.seconds + EVENT_TAIL_S
    keys = np.unique(np.concatenate([image_times, depth_times, [end]]))
    attrs = dict(rectified=True, synthetic=True, seed=config.seed, focal_baseline=FOCAL_BASELINE,
                 generator_version=GENERATOR_VERSION, start_time=START_TIME_S, focal_px=FOCAL_PX,
                 center_x_px=CENTER_X_PX, center_y_px=CENTER_Y_PX, baseline_m=BASELINE_M,
                 config=config.to_dict(), scene=scene.summary)
    writer = RecordingWriter(data_path, gt_path, height=IMAGE_HEIGHT, width=IMAGE_WIDTH, attrs=attrs)
    progress = Progress(TextColumn("synth"), BarColumn(), TextColumn("{task.completed:.2f}/{task.total:.2f} s"),
                        TimeRemainingColumn(), console=Console(stderr=True), transient=True,
                        disable=not show_progress)
    try:
        with progress:
            task = progress.add_task("synth", total=end)
            views = {camera: renderer.render(0.0, camera) for camera in CAMERAS}
            sensor_rngs = np.random.default_rng(sensor_seed).spawn(2)
            sensors = {camera: EventSensor(log_intensity(views[camera].intensity), rng,
                                           contrast_threshold=config.contrast_threshold,
                                           contrast_threshold_sigma=config.contrast_threshold_sigma,
                                           refractory_s=config.refractory_s, noise_rate_hz=config.noise_rate_hz)
                       for camera, rng in zip(CAMERAS, sensor_rngs, strict=True)}
            t, next_key, renders = 0.0, 0, 1
            _write_frames(writer, renderer, config, views, 0.0, image_times, depth_times, hole_rng)
            while t < end:
                while keys[next_key] <= t:
                    next_key += 1
                nearest = min(float(np.min(view.depth)) for view in views.values())
                dt = _render_interval(scene, config, t, nearest)
                # Land exactly on frame times; never leave a sliver of less than a fifth of a step.
                t_next = float(keys[next_key]) if t + 1.2 * dt >= keys[next_key] else t + dt
                views = {camera: renderer.render(t_next, camera) for camera in CAMERAS}
                renders += 1
                for camera in CAMERAS:
                    events = sensors[camera].step(log_intensity(views[camera].intensity), t_next)
                    events[:, 2] += START_TIME_S
                    writer.add_events(camera, events)
                _write_frames(writer, renderer, config, views, t_next, image_times, depth_times, hole_rng)
                progress.update(task, completed=t_next)
                t = t_next
        writer.data.attrs["num_renders"] = renders
        writer.close()
    except BaseException:
        writer.abort()
        raise


def _write_frames(writer: RecordingWriter, renderer: Renderer, config: SynthConfig, views: dict[str, View],
                  t: float, image_times: np.ndarray, depth_times: np.ndarray, hole_rng: np.random.Generator) -> None:
    """Store grayscale frames and depth maps due at time ``t`` (s from the start)."""
    if np.any(image_times == t):
        for camera in CAMERAS:
            writer.add_image(camera, START_TIME_S + t, _to_uint8(views[camera].intensity))
    if np.any(depth_times == t):
        for camera in CAMERAS:
            depth = renderer.ground_truth_depth(views[camera], min_depth_m=config.min_depth_m,
                                                max_depth_m=config.max_depth_m)
            writer.add_depth(camera, START_TIME_S + t, _holes(depth, hole_rng) if camera == "left" else depth)
