"""Tests for search.neurons: LIF dynamics, Dspike surrogate, mixture surrogate, reset."""

import math

import pytest
import torch
from spikingjelly.activation_based import functional

from search.neurons import (
    MixedDSpike,
    NeuronConfig,
    dspike_grad,
    get_surrogate_b,
    make_neuron,
    set_surrogate_b,
)


def reference_lif(current: torch.Tensor, decay: float = 0.2, v_th: float = 0.5) -> torch.Tensor:
    """Hand-written u[t] = decay * u[t-1] * (1 - s[t-1]) + I[t], s = H(u - V_th)."""
    u_prev = torch.zeros_like(current[0])
    s_prev = torch.zeros_like(current[0])
    spikes = []
    for t in range(current.shape[0]):
        u = decay * u_prev * (1 - s_prev) + current[t]
        s = (u >= v_th).to(current.dtype)
        spikes.append(s)
        u_prev, s_prev = u, s
    return torch.stack(spikes)


@pytest.mark.parametrize("decay", [0.2, 0.5])
def test_lif_matches_reference_loop(decay):
    torch.manual_seed(0)
    current = torch.rand(12, 4, 3, 5, dtype=torch.float64) * 0.8
    lif = make_neuron(NeuronConfig(decay=decay))
    out = lif(current)
    assert torch.equal(out, reference_lif(current, decay=decay))
    assert 0 < out.mean() < 1


def test_lif_hand_values():
    lif = make_neuron(NeuronConfig())
    # u: 0.3 -> 0.06 + 0.3 = 0.36 -> 0.072 + 0.45 = 0.522 (fires) -> 0 + 0.1 = 0.1
    current = torch.tensor([0.3, 0.3, 0.45, 0.1]).view(4, 1)
    assert lif(current).flatten().tolist() == [0.0, 0.0, 1.0, 0.0]


def test_dspike_gradient_matches_formula_and_window():
    x = torch.linspace(-0.7, 0.7, 141, dtype=torch.float64, requires_grad=True)
    lif = make_neuron(NeuronConfig(surrogate_b=3.0))
    surrogate = lif.surrogate_function
    surrogate(x).sum().backward()
    expected = dspike_grad(x.detach(), 3.0)
    torch.testing.assert_close(x.grad, expected)
    inside = x.detach().abs() <= 0.5
    assert torch.all(x.grad[inside] > 0) and torch.all(torch.isfinite(x.grad))
    assert torch.all(x.grad[~inside] == 0)
    # peak value at threshold: b / (2 tanh(b/2))
    assert math.isclose(float(dspike_grad(torch.tensor(0.0), 3.0)), 3 / (2 * math.tanh(1.5)), rel_tol=1e-6)
    # integrates to 1 over the window
    grid = torch.linspace(-0.5, 0.5, 20001, dtype=torch.float64)
    assert math.isclose(float(torch.trapezoid(dspike_grad(grid, 5.0), grid)), 1.0, rel_tol=1e-4)


def test_mixed_dspike_forward_is_heaviside_backward_is_mixture():
    x = torch.linspace(-0.6, 0.6, 61, dtype=torch.float64, requires_grad=True)
    mix = MixedDSpike((3.0, 5.0))
    weights = torch.tensor([0.25, 0.75], dtype=torch.float64)
    mix.set_weights(weights)
    out = mix(x)
    assert torch.equal(out, (x.detach() >= 0).double())
    out.sum().backward()
    expected = 0.25 * dspike_grad(x.detach(), 3.0) + 0.75 * dspike_grad(x.detach(), 5.0)
    torch.testing.assert_close(x.grad, expected)


def test_lif_with_mixed_surrogate_gradient_reaches_current():
    mix = MixedDSpike((3.0, 5.0))
    lif = make_neuron(NeuronConfig(), surrogate=mix)
    current = torch.full((4, 2, 3), 0.45, requires_grad=True)
    lif(current).sum().backward()
    assert torch.all(torch.isfinite(current.grad)) and current.grad.abs().sum() > 0


def test_reset_determinism_and_state_leak():
    lif = make_neuron(NeuronConfig())
    current = torch.full((3, 1), 0.42)
    first = lif(current)
    leaked = lif(current)  # membrane carried over: fires earlier
    functional.reset_net(lif)
    again = lif(current)
    assert torch.equal(first, again) and not torch.equal(first, leaked)


@pytest.mark.parametrize("kind", ["lif", "if", "plif", "ann"])
def test_every_kind_builds_and_runs(kind):
    node = make_neuron(NeuronConfig(kind=kind))
    x = torch.randn(3, 2, 4, 5, 5)
    y = node(x)
    assert y.shape == x.shape
    if kind == "ann":
        assert torch.equal(y, torch.relu(x))
    else:
        assert set(y.unique().tolist()) <= {0.0, 1.0}


def test_surrogate_b_get_set_and_errors():
    node = make_neuron(NeuronConfig(surrogate_b=3.0))
    assert get_surrogate_b(node) == 3.0
    set_surrogate_b(node, 1.2)
    assert get_surrogate_b(node) == 1.2
    with pytest.raises(ValueError, match="> 0"):
        set_surrogate_b(node, 0.0)
    with pytest.raises(ValueError, match="unknown neuron kind"):
        NeuronConfig(kind="izhikevich")
    with pytest.raises(ValueError, match="decay"):
        NeuronConfig(decay=1.0)
