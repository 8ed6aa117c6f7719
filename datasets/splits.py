"""MVSEC indoor_flying splits 1 and 3 (the DDES convention used by every paper since).

Frame ranges are inclusive GT frame indices of ``davis/left/depth_image_rect``. The test
sequence is shuffled with Python's ``random.seed(0); random.shuffle(frames)``; the first 200
frames are validation and the rest test.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

# Inclusive frame filters per sequence.
TRAIN_FILTERS = {"indoor_flying1": (80, 1259), "indoor_flying2": (160, 1579), "indoor_flying3": (125, 1814)}
TEST_FILTERS = {"indoor_flying1": (140, 1200), "indoor_flying2": (120, 1420), "indoor_flying3": (73, 1615)}
NUM_VAL = 200
_SPLITS = {
    1: (("indoor_flying2", "indoor_flying3"), "indoor_flying1"),
    3: (("indoor_flying1", "indoor_flying2"), "indoor_flying3"),
}

Frame = tuple[str, int]  # (sequence name, GT frame index)


@dataclass(frozen=True)
class Split:
    """Frames of one split, each a ``(sequence, frame_index)`` pair.

    Attributes:
        number: 1 or 3.
        train: training frames in sequence order.
        val: the first 200 shuffled test-sequence frames.
        test: the remaining shuffled test-sequence frames.
    """

    number: int
    train: tuple[Frame, ...]
    val: tuple[Frame, ...]
    test: tuple[Frame, ...]


def frame_range(sequence: str, *, train: bool) -> list[int]:
    """The filtered frame indices of a sequence, for training or for testing."""
    filters = TRAIN_FILTERS if train else TEST_FILTERS
    if sequence not in filters:
        raise ValueError(f"unknown sequence {sequence!r}; known: {', '.join(filters)}")
    first, last = filters[sequence]
    return list(range(first, last + 1))


def mvsec_split(number: int) -> Split:
    """Split 1 (test indoor_flying1: 3110 / 200 / 861) or split 3 (test indoor_flying3: 2600 / 200 / 1343).

    Example:
        >>> s = mvsec_split(1)
        >>> len(s.train), len(s.val), len(s.test)
        (3110, 200, 861)
    """
    if number not in _SPLITS:
        raise ValueError(f"MVSEC split must be one of {sorted(_SPLITS)}, got {number}")
    train_sequences, test_sequence = _SPLITS[number]
    train = tuple((seq, k) for seq in train_sequences for k in frame_range(seq, train=True))
    frames = frame_range(test_sequence, train=False)
    random.Random(0).shuffle(frames)  # the same permutation as random.seed(0); random.shuffle(frames)
    shuffled = tuple((test_sequence, k) for k in frames)
    return Split(number, train, shuffled[:NUM_VAL], shuffled[NUM_VAL:])
