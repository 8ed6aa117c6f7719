import pytest
import torch

from stereo.cost_volume import coincidence_cost_volume, concat_cost_volume


def _reference(left, right, num_disparities):
    *lead, c, h, w = left.shape
    out = torch.zeros(*lead, 2 * c, num_disparities, h, w, dtype=left.dtype)
    for d in range(num_disparities):
        for x in range(w):
            if x - d >= 0:
                out[..., :c, d, :, x] = left[..., :, :, x]
                out[..., c:, d, :, x] = right[..., :, :, x - d]
    return out


@pytest.mark.parametrize("lead", [(), (2,), (3, 2)])
def test_matches_pixel_loop(lead):
    g = torch.Generator().manual_seed(0)
    left = torch.randn(*lead, 3, 4, 7, generator=g)
    right = torch.randn(*lead, 3, 4, 7, generator=g)
    assert torch.equal(concat_cost_volume(left, right, num_disparities=5), _reference(left, right, 5))


def test_more_disparities_than_width_leaves_zeros():
    left = torch.ones(1, 2, 3)
    volume = concat_cost_volume(left, left, num_disparities=5)
    assert volume.shape == (2, 5, 2, 3)
    assert volume[:, 3:].abs().sum() == 0


def test_binary_in_binary_out_and_non_contiguous():
    spikes = (torch.rand(2, 4, 6, 8) > 0.5).float().transpose(-1, -2)  # non-contiguous
    volume = concat_cost_volume(spikes, spikes.flip(-1), num_disparities=3)
    assert set(volume.unique().tolist()) <= {0.0, 1.0}


def test_shape_errors():
    with pytest.raises(ValueError, match="differ in shape"):
        concat_cost_volume(torch.zeros(1, 2, 3), torch.zeros(1, 2, 4), num_disparities=2)
    with pytest.raises(ValueError, match="num_disparities"):
        concat_cost_volume(torch.zeros(1, 2, 3), torch.zeros(1, 2, 3), num_disparities=0)


def test_gradient_reaches_both_views():
    left = torch.randn(1, 2, 3, 5, dtype=torch.float64, requires_grad=True)
    right = torch.randn(1, 2, 3, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: concat_cost_volume(a, b, num_disparities=3), (left, right))


@pytest.mark.parametrize("num_disparities", [1, 4, 9])
def test_gradients_match_pixel_loop(num_disparities):
    g = torch.Generator().manual_seed(1)
    left = torch.randn(2, 3, 4, 7, dtype=torch.float64, generator=g)
    right = torch.randn(2, 3, 4, 7, dtype=torch.float64, generator=g)
    weight = torch.randn(2, 6, num_disparities, 4, 7, dtype=torch.float64, generator=g)
    grads = []
    for build in (concat_cost_volume, lambda a, b, num_disparities: _reference(a, b, num_disparities)):
        a, b = left.clone().requires_grad_(), right.clone().requires_grad_()
        (build(a, b, num_disparities=num_disparities) * weight).sum().backward()
        grads.append((a.grad, b.grad))
    torch.testing.assert_close(grads[0], grads[1])


@pytest.mark.parametrize("num_disparities", [1, 3, 9])
def test_coincidence_volume_is_concat_plus_the_shifted_product(num_disparities):
    g = torch.Generator().manual_seed(2)
    left = (torch.rand(2, 3, 4, 7, generator=g) > 0.5).float()
    right = (torch.rand(2, 3, 4, 7, generator=g) > 0.5).float()
    volume = coincidence_cost_volume(left, right, num_disparities=num_disparities)
    assert volume.shape == (2, 9, num_disparities, 4, 7)
    assert torch.equal(volume[:, :6], _reference(left, right, num_disparities))
    for d in range(num_disparities):
        for x in range(7):
            expected = left[..., x] * right[..., x - d] if x >= d else torch.zeros(2, 3, 4)
            assert torch.equal(volume[:, 6:, d, :, x], expected)
    assert set(volume.unique().tolist()) <= {0.0, 1.0}
