"""Event-camera data: readers, rectification, windows, representations, caches, a simulator.

The names below load their modules on first use, so ``import datasets`` stays light.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "Events": "datasets.events",
    "window_bounds": "datasets.events",
    "events_to_voxel": "datasets.representations",
    "events_to_sbt": "datasets.representations",
    "events_to_counts": "datasets.representations",
    "MvsecRecording": "datasets.mvsec",
    "MvsecGroundTruth": "datasets.mvsec",
    "depth_to_disparity": "datasets.mvsec",
    "disparity_to_depth": "datasets.mvsec",
    "DsecEvents": "datasets.dsec",
    "read_event_file": "datasets.files",
    "load_rectification": "datasets.rectify",
    "StereoCache": "datasets.cache",
    "CacheSample": "datasets.cache",
    "preprocess_recording": "datasets.cache",
    "mvsec_split": "datasets.splits",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'datasets' has no attribute {name!r}")
