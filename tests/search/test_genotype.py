"""Tests for search.genotype: JSON round trip, validation, decoding and Viterbi."""

import itertools
import json
import math

import pytest
import torch

from search.genotype import (
    Genotype,
    NodeSetting,
    cell_to_alpha,
    decode_cell,
    node_key,
    path_to_beta,
    transition_weights,
    viterbi,
)
from search.named_genotypes import SPIKEDHS_CIFAR, SPIKEDHS_MVSEC, get_genotype, resolve_genotype


def test_json_round_trip(tmp_path):
    g = SPIKEDHS_MVSEC.with_nodes(
        {node_key("feature", 0, 1): NodeSetting(kind="ann", decay=0.35, surrogate_b=1.2),
         node_key("feature"): NodeSetting(surrogate_b=2.8)}
    )
    path = g.save_json(tmp_path / "sub" / "g.json")
    loaded = Genotype.load_json(path)
    assert loaded == g
    assert loaded.node("feature.cell0.node1").kind == "ann"
    assert json.loads(path.read_text())["paths"]["matching"] == [1, 2, 2, 1]
    assert not list(tmp_path.joinpath("sub").glob("*.tmp"))


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.json"):
        Genotype.load_json(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="bad.json.*not valid JSON"):
        Genotype.load_json(bad)
    bad.write_text(json.dumps({"paths": {}}))
    with pytest.raises(ValueError, match="missing the field 'cells'"):
        Genotype.load_json(bad)
    bad.write_text(json.dumps({"cells": {"c": [[0, 1], [1, 1], [2, 1], [3, 1], [5, 1], [9, 1]]}}))
    with pytest.raises(ValueError, match="edge 9"):
        Genotype.load_json(bad)
    bad.write_text(json.dumps({"cells": {"c": [[0, 1], [1, 1], [2, 1], [3, 1], [5, 1], [6, 7]]}}))
    with pytest.raises(ValueError, match="op index 7"):
        Genotype.load_json(bad)
    with pytest.raises(ValueError, match="jump"):
        Genotype(cells={}, paths={"p": (0, 2)})
    with pytest.raises(KeyError, match="spikedhs_cifar"):
        get_genotype("nope")
    with pytest.raises(FileNotFoundError, match="neither"):
        resolve_genotype(str(tmp_path / "nope.json"))


def test_named_genotypes_decode_to_intended_ops(tmp_path):
    assert SPIKEDHS_CIFAR.op_names("classify") == ("snn_b3", "snn_b3", "snn_b5", "snn_b3", "snn_b3", "snn_b3")
    assert SPIKEDHS_MVSEC.op_names("matching")[:2] == ("snn_b3", "snn_b5")
    assert resolve_genotype("spikedhs_cifar") is SPIKEDHS_CIFAR
    assert resolve_genotype(SPIKEDHS_CIFAR.save_json(tmp_path / "c.json")) == SPIKEDHS_CIFAR


def test_decode_hand_example_and_skip_rule():
    alpha = torch.zeros(9, 3)
    alpha[1] = torch.tensor([0.0, 2.0, 0.0])   # node0: edge1 strongest, snn_b3
    alpha[0] = torch.tensor([5.0, 0.0, 1.0])   # edge0: skip wins the argmax
    alpha[3] = torch.tensor([0.0, 0.0, 3.0])
    alpha[4] = torch.tensor([9.0, 0.0, 0.0])   # skip-dominated edge is ranked by non-skip weight: loses
    alpha[2] = torch.tensor([0.0, 1.0, 0.0])
    alpha[7] = torch.tensor([0.0, 1.0, 0.0])
    alpha[8] = torch.tensor([0.0, 1.5, 0.0])
    gene = decode_cell(alpha)
    assert gene == ((1, 1), (0, 0), (3, 2), (2, 1), (8, 1), (7, 1))
    assert decode_cell(alpha.clone()) == gene  # deterministic
    # all-equal logits: ties go to the lower edge and lower op
    assert decode_cell(torch.zeros(9, 3)) == ((0, 0), (1, 0), (2, 0), (3, 0), (5, 0), (6, 0))
    # round trip through peaked logits
    cell = SPIKEDHS_MVSEC.cell("matching")
    assert sorted(decode_cell(cell_to_alpha(cell))) == sorted(cell)


def test_transition_weights_are_softmax_over_valid_moves():
    beta = torch.randn(3, 4, 3)
    w = transition_weights(beta)
    assert torch.all(w[:, 0, 0] == 0) and torch.all(w[:, 3, 2] == 0)
    torch.testing.assert_close(w.sum(-1), torch.ones(3, 4))
    torch.testing.assert_close(w[:, 1], torch.softmax(beta[:, 1], -1))


def test_viterbi_hand_made():
    for path in [(0, 0, 1, 1, 1, 2, 2, 2), (1, 2, 2, 1), (1, 0), (1, 2, 3, 3, 2)]:
        assert viterbi(path_to_beta(path)) == path
    # a path whose first step is weak but later steps are strong beats the greedy choice
    beta = torch.zeros(2, 4, 3)
    beta[0, 0] = torch.tensor([0.0, 0.1, 0.0])    # stem: same (0.52) vs down (0.48)
    beta[1, 1] = torch.tensor([0.0, 0.0, 4.0])    # from level 1: strongly down to 2
    assert viterbi(beta) == (1, 2)
    assert viterbi(beta, end_level=0) == (0, 0)


def _brute_force(beta):
    w = transition_weights(beta.double())
    num_layers, num_levels = beta.shape[:2]
    best, best_path = -math.inf, None
    for path in itertools.product(range(num_levels), repeat=num_layers):
        prev, logp = 0, 0.0
        for layer, level in enumerate(path):
            move = level - prev + 1
            if not 0 <= move < 3 or w[layer, prev, move] == 0:
                logp = -math.inf
                break
            logp += math.log(float(w[layer, prev, move]))
            prev = level
        if logp > best:
            best, best_path = logp, path
    return best_path


@pytest.mark.parametrize("seed", range(20))
def test_viterbi_matches_brute_force(seed):
    gen = torch.Generator().manual_seed(seed)
    beta = torch.randn(5, 4, 3, generator=gen) * 2
    assert viterbi(beta) == _brute_force(beta)
