"""The shared local-search mechanism: sites, node table, mixing, rounds on real networks, figures."""

from __future__ import annotations

import pytest
import torch

from search.backends.classify_local import classify_sites
from search.backends.classify_net import ClassifyNet, ClassifySupernet
from search.genotype import Genotype, NodeSetting
from search.local import (
    LocalSearchConfig,
    LocalSearches,
    MixedNeuron,
    NodeTable,
    config_of,
    trellis_node_settings,
)
from search.neurons import MixedDSpike, NeuronConfig, make_neuron
from search.plots import write_local_figures
from search.tps import TPSConfig, make_tps

GENOTYPE = Genotype(cells={"classify": ((1, 1), (0, 1), (3, 2), (2, 1), (7, 1), (8, 1))}, paths={"classify": (0, 1)})


@pytest.mark.parametrize("config", [
    NeuronConfig(), NeuronConfig(decay=0.65, surrogate_b=2.2), NeuronConfig(kind="if", surrogate_b=4.0),
    NeuronConfig(kind="plif", decay=0.5), NeuronConfig(kind="ann"),
])
def test_config_of_inverts_make_neuron(config):
    got = config_of(make_neuron(config))
    assert got.kind == config.kind and got.surrogate_b == pytest.approx(config.surrogate_b)
    if config.kind in ("lif", "plif"):
        assert got.decay == pytest.approx(config.decay, abs=1e-6)


def test_mixed_neuron_is_the_softmax_weighted_sum_of_its_candidates():
    candidates = [make_neuron(NeuronConfig(decay=d)) for d in (0.2, 0.8)]
    mixer = MixedNeuron(candidates)
    with torch.no_grad():
        mixer.logits.copy_(torch.tensor([0.3, -0.2]))
    x = torch.rand(4, 3, 5)
    w = torch.softmax(torch.tensor([0.3, -0.2]), 0)
    expected = w[0] * make_neuron(NeuronConfig(decay=0.2))(x) + w[1] * make_neuron(NeuronConfig(decay=0.8))(x)
    assert torch.allclose(mixer(x), expected)
    mixer.force = 1
    for c in candidates:
        c.reset()
    assert torch.equal(mixer(x), make_neuron(NeuronConfig(decay=0.8))(x))


def test_classify_net_sites_and_table_rebuild():
    net = ClassifyNet(GENOTYPE, num_classes=2, filter_multiplier=2, timesteps=2)
    sites = classify_sites(net)
    assert list(sites)[:2] == ["classify.stem", "classify.cell0.node0"] and len(sites) == 7
    table = NodeTable(net, sites)
    assert table.configs["classify.cell0.node1"].surrogate_b == 4.0  # snn_b5 + snn_b3
    table.set("classify.cell1.node2", NeuronConfig(kind="ann"))
    assert isinstance(net.body.cells[1].nodes[2], torch.nn.ReLU)
    settings = table.node_settings()
    assert settings["classify.cell1.node2"].kind == "ann" and settings["classify.stem"].kind == "lif"
    # The genotype with these settings builds the same neurons.
    rebuilt = ClassifyNet(GENOTYPE.with_nodes(settings), num_classes=2, filter_multiplier=2, timesteps=2)
    assert isinstance(rebuilt.body.cells[1].nodes[2], torch.nn.ReLU)
    assert config_of(rebuilt.body.cells[0].nodes[1]).surrogate_b == 4.0


def _batches(n):
    g = torch.Generator().manual_seed(0)
    for _ in range(n):
        yield None, (torch.rand(4, 3, 8, 8, generator=g), torch.randint(0, 2, (4,), generator=g))


def _loss(model, batch):
    images, labels = batch
    return torch.nn.functional.cross_entropy(model(images).logits, labels)


def test_tps_round_on_the_supernet_keeps_membrane_mixing_and_maps_to_the_genotype(tmp_path):
    torch.manual_seed(0)
    model = ClassifySupernet(num_classes=2, num_layers=2, num_levels=2, filter_multiplier=2, timesteps=2)
    table = NodeTable(model, classify_sites(model))
    key = "trellis.cells.l1_k1_from0.nodes.0"
    assert table.mixed_bs[key] == (3.0, 3.0, 5.0)
    tps = make_tps(table, TPSConfig(decays=(0.2, 0.8), batches=2))
    searches = LocalSearches(table, [tps])
    metrics = searches.after_epoch(4, _loss, lambda n: _batches(n))
    assert tps.rounds[0].batches == 2 and set(metrics) == {"local_mean_b", "local_mean_decay", "local_ann_nodes"}
    surrogate = model.trellis.cells["l1_k1_from0"].nodes[0].surrogate_function
    assert isinstance(surrogate, MixedDSpike) and surrogate.bs.tolist() == [3.0, 3.0, 5.0]
    nodes = trellis_node_settings(table, module_name="trellis", net_name="classify", path=(0, 1),
                                  derived_b=[[3.0, 4.0, 3.0]] * 2)
    assert nodes["classify.cell1.node0"].decay == table.configs[key].decay
    assert nodes["classify.cell1.node0"].surrogate_b is None  # no DGS shift: the builder's rule stands
    written = write_local_figures({**searches.to_dict(), "searches": ["dgs", "tps", "hns"]}, tmp_path)
    assert [p.name for p in written] == ["local_b_trajectory.png", "local_decays.png", "local_hybrid_map.png"]
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in written)


def test_round_cadence_and_config_checks():
    config = LocalSearchConfig(every_epochs=5)
    assert [e for e in range(12) if config.due(e)] == [4, 9]
    with pytest.raises(ValueError):
        LocalSearchConfig(batches=0)
    with pytest.raises(ValueError, match="at least one site"):
        NodeTable(torch.nn.Linear(2, 2), {})
    with pytest.raises(KeyError, match="no module"):
        NodeTable(torch.nn.Linear(2, 2), {"x.stem": "missing"})
    assert NodeSetting(kind="ann").kind == "ann"
