"""MVSEC splits 1 and 3."""

from __future__ import annotations

import random

import pytest

from datasets.splits import mvsec_split


@pytest.mark.parametrize(("number", "sizes", "test_seq"), [(1, (3110, 200, 861), "indoor_flying1"),
                                                        (3, (2600, 200, 1343), "indoor_flying3")])
def test_sizes_and_disjointness(number, sizes, test_seq):
    s = mvsec_split(number)
    assert (len(s.train), len(s.val), len(s.test)) == sizes
    assert not set(s.val) & set(s.test)
    assert {seq for seq, _ in s.val + s.test} == {test_seq}
    assert test_seq not in {seq for seq, _ in s.train}


def test_shuffle_is_the_seeded_global_shuffle():
    frames = list(range(140, 1201))
    random.seed(0)
    random.shuffle(frames)
    s = mvsec_split(1)
    assert [k for _, k in s.val] == frames[:200] and [k for _, k in s.test] == frames[200:]
    frames = list(range(73, 1616))
    random.seed(0)
    random.shuffle(frames)
    assert [k for _, k in mvsec_split(3).val] == frames[:200]


def test_filters_inclusive():
    s = mvsec_split(1)
    flying2 = [k for seq, k in s.train if seq == "indoor_flying2"]
    assert flying2[0] == 160 and flying2[-1] == 1579
    assert min(k for _, k in s.val + s.test) == 140 and max(k for _, k in s.val + s.test) == 1200
    with pytest.raises(ValueError, match="split"):
        mvsec_split(2)
