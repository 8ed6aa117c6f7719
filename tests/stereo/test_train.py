import dataclasses

import pytest
import torch
from tiny_data import random_dot_pair, write_tiny_cache

from search.named_genotypes import get_genotype
from stereo.data import CacheStereoDataset
from stereo.disparity import subpixel_cross_entropy_loss
from stereo.network import SpikingStereoNet, StereoNetConfig
from stereo.refinement import RefinementConfig
from stereo.train import StereoTrainConfig, load_trained_model, resolve_device, train_stereo

TINY_NET = StereoNetConfig(in_channels=2, max_disparity=12, timesteps=2, feature_filter_multiplier=2,
                           matching_filter_multiplier=2)


def _config(tmp_path, cache, **overrides):
    base = dict(train=(str(cache),), val=(str(cache),), out=str(tmp_path / "run"), epochs=2, batch_size=2,
                crop_height=18, crop_width=30, device="cpu", network=TINY_NET)
    return StereoTrainConfig(**{**base, **overrides})


def test_dataset_reads_and_crops(tiny_cache):
    full = CacheStereoDataset([tiny_cache])
    assert len(full) == 3 and full[0].left.shape == (2, 24, 36) and full[0].disparity.shape == (1, 24, 36)
    cropped = CacheStereoDataset([tiny_cache], crop=(10, 12), seed=1)
    assert cropped[1].right.shape == (2, 10, 12)
    assert torch.equal(cropped[1].left, CacheStereoDataset([tiny_cache], crop=(10, 12), seed=1)[1].left)
    assert len(CacheStereoDataset([tiny_cache], frames=[[0, 2]])) == 2
    with pytest.raises(ValueError, match="larger than the frames"):
        CacheStereoDataset([tiny_cache], crop=(100, 12))


def test_train_writes_checkpoints_and_resumes_identically(tmp_path, tiny_cache):
    config = _config(tmp_path, tiny_cache)
    metrics = train_stereo(config)
    assert metrics["epoch"] == 2 and "val/one_pixel_accuracy" in metrics
    assert (tmp_path / "run" / "last.pt").is_file() and (tmp_path / "run" / "log.csv").is_file()

    interrupted = _config(tmp_path, tiny_cache, out=str(tmp_path / "run2"), epochs=1)
    train_stereo(interrupted)
    resumed = train_stereo(dataclasses.replace(interrupted, epochs=2), resume=True)
    assert resumed["train_loss"] == pytest.approx(metrics["train_loss"], rel=1e-5)
    # the resumed log keeps the epoch done before the interruption: one row per epoch, as uninterrupted
    logged = [line.split(",")[0] for line in (tmp_path / "run2" / "log.csv").read_text().splitlines()[1:]]
    assert logged == ["1", "2"]

    model, payload = load_trained_model(tmp_path / "run" / "last.pt")
    assert payload["extra"]["data"]["num_bins"] == 2
    assert model(torch.rand(1, 2, 24, 36), torch.rand(1, 2, 24, 36)).disparity.shape == (1, 1, 24, 36)


def test_existing_run_needs_resume_and_other_settings_are_refused(tmp_path, tiny_cache):
    config = _config(tmp_path, tiny_cache, epochs=1)
    train_stereo(config)
    with pytest.raises(FileExistsError, match="--resume"):
        train_stereo(config)
    with pytest.raises(ValueError, match="different config"):
        train_stereo(dataclasses.replace(config, lr=0.5, epochs=2), resume=True)


def test_run_from_before_a_network_option_existed_resumes(tmp_path, tiny_cache):
    # A checkpoint written before cost_upsampling existed (its default is the old behaviour).
    config = _config(tmp_path, tiny_cache, epochs=1)
    train_stereo(config)
    last = tmp_path / "run" / "last.pt"
    payload = torch.load(last, weights_only=False)
    del payload["config"]["network"]["cost_upsampling"]
    torch.save(payload, last)
    assert train_stereo(dataclasses.replace(config, epochs=2), resume=True)["epoch"] == 2
    # a real difference in the network is still refused
    payload = torch.load(last, weights_only=False)
    payload["config"]["network"]["cost_upsampling"] = "aligned"
    torch.save(payload, last)
    with pytest.raises(ValueError, match="different config"):
        train_stereo(dataclasses.replace(config, epochs=3), resume=True)


def test_fine_tuning_starts_from_the_checkpoint_weights(tmp_path, tiny_cache):
    train_stereo(_config(tmp_path, tiny_cache, epochs=1))
    trained = torch.load(tmp_path / "run" / "last.pt", weights_only=False)["model"]
    # lr 0: Adam leaves the parameters where they started, so they must be the checkpoint's, not a fresh init
    tuned = _config(tmp_path, tiny_cache, out=str(tmp_path / "tuned"), epochs=1, lr=0.0, seed=5,
                    genotype="not-used-when-fine-tuning", init_from=str(tmp_path / "run" / "last.pt"))
    train_stereo(tuned)
    after = torch.load(tmp_path / "tuned" / "last.pt", weights_only=False)
    assert after["genotype"] == torch.load(tmp_path / "run" / "last.pt", weights_only=False)["genotype"]
    params = [k for k in trained if "running" not in k and "num_batches" not in k]
    assert params and all(torch.equal(after["model"][k], trained[k]) for k in params)
    fresh = _config(tmp_path, tiny_cache, out=str(tmp_path / "fresh"), epochs=1, lr=0.0, seed=5)
    train_stereo(fresh)
    fresh_weights = torch.load(tmp_path / "fresh" / "last.pt", weights_only=False)["model"]
    assert not all(torch.equal(fresh_weights[k], trained[k]) for k in params)


def test_deterministic_runs_with_deterministic_algorithms_and_restores_the_setting(tmp_path, tiny_cache, monkeypatch):
    import stereo.train as train

    seen = []

    def record(*args, **kwargs):
        seen.append(torch.are_deterministic_algorithms_enabled())
        return {}

    monkeypatch.setattr(train, "_train", record)
    before = torch.are_deterministic_algorithms_enabled()
    train_stereo(_config(tmp_path, tiny_cache, deterministic=True))
    train_stereo(_config(tmp_path, tiny_cache))
    assert seen == [True, before] and torch.are_deterministic_algorithms_enabled() == before
    monkeypatch.undo()
    # and the real loop runs under it (CPU): the flag is recorded in the run config
    train_stereo(_config(tmp_path, tiny_cache, epochs=1, deterministic=True))
    assert torch.load(tmp_path / "run" / "last.pt", weights_only=False)["config"]["deterministic"] is True


def test_cpu_bf16_runs_the_forward_pass_in_bfloat16_and_is_recorded(tmp_path, tiny_cache, monkeypatch):
    dtypes = []
    forward = SpikingStereoNet.forward

    def spy(self, left, right):
        output = forward(self, left, right)
        if self.training:
            dtypes.append(output.log_probability.dtype)
        return output

    monkeypatch.setattr(SpikingStereoNet, "forward", spy)
    bf16 = train_stereo(_config(tmp_path, tiny_cache, epochs=1, cpu_bf16=True))
    assert dtypes and set(dtypes) == {torch.bfloat16}
    assert torch.isfinite(torch.tensor(bf16["train_loss"])) and "val/one_pixel_accuracy" in bf16
    payload = torch.load(tmp_path / "run" / "last.pt", weights_only=False)
    assert payload["config"]["cpu_bf16"] is True
    assert all(v.dtype == torch.float32 for v in payload["model"].values() if v.is_floating_point())
    # float32 runs neither autocast nor record the key (so runs from before the option resume)
    dtypes.clear()
    train_stereo(_config(tmp_path, tiny_cache, epochs=1, out=str(tmp_path / "fp32")))
    assert set(dtypes) == {torch.float32}
    assert "cpu_bf16" not in torch.load(tmp_path / "fp32" / "last.pt", weights_only=False)["config"]
    # switching precision on resume is a different run
    with pytest.raises(ValueError, match="different config"):
        train_stereo(_config(tmp_path, tiny_cache, epochs=2, out=str(tmp_path / "fp32"), cpu_bf16=True), resume=True)


def test_fine_tuning_refuses_other_network_settings(tmp_path, tiny_cache):
    train_stereo(_config(tmp_path, tiny_cache, epochs=1))
    wider = dataclasses.replace(TINY_NET, feature_filter_multiplier=4)
    with pytest.raises(ValueError, match="feature_filter_multiplier 4 vs 2"):
        train_stereo(_config(tmp_path, tiny_cache, out=str(tmp_path / "t"), network=wider,
                             init_from=str(tmp_path / "run" / "last.pt")))


def test_cache_with_other_channel_count_is_refused(tmp_path):
    cache = write_tiny_cache(tmp_path / "c3.h5", channels=3)
    with pytest.raises(ValueError, match="3 channels but the model expects 2"):
        train_stereo(_config(tmp_path, cache))


def test_cuda_without_gpu_is_a_clear_error():
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(ValueError, match="no CUDA GPU"):
        resolve_device("cuda")


@pytest.mark.parametrize("name", ["tpu", "mps", "cuda:x", ""])
def test_unknown_device_is_a_clear_error(name):
    with pytest.raises(ValueError, match="--device must be auto, cpu, cuda"):
        resolve_device(name)
    assert resolve_device("cpu") == torch.device("cpu")


def test_tiny_network_overfits_one_pair():
    """Sixty steps on one random-dot pair bring the mean disparity error below 0.5 px (from ~3 px)."""
    torch.manual_seed(0)
    left, right, gt = (torch.from_numpy(a) for a in random_dot_pair(height=24, width=36, channels=2, seed=3))
    left, right, gt = left[None], right[None], gt[None, None]
    net = SpikingStereoNet(get_genotype("spikedhs_mvsec"),
                           dataclasses.replace(TINY_NET, feature_filter_multiplier=4, matching_filter_multiplier=4))
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    valid = torch.isfinite(gt)
    for _ in range(60):
        out = net(left, right)
        loss, _ = subpixel_cross_entropy_loss(out.log_probability, gt, max_disparity=12)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    net.eval()
    with torch.no_grad():
        error = (net(left, right).disparity - gt)[valid].abs().mean().item()
    assert error < 0.5, f"mean disparity error after overfitting: {error:.3f} px"


def test_a_refinement_head_is_added_to_a_trained_model_and_trained_alone(tmp_path, tiny_cache):
    train_stereo(_config(tmp_path, tiny_cache, epochs=1))
    trained = torch.load(tmp_path / "run" / "last.pt", weights_only=False)["model"]
    with_head = dataclasses.replace(TINY_NET, refinement=RefinementConfig(channels=4, dilations=(1, 2)))
    tuned = _config(tmp_path, tiny_cache, out=str(tmp_path / "head"), epochs=1, lr=1e-2, network=with_head,
                    init_from=str(tmp_path / "run" / "last.pt"), freeze=("feature", "matching"))
    train_stereo(tuned)
    after = torch.load(tmp_path / "head" / "last.pt", weights_only=False)
    # every weight and batch-norm statistic of the frozen parts is the checkpoint's; the head moved
    assert set(trained) < set(after["model"])
    assert all(torch.equal(after["model"][k], v) for k, v in trained.items())
    assert after["model"]["refine.out.weight"].abs().sum() > 0  # it started at zero
    model, payload = load_trained_model(tmp_path / "head" / "last.pt")
    assert payload["extra"]["network"]["refinement"]["channels"] == 4 and model.refine is not None
    assert payload["config"]["freeze"] == ["feature", "matching"]
    # the run resumes with the same settings
    assert train_stereo(dataclasses.replace(tuned, epochs=2), resume=True)["epoch"] == 2
    # fine-tuning it without its head in the settings is refused (the checkpoint would not load again)
    with pytest.raises(ValueError, match="refinement"):
        train_stereo(_config(tmp_path, tiny_cache, out=str(tmp_path / "t"),
                             init_from=str(tmp_path / "head" / "last.pt")))


def test_freeze_settings_are_checked(tmp_path, tiny_cache):
    with pytest.raises(ValueError, match="unknown part"):
        _config(tmp_path, tiny_cache, freeze=("stem",))
    with pytest.raises(ValueError, match="no refine part"):
        train_stereo(_config(tmp_path, tiny_cache, freeze=("refine",)))
    with pytest.raises(ValueError, match="nothing to train"):
        train_stereo(_config(tmp_path, tiny_cache, freeze=("feature", "matching")))
    from search.local_config import LocalOptions

    with pytest.raises(ValueError, match="--freeze is not supported together with"):
        train_stereo(_config(tmp_path, tiny_cache, freeze=("feature",), local=LocalOptions(tps=True)))
    assert not (tmp_path / "run").exists()
