"""tools/check_training_determinism.py on the CPU, where both modes must be repeatable."""

import torch

from tools.check_training_determinism import compare, main


def test_compare_spots_a_one_ulp_difference():
    a = {"w": torch.ones(3)}
    b = {"w": torch.nextafter(torch.ones(3), torch.full((3,), 2.0))}
    assert compare(a, a) == (True, 0.0)
    same, diff = compare(a, b)
    assert not same and 0 < diff < 1e-6


def test_cpu_training_is_repeatable_in_both_modes():
    results = main(["--device", "cpu", "--epochs", "1"])
    assert results == {"default": (True, 0.0), "deterministic": (True, 0.0)}
