"""Camera constants and the configuration of one synthetic recording."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

# Rectified intrinsics of the MVSEC indoor_flying DAVIS346 pair: the projection matrix P of
# mvsec_indoor_flying_left.yaml (ESVO's copy of the MVSEC calibration). Hard-coded so that the
# package never reads shared data at run time.
IMAGE_WIDTH = 346
IMAGE_HEIGHT = 260
FOCAL_PX = 199.6530123165822
CENTER_X_PX = 177.43276376280926
CENTER_Y_PX = 126.81215684365904
# f * B of indoor_flying (MVSEC's depth <-> disparity constant, px * m); B = 0.09988 m.
FOCAL_BASELINE = 19.941772
BASELINE_M = FOCAL_BASELINE / FOCAL_PX

# Recordings start at a fixed Unix-like time (September 2017, when MVSEC was recorded).
START_TIME_S = 1_506_000_000.0
GENERATOR_VERSION = "1"


@dataclass(frozen=True)
class SynthConfig:
    """Everything that defines one synthetic recording; the same config gives the same files.

    Attributes:
        seconds: length of the recording (s).
        seed: seed of the scene, the trajectory and the sensor noise.
        contrast_threshold: mean log-intensity contrast threshold C of the event sensor.
        contrast_threshold_sigma: per-pixel standard deviation of C (ON and OFF drawn apart).
        refractory_s: minimum time between two events of one pixel (s); crossings inside it
            move the pixel's reference level but emit nothing.
        noise_rate_hz: rate of spurious (shot-noise) events per pixel (Hz).
        max_pixel_step: largest image motion (px) allowed between two renders; sets the
            adaptive render rate.
        min_render_dt_s: smallest render interval (s).
        max_render_dt_s: largest render interval (s).
        image_rate_hz: rate of the grayscale frames ``image_raw``.
        depth_rate_hz: rate of the depth ground truth.
        min_depth_m: depth below which the "lidar" returns nothing (NaN).
        max_depth_m: depth beyond which the "lidar" returns nothing (NaN).
        moving_objects: let some objects move on their own.
    """

    seconds: float = 2.0
    seed: int = 0
    contrast_threshold: float = 0.3
    contrast_threshold_sigma: float = 0.03
    refractory_s: float = 1e-4
    noise_rate_hz: float = 0.1
    max_pixel_step: float = 0.5
    min_render_dt_s: float = 2e-4
    max_render_dt_s: float = 2e-3
    image_rate_hz: float = 30.0
    depth_rate_hz: float = 20.0
    min_depth_m: float = 0.6
    max_depth_m: float = 8.0
    moving_objects: bool = True

    def __post_init__(self) -> None:
        def positive(name: str) -> None:
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a finite number > 0, got {value!r}")

        for name in ("seconds", "contrast_threshold", "max_pixel_step", "min_render_dt_s",
                     "max_render_dt_s", "image_rate_hz", "depth_rate_hz", "min_depth_m", "max_depth_m"):
            positive(name)
        for name in ("contrast_threshold_sigma", "refractory_s", "noise_rate_hz"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        if not isinstance(self.seed, int) or not 0 <= self.seed < 2**63:
            raise ValueError(f"seed must be an integer in [0, 2**63), got {self.seed!r}")
        if self.min_render_dt_s > self.max_render_dt_s:
            raise ValueError("min_render_dt_s must not exceed max_render_dt_s")
        if self.min_depth_m >= self.max_depth_m:
            raise ValueError("min_depth_m must be smaller than max_depth_m")
        if self.seconds > 3600:
            raise ValueError(f"seconds must be at most 3600, got {self.seconds}")

    def to_dict(self) -> dict:
        """The config as plain JSON-able values (stored in the output files)."""
        return asdict(self)
