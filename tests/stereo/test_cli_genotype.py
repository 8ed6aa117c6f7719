"""`stereo genotype show`: the table shows per node the operations, b, decay and spiking/ANN."""

from __future__ import annotations

from search.genotype import Genotype, NodeSetting
from search.genotype_table import genotype_rows
from search.named_genotypes import SPIKEDHS_CIFAR


def test_rows_of_a_hybrid_genotype():
    genotype = SPIKEDHS_CIFAR.with_nodes({
        "classify.stem": NodeSetting(kind="lif", decay=0.5, surrogate_b=2.2),
        "classify.cell1.node2": NodeSetting(kind="ann", decay=0.2, surrogate_b=None),
    })
    rows = {r["node"]: r for r in genotype_rows(genotype)["classify"]}
    assert len(rows) == 1 + 3 * 8
    assert rows["classify.stem"] == {"node": "classify.stem", "ops": "conv3x3 (stem)", "b": 2.2, "decay": 0.5,
                                     "neuron": "spiking (lif)", "searched": True}
    assert rows["classify.cell1.node2"]["neuron"] == "ANN (relu)"
    # Node 1 keeps snn_b5 and snn_b3: the builder's rule gives b = (5 + 3) / 2 when nothing was searched.
    assert rows["classify.cell0.node1"]["ops"] == "snn_b5(s1), snn_b3(s0)"
    assert rows["classify.cell0.node1"]["b"] == 4.0 and not rows["classify.cell0.node1"]["searched"]


def test_show_prints_the_table(tmp_path, run_cli):
    path = tmp_path / "g.json"
    SPIKEDHS_CIFAR.with_nodes({"classify.cell0.node0": NodeSetting(kind="ann")}).save_json(path)
    code, out, err = run_cli("genotype", "show", path)
    assert code == 0, err
    assert "classify.cell0.node0*" in out and "ANN (relu)" in out and "snn_b5(s1)" in out
    code, out, _ = run_cli("genotype", "show", "spikedhs_mvsec")
    assert code == 0 and "feature" in out and "matching" in out and "spiking (lif)" in out


def test_show_bad_inputs(tmp_path, run_cli):
    code, out, err = run_cli("genotype", "show", tmp_path / "missing.json")
    assert code != 0 and "Traceback" not in err and len(err.strip().splitlines()) == 1
    bad = tmp_path / "bad.json"
    bad.write_text('{"cells": {"classify": [[0, 9]]}}')
    code, out, err = run_cli("genotype", "show", bad)
    assert code != 0 and "Traceback" not in err and "bad.json" in err
    assert Genotype.from_dict(SPIKEDHS_CIFAR.to_dict()) == SPIKEDHS_CIFAR
