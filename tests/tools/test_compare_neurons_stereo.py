"""tools/compare_neurons_stereo: checkpoint variants keep the weights and change only the neurons; a tiny run."""

from __future__ import annotations

import pytest
import torch
from test_bench import write_tiny_model
from test_recipes import write_tiny_cache

from search.checkpoint import load_checkpoint
from stereo.train import load_trained_model
from tools.compare_neurons_stereo import main, markdown_table, neuron_variant, write_variant


def _node_kinds(model) -> dict[str, str]:
    genotype = model.genotype
    return {net: {genotype.node(f"{net}.cell{i}.node{j}").kind if genotype.node(f"{net}.cell{i}.node{j}") else "lif"
                  for i in range(len(genotype.paths[net])) for j in range(3)}
            for net in ("feature", "matching")}


def test_variants_change_neurons_and_keep_weights(tmp_path):
    source = write_tiny_model(tmp_path / "tiny.pt")
    original, payload = load_trained_model(source)
    for variant, kinds, neuron, timesteps in (("spiking", {"feature": {"lif"}, "matching": {"lif"}}, "lif", 1),
                                               ("hybrid", {"feature": {"lif"}, "matching": {"ann"}}, "lif", 1),
                                               ("hybrid_feature", {"feature": {"ann"}, "matching": {"lif"}}, "lif", 1),
                                               ("ann", {"feature": {"ann"}, "matching": {"ann"}}, "ann", 1)):
        model, _ = load_trained_model(write_variant(source, variant, tmp_path / f"{variant}.pt"))
        assert _node_kinds(model) == kinds
        assert model.config.neuron.kind == neuron and model.config.timesteps == timesteps
        for name, tensor in original.state_dict().items():
            torch.testing.assert_close(model.state_dict()[name], tensor, rtol=0, atol=0)
    assert load_checkpoint(source)["genotype"] == payload["genotype"]  # the source file is untouched
    with pytest.raises(ValueError, match="unknown variant"):
        neuron_variant(payload, "snn")


def test_ann_variant_of_a_multistep_model_has_one_timestep(tmp_path):
    payload = load_checkpoint(write_tiny_model(tmp_path / "tiny.pt"))
    payload["extra"]["network"]["timesteps"] = 4
    assert neuron_variant(payload, "ann")["extra"]["network"]["timesteps"] == 1
    assert neuron_variant(payload, "hybrid")["extra"]["network"]["timesteps"] == 4
    assert neuron_variant(payload, "hybrid_feature")["extra"]["network"]["timesteps"] == 4
    assert payload["extra"]["network"]["timesteps"] == 4


def test_markdown_table_pads_shorter_curves():
    table = markdown_table({"spiking": [39.34, 40.0], "ann": [50.05]})
    assert table.splitlines() == ["| variant | epoch 1 | epoch 2 |", "|---|---:|---:|",
                                  "| spiking | 39.3 | 40.0 |", "| ann | 50.0 | - |"]


def test_tiny_run_of_two_variants(tmp_path, capsys):
    torch.set_num_threads(1)
    model = write_tiny_model(tmp_path / "tiny.pt")
    train = write_tiny_cache(tmp_path / "train.h5", frames=2, channels=5, height=24, width=36)
    val = write_tiny_cache(tmp_path / "val.h5", frames=1, channels=5, height=24, width=36)
    work = tmp_path / "work"
    args = ["--workdir", str(work), "--train", str(train), "--val", str(val), "--checkpoint", str(model),
            "--variants", "hybrid", "ann_scratch", "--epochs", "2", "--steps-per-epoch", "1",
            "--crop-height", "24", "--crop-width", "36"]
    curves = main(args)
    assert set(curves) == {"hybrid", "ann_scratch"} and all(len(c) == 2 for c in curves.values())
    assert all(0.0 <= v <= 100.0 for c in curves.values() for v in c)
    table = (work / "summary_hybrid_ann_scratch.md").read_text()
    assert table == markdown_table(curves) + "\n"
    # the scratch run started from random weights with the ANN genotype, the other from the checkpoint
    scratch, _ = load_trained_model(work / "ann_scratch" / "last.pt")
    assert scratch.config.neuron.kind == "ann" and _node_kinds(scratch)["feature"] == {"ann"}
    assert main(args) == curves  # finished runs are resumed, not retrained


def test_missing_cache_is_one_error_line(tmp_path):
    model = write_tiny_model(tmp_path / "tiny.pt")
    with pytest.raises(SystemExit, match="error: "):
        main(["--workdir", str(tmp_path / "w"), "--train", str(tmp_path / "nope.h5"), "--val", str(tmp_path / "v.h5"),
              "--checkpoint", str(model), "--variants", "spiking"])
