"""Retraining with local searches: parameters of the neurons a round installs are trained too."""

import torch

from datasets.classify import write_shapes_dataset
from search.backends.classify import train_classify
from search.backends.classify_config import TrainClassifyConfig
from search.genotype import Genotype


def test_plif_chosen_by_tps_gets_its_tau_trained(tmp_path):
    data = write_shapes_dataset(tmp_path / "shapes", num_classes=2, train_per_class=8, val_per_class=2,
                                image_size=8, seed=0)
    genotype = Genotype(cells={"classify": ((1, 1), (0, 1), (3, 2), (2, 1), (7, 1), (8, 1))},
                        paths={"classify": (0,)})
    genotype.save_json(tmp_path / "g.json")
    # Only PLIF candidates: the round after epoch 2 makes every site a PLIF with a fresh w; epoch 3 trains it.
    config = TrainClassifyConfig(genotype=str(tmp_path / "g.json"), dataset="folder", data_root=str(data),
                                 image_size=8, filter_multiplier=2, timesteps=2, epochs=3, batch_size=4, lr=0.05,
                                 cutout=False, auxiliary=False, seed=0, device="cpu", out=str(tmp_path / "run"),
                                 progress=False, tps=True, tps_kinds="plif", tps_decays="0.3,0.6", local_every=2,
                                 local_batches=1)
    train_classify(config)
    payload = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=False)
    groups = payload["optimizers"]["weights"]["param_groups"]
    assert len(groups) == 2  # the weights, then the PLIF w installed by the round
    w = {k: v for k, v in payload["model"].items() if k.endswith(".w")}
    assert w, "TPS with only PLIF candidates must install PLIF neurons"
    # w starts at the logit of the chosen decay (0.3 or 0.6); epoch 3 moved it
    starts = {float(torch.logit(torch.tensor(1 - d))) for d in (0.3, 0.6)}
    assert all(min(abs(float(v) - s) for s in starts) > 1e-6 for v in w.values())
