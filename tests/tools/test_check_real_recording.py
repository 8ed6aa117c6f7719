"""The model-free disparity estimate of tools/check_real_recording.py."""

import numpy as np

from tools.check_real_recording import count_image, dominant_shift


def test_count_image_counts_and_drops_outside_events():
    image = count_image(np.array([0, 0, 2, 5]), np.array([1, 1, 0, 0]), height=2, width=3)
    assert image.tolist() == [[0, 0, 1], [2, 0, 0]]


def test_dominant_shift_recovers_a_known_disparity():
    rng = np.random.default_rng(0)
    left = (rng.random((40, 80)) < 0.05).astype(float)
    for disparity in (0, 7, 23):
        right = np.zeros_like(left)
        right[:, :80 - disparity] = left[:, disparity:]  # a left pixel at x is seen at x - d on the right
        assert dominant_shift(left, right, max_shift=30) == disparity
    assert dominant_shift(np.zeros((4, 8)), np.zeros((4, 8)), max_shift=5) == 0
