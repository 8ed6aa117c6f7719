"""Tests for search.ops: the registry, shapes in 2D and 3D, errors."""

import pytest
import torch

from search.ops import OPS, PRIMITIVES, ConvBN, Identity, build_op, op_surrogate_b, vocabulary


@pytest.mark.parametrize("dim", [2, 3])
@pytest.mark.parametrize("name", sorted(OPS))
@pytest.mark.parametrize("c_in,c_out,stride", [(4, 4, 1), (4, 6, 1), (4, 4, 2)])
def test_every_op_builds_and_runs(name, dim, c_in, c_out, stride):
    op = build_op(name, c_in=c_in, c_out=c_out, stride=stride, dim=dim)
    spatial = (5,) * dim
    x = (torch.rand(2, 3, c_in, *spatial) > 0.5).float().requires_grad_(True)
    y = op(x)
    expected_spatial = (3,) * dim if stride == 2 else spatial
    assert y.shape == (2, 3, c_out, *expected_spatial)
    y.sum().backward()


def test_skip_is_identity_only_when_shapes_match():
    assert isinstance(build_op("skip_connect", c_in=4, c_out=4, stride=1, dim=2), Identity)
    assert isinstance(build_op("skip_connect", c_in=4, c_out=8, stride=1, dim=2), ConvBN)
    assert isinstance(build_op("skip_connect", c_in=4, c_out=4, stride=2, dim=3), ConvBN)


def test_conv_bn_folds_time_into_batch():
    op = ConvBN(2, 3, dim=2).eval()
    x = torch.randn(4, 2, 2, 6, 6)
    per_step = torch.stack([op.bn(op.conv(x[t])) for t in range(4)])
    torch.testing.assert_close(op(x), per_step)


def test_unknown_op_and_bad_shape_errors():
    with pytest.raises(KeyError, match="skip_connect, snn_b3, snn_b5"):
        build_op("sep_conv_3x3", c_in=2, c_out=2)
    with pytest.raises(ValueError, match=r"\[T, N, 2"):
        ConvBN(2, 3, dim=2)(torch.randn(2, 3, 6, 6))
    with pytest.raises(KeyError, match="vocabulary"):
        vocabulary("darts")


def test_vocabulary_order_and_surrogate_b():
    assert PRIMITIVES == ("skip_connect", "snn_b3", "snn_b5")
    assert [op_surrogate_b(n, 3.0) for n in PRIMITIVES] == [3.0, 3.0, 5.0]
    assert op_surrogate_b("skip_connect", 1.5) == 1.5
