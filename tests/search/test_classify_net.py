"""Tests for search.backends.classify_net: published parameter count, determinism, supernet."""

import pytest
import torch

from search.backends.classify_net import ClassifyNet, ClassifySupernet, count_parameters
from search.cost import energy_report
from search.genotype import Genotype, NodeSetting
from search.named_genotypes import SPIKEDHS_CIFAR
from search.neurons import get_surrogate_b


@pytest.mark.parametrize("num_classes", [10, 100])
def test_published_cifar_genotype_counts_about_14_3_million(num_classes):
    net = ClassifyNet(SPIKEDHS_CIFAR, num_classes=num_classes, filter_multiplier=48)
    assert 14.2e6 < count_parameters(net) < 14.4e6  # authors: 14.3 M, no auxiliary head
    assert net.body.channels == (144, 144, 288, 288, 288, 576, 576, 576)


def test_same_input_twice_gives_same_output_and_output_type():
    torch.manual_seed(0)
    net = ClassifyNet(SPIKEDHS_CIFAR, num_classes=10, filter_multiplier=2, timesteps=3, auxiliary=True)
    images = torch.rand(2, 3, 16, 16)
    net.eval()
    first, second = net(images), net(images)
    assert first.aux_logits is None and first.logits.shape == (2, 10)
    assert torch.equal(first.logits, second.logits)
    net.train()
    out = net(images)
    assert out.aux_logits.shape == (2, 10)
    (out.logits.sum() + out.aux_logits.sum()).backward()


def test_node_settings_reach_the_built_neurons():
    g = SPIKEDHS_CIFAR.with_nodes({"classify.stem": NodeSetting(surrogate_b=1.3),
                                   "classify.cell2.node0": NodeSetting(kind="ann")})
    net = ClassifyNet(g, num_classes=10, filter_multiplier=2, timesteps=2)
    assert get_surrogate_b(net.stem.neuron) == 1.3
    assert isinstance(net.body.cells[2].nodes[0], torch.nn.ReLU)
    # train-mode BN normalises the currents, so an untrained net fires and the ReLU node is non-zero
    report = energy_report(net.train(), torch.rand(2, 3, 8, 8), num_samples=2)
    assert not report.layers[0].spiking_input  # encoder sees the image
    assert any(not row.spiking_input for row in report.layers[1:])  # consumers of the ANN node


def test_supernet_parameters_gradients_and_genotype():
    torch.manual_seed(0)
    net = ClassifySupernet(num_classes=4, num_layers=3, num_levels=3, filter_multiplier=2, timesteps=2)
    names = {n for n, _ in net.named_parameters() if n.startswith("arch_")}
    assert names == {"arch_alpha", "arch_beta"}
    assert len(net.arch_parameters()) == 2
    assert len(net.weight_parameters()) == len(list(net.parameters())) - 2
    out = net(torch.rand(3, 3, 8, 8) * 2)
    (out.logits * torch.randn_like(out.logits)).sum().backward()
    assert torch.all(net.arch_alpha.grad.abs() > 0)
    beta_grad = net.arch_beta.grad
    assert beta_grad[0, 0, 1] != 0 and beta_grad[0, 0, 2] != 0 and torch.all(beta_grad[1:, :2, 1:] != 0)
    g = net.genotype()
    assert isinstance(g, Genotype) and len(g.path("classify")) == 3
    net.zero_grad()
    energy = net.expected_energy_mj((8, 8))
    energy.backward()
    # only edges whose skip is a free identity (node -> node) change the cost with alpha
    assert energy > 0 and torch.all(net.arch_alpha.grad[[4, 7, 8]].abs() > 1e-12)
    retrained = ClassifyNet(g, num_classes=4, filter_multiplier=2, timesteps=2)
    assert retrained(torch.rand(1, 3, 8, 8)).logits.shape == (1, 4)
