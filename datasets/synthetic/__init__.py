"""Synthetic stereo event recordings with exact depth, in the MVSEC layout (``stereo synth``).

A random indoor scene (textured floor, walls, boards and boxes; a window with no depth return)
is ray cast for a rectified stereo pair with MVSEC's indoor_flying intrinsics and baseline while
the camera moves like a drone; events come from log-intensity threshold crossings (ESIM-style).
"""

from datasets.synthetic.config import (
    BASELINE_M,
    CENTER_X_PX,
    CENTER_Y_PX,
    FOCAL_BASELINE,
    FOCAL_PX,
    IMAGE_HEIGHT,
    IMAGE_WIDTH,
    START_TIME_S,
    SynthConfig,
)
from datasets.synthetic.recording import output_paths, synthesize_recording

__all__ = [
    "BASELINE_M",
    "CENTER_X_PX",
    "CENTER_Y_PX",
    "FOCAL_BASELINE",
    "FOCAL_PX",
    "IMAGE_HEIGHT",
    "IMAGE_WIDTH",
    "START_TIME_S",
    "SynthConfig",
    "output_paths",
    "synthesize_recording",
]
