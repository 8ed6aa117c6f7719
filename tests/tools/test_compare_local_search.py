"""tools/compare_local_search.py end to end at the smallest settings (the comparison itself is in the README)."""

import json

from tools.compare_local_search import main


def test_every_variant_trains_and_is_scored(tmp_path):
    rows = main(["--out", str(tmp_path), "--epochs", "2", "--seeds", "0", "--image-size", "8", "--per-class", "4",
                 "--local-every", "1", "--local-batches", "1"])
    assert [r["variant"] for r in rows] == ["plain", "dgs", "plif", "tps"]
    assert all(0 <= r["top1"] <= 100 and r["energy_mj"] > 0 for r in rows)
    assert json.loads((tmp_path / "comparison.json").read_text()) == rows
    # the local searches wrote what they chose into the retrained genotypes
    assert (tmp_path / "dgs_seed0" / "local_search.json").is_file()
    assert (tmp_path / "tps_seed0" / "local_search.json").is_file()
