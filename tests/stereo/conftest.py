"""Fixtures of the stereo tests."""

from pathlib import Path

import pytest
from tiny_data import write_tiny_cache


@pytest.fixture
def tiny_cache(tmp_path: Path) -> Path:
    """A 3-frame, 2-channel, 24 x 36 cache of random-dot stereo pairs."""
    return write_tiny_cache(tmp_path / "tiny.h5")
