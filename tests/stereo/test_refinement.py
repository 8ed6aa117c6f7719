import numpy as np
import pytest
import torch

from stereo.refinement import DisparityRefinement, RefinementConfig, local_matching_cost, warp_right_to_left


def _warp_reference(right: np.ndarray, disparity: np.ndarray) -> np.ndarray:
    """Row-wise linear interpolation of right at x - d in the row padded with a 0 on each side, with np.interp."""
    n, c, h, w = right.shape
    out = np.zeros_like(right)
    columns = np.arange(-1, w + 1, dtype=np.float64)
    for i in range(n):
        for y in range(h):
            source = np.arange(w) - disparity[i, 0, y]
            for k in range(c):
                padded = np.concatenate([[0.0], right[i, k, y], [0.0]])
                out[i, k, y] = np.interp(source, columns, padded, left=0.0, right=0.0)
    return out


def test_warp_by_an_integer_disparity_is_a_shift():
    right = torch.arange(2 * 3 * 5, dtype=torch.float32).view(1, 2, 3, 5)
    out = warp_right_to_left(right, torch.full((1, 1, 3, 5), 2.0))
    # left pixel x sees right pixel x - 2; the first two columns have no source
    # (float32 pixel-centre arithmetic: exact to rounding)
    assert torch.allclose(out[..., 2:], right[..., :3], atol=1e-5)
    assert torch.allclose(out[..., :2], torch.zeros(1, 2, 3, 2), atol=1e-5)
    assert torch.allclose(warp_right_to_left(right, torch.zeros(1, 1, 3, 5)), right, atol=1e-5)


def test_warp_matches_linear_interpolation_on_random_data():
    generator = torch.Generator().manual_seed(0)
    right = torch.rand(2, 3, 7, 11, generator=generator, dtype=torch.float64)
    disparity = 6.0 * torch.rand(2, 1, 7, 11, generator=generator, dtype=torch.float64)
    expected = _warp_reference(right.numpy(), disparity.numpy())
    np.testing.assert_allclose(warp_right_to_left(right, disparity).numpy(), expected, atol=1e-12)


@pytest.mark.parametrize("height,width", [(1, 1), (1, 6), (3, 2)])
def test_warp_of_tiny_images(height, width):
    generator = torch.Generator().manual_seed(3)
    right = torch.rand(1, 2, height, width, generator=generator, dtype=torch.float64)
    disparity = 4.0 * torch.rand(1, 1, height, width, generator=generator, dtype=torch.float64) - 1.0
    expected = _warp_reference(right.numpy(), disparity.numpy())
    np.testing.assert_allclose(warp_right_to_left(right, disparity).numpy(), expected, atol=1e-12)


def test_warp_refuses_mismatched_shapes():
    with pytest.raises(ValueError, match="differ in size"):
        warp_right_to_left(torch.rand(1, 2, 4, 5), torch.rand(1, 1, 4, 6))
    with pytest.raises(ValueError, match="disparity"):
        warp_right_to_left(torch.rand(1, 2, 4, 5), torch.rand(1, 2, 4, 5))


def test_new_head_is_the_identity_and_gradients_reach_it():
    head = DisparityRefinement(2, RefinementConfig(channels=4, dilations=(1, 2), probability_channels=3,
                                                   cost_radius=1), max_disparity=12)
    left, right = torch.rand(1, 2, 9, 13), torch.rand(1, 2, 9, 13)
    disparity = 10.0 * torch.rand(1, 1, 9, 13)
    log_probability = torch.randn(1, 12, 9, 13).log_softmax(dim=1)
    refined = head(left, right, disparity, log_probability)
    assert torch.equal(refined, disparity)
    refined.sum().backward()
    assert all(p.grad is not None for p in head.parameters())
    assert head.out.weight.grad.abs().sum() > 0


def test_head_learns_to_correct_a_disparity_that_depends_on_the_events():
    # The coarse disparity is 1.5 px too large where the left tensor has events and right elsewhere; only a
    # head that reads its inputs can remove that error.
    torch.manual_seed(0)
    head = DisparityRefinement(1, RefinementConfig(channels=8, dilations=(1,)), max_disparity=12)
    optimiser = torch.optim.Adam(head.parameters(), lr=1e-2)
    truth = torch.full((4, 1, 12, 16), 5.0)

    def batch():
        left = (torch.rand(4, 1, 12, 16) < 0.3).float()
        return left, torch.rand(4, 1, 12, 16), truth + 1.5 * left

    left, right, coarse = batch()
    before = (head(left, right, coarse) - truth).abs().mean().item()
    for _ in range(300):
        left, right, coarse = batch()
        loss = (head(left, right, coarse) - truth).abs().mean()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    left, right, coarse = batch()
    after = (head(left, right, coarse) - truth).abs().mean().item()
    assert before > 0.4 and after < 0.1 * before


def test_local_cost_matches_a_direct_computation():
    generator = torch.Generator().manual_seed(1)
    left = torch.rand(1, 2, 6, 9, generator=generator, dtype=torch.float64)
    right = torch.rand(1, 2, 6, 9, generator=generator, dtype=torch.float64)
    disparity = 3.0 * torch.rand(1, 1, 6, 9, generator=generator, dtype=torch.float64)
    cost = local_matching_cost(left, right, disparity, radius=2, window=3).numpy()
    assert cost.shape == (1, 5, 6, 9)
    for j, offset in enumerate(range(-2, 3)):
        warped = _warp_reference(right.numpy(), disparity.numpy() + offset)
        difference = np.abs(left.numpy() - warped).sum(axis=1)[0]
        for y in range(6):
            for x in range(9):  # the mean over the part of the 3x3 window inside the image
                block = difference[max(y - 1, 0):y + 2, max(x - 1, 0):x + 2]
                assert cost[0, j, y, x] == pytest.approx(block.mean(), abs=1e-12)


def test_the_local_cost_is_lowest_at_the_true_disparity():
    # a random texture shifted by 4 px: with a coarse guess of 3 px, offset +1 matches exactly
    texture = torch.rand(1, 1, 8, 40, generator=torch.Generator().manual_seed(2))
    right = texture[..., 4:]
    left = texture[..., :-4]
    cost = local_matching_cost(left, right, torch.full((1, 1, 8, 36), 3.0), radius=2, window=3)
    assert torch.all(cost[0, :, :, 8:].argmin(dim=0) == 3)


def test_probability_input_is_required_when_configured():
    head = DisparityRefinement(1, RefinementConfig(channels=2, probability_channels=2), max_disparity=6)
    with pytest.raises(ValueError, match="log_probability"):
        head(torch.rand(1, 1, 4, 5), torch.rand(1, 1, 4, 5), torch.rand(1, 1, 4, 5))
