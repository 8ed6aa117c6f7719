"""Classification data: CIFAR pickle folders, image folders, npz, halves, augmentation, errors."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from datasets.classify import (
    CIFAR10_MEAN,
    CIFAR10_STD,
    ClassifyDataConfig,
    augment_batch,
    load_classify_split,
    make_loader,
    normalize_batch,
    split_in_halves,
    write_shapes_dataset,
)


def _write_fake_cifar10(root, images_nhwc, labels):
    """The standard python layout: data rows are (3072,) uint8, channel planes R, G, B."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rows = images_nhwc.transpose(0, 3, 1, 2).reshape(len(images_nhwc), -1)
    for i in range(1, 6):
        part = slice((i - 1) * 2, i * 2)
        with open(folder / f"data_batch_{i}", "wb") as f:
            pickle.dump({b"data": rows[part], b"labels": list(labels[part])}, f)
    with open(folder / "test_batch", "wb") as f:
        pickle.dump({b"data": rows[10:], b"labels": list(labels[10:])}, f)
    names = [n.encode() for n in ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                                  "ship", "truck")]
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": names}, f)
    return folder


def test_cifar10_pickle_folder_reads_real_images(tmp_path, shared_data):
    real = np.load(shared_data / "cifar" / "cifar10_test_first20_from_foolbox.npz")
    images, labels = real["images_nhwc_uint8"], real["labels"]
    folder = _write_fake_cifar10(tmp_path, images, labels)
    for root in (tmp_path, folder):  # the folder itself or its parent
        train = load_classify_split(ClassifyDataConfig(dataset="cifar10", data_root=str(root)), "train")
        test = load_classify_split(ClassifyDataConfig(dataset="cifar10", data_root=str(root)), "test")
        assert (len(train), len(test)) == (10, 10)
        assert train.class_names[3] == "cat"
        image, label = test[2]
        assert image.dtype == torch.uint8 and image.shape == (3, 32, 32)
        assert torch.equal(image, torch.from_numpy(images[12]).permute(2, 0, 1))
        assert label == labels[12]


def test_cifar100_pickle_folder(tmp_path):
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name, count in (("train", 6), ("test", 4)):
        with open(folder / name, "wb") as f:
            pickle.dump({b"data": rng.integers(0, 256, (count, 3072), dtype=np.uint8),
                         b"fine_labels": list(range(count)), b"coarse_labels": [0] * count}, f)
    data = load_classify_split(ClassifyDataConfig(dataset="cifar100", data_root=str(tmp_path)), "train")
    assert len(data) == 6 and data.num_classes == 100


def test_missing_cifar_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="cifar-10-batches-py"):
        load_classify_split(ClassifyDataConfig(dataset="cifar10", data_root=str(tmp_path)), "train")


def test_corrupt_cifar_batch_is_a_clear_error(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    for i in range(1, 6):
        (folder / f"data_batch_{i}").write_bytes(b"not a pickle")
    with pytest.raises(ValueError, match="data_batch_1"):
        load_classify_split(ClassifyDataConfig(dataset="cifar10", data_root=str(tmp_path)), "train")


def test_generated_folder_round_trip(tmp_path):
    root = write_shapes_dataset(tmp_path / "shapes", num_classes=3, train_per_class=4, val_per_class=2,
                                image_size=16, seed=1)
    config = ClassifyDataConfig(dataset="folder", data_root=str(root))
    train, test = load_classify_split(config, "train"), load_classify_split(config, "test")
    assert (len(train), len(test)) == (12, 6)
    assert train.class_names == test.class_names == sorted(train.class_names)
    assert sorted(set(train.labels.tolist())) == [0, 1, 2]
    # images are resized to the configured side (default 32)
    assert train[0][0].shape == (3, 32, 32)
    sized_config = ClassifyDataConfig(dataset="folder", data_root=str(root), image_size=16)
    sized = load_classify_split(sized_config, "train")
    assert sized[0][0].shape == (3, 16, 16)
    # same seed -> same files
    again = write_shapes_dataset(tmp_path / "again", num_classes=3, train_per_class=4, val_per_class=2,
                                 image_size=16, seed=1)
    name = "train/checkerboard/0003.png"
    assert (again / name).read_bytes() == (root / name).read_bytes()


def test_flat_folder_uses_a_deterministic_holdout(tmp_path):
    root = write_shapes_dataset(tmp_path / "s", num_classes=2, train_per_class=10, val_per_class=0)
    flat = root / "train"
    config = ClassifyDataConfig(dataset="folder", data_root=str(flat), holdout_every=5)
    train, test = load_classify_split(config, "train"), load_classify_split(config, "test")
    assert (len(train), len(test)) == (16, 4)
    assert not set(map(str, train.files)) & set(map(str, test.files))


def test_npz_folder_of_real_images(shared_data):
    config = ClassifyDataConfig(dataset="npz", data_root=str(shared_data / "cifar"))
    train, test = load_classify_split(config, "train"), load_classify_split(config, "test")
    assert len(train) + len(test) == 40
    assert train.num_classes == test.num_classes
    assert all(":" in name for name in train.class_names)


def test_limit_takes_a_fixed_subset(tmp_path):
    root = write_shapes_dataset(tmp_path / "s", num_classes=2, train_per_class=10, val_per_class=2)
    config = ClassifyDataConfig(dataset="folder", data_root=str(root), limit=7)
    a, b = load_classify_split(config, "train"), load_classify_split(config, "train")
    assert len(a) == 7 and a.files == b.files


LAYOUTS = ["missing", "flat_images", "empty_class", "train_without_val", "one_class"]


@pytest.mark.parametrize("layout", LAYOUTS)
def test_wrong_folder_layout_is_a_clear_error(tmp_path, layout):
    import cv2

    root = tmp_path / "data"
    image = np.zeros((8, 8, 3), np.uint8)
    if layout == "flat_images":
        root.mkdir()
        cv2.imwrite(str(root / "a.png"), image)
    elif layout == "empty_class":
        (root / "cat").mkdir(parents=True)
        (root / "dog").mkdir()
        cv2.imwrite(str(root / "dog" / "a.png"), image)
    elif layout == "train_without_val":
        (root / "train" / "cat").mkdir(parents=True)
        cv2.imwrite(str(root / "train" / "cat" / "a.png"), image)
    elif layout == "one_class":
        (root / "cat").mkdir(parents=True)
        cv2.imwrite(str(root / "cat" / "a.png"), image)
    error = FileNotFoundError if layout == "missing" else ValueError
    with pytest.raises(error) as info:
        load_classify_split(ClassifyDataConfig(dataset="folder", data_root=str(root)), "train")
    message = str(info.value)
    assert str(root) in message and "\n" not in message


def test_unreadable_image_is_a_clear_error(tmp_path):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "x.png").write_bytes(b"garbage")
    data = load_classify_split(ClassifyDataConfig(dataset="folder", data_root=str(tmp_path), holdout_every=2),
                               "train")
    with pytest.raises(ValueError, match="x.png"):
        data[0]


def test_unknown_dataset_name():
    with pytest.raises(ValueError, match="cifar10"):
        ClassifyDataConfig(dataset="mnist")


def test_split_in_halves_is_disjoint_complete_and_deterministic():
    a, b = split_in_halves(11, seed=3)
    assert len(a) == 6 and len(b) == 5
    assert sorted(np.concatenate([a, b]).tolist()) == list(range(11))
    a2, b2 = split_in_halves(11, seed=3)
    assert np.array_equal(a, a2) and np.array_equal(b, b2)
    assert not np.array_equal(a, split_in_halves(11, seed=4)[0])
    with pytest.raises(ValueError):
        split_in_halves(1, seed=0)


def test_loader_order_depends_only_on_seed_and_epoch(tmp_path):
    root = write_shapes_dataset(tmp_path / "s", num_classes=2, train_per_class=6, val_per_class=1)
    data = load_classify_split(ClassifyDataConfig(dataset="folder", data_root=str(root)), "train")

    def labels_of(epoch):
        loader = make_loader(data, batch_size=4, shuffle=True, seed=5)
        loader.sampler.set_epoch(epoch)
        return [tuple(y.tolist()) for _, y in loader]

    assert labels_of(2) == labels_of(2)
    images, labels = next(iter(make_loader(data, batch_size=4, shuffle=False, seed=0)))
    assert images.dtype == torch.uint8 and images.shape == (4, 3, 32, 32) and labels.dtype == torch.int64


def test_normalize_matches_hand_computation():
    images = torch.tensor([0, 255, 51], dtype=torch.uint8).view(1, 3, 1, 1).expand(1, 3, 2, 2)
    out = normalize_batch(images, (0.5, 0.5, 0.2), (0.5, 0.25, 0.1))
    assert torch.allclose(out[0, :, 0, 0], torch.tensor([-1.0, 2.0, 0.0]), atol=1e-6)


def test_augment_crop_is_a_shifted_window_of_the_padded_image():
    torch.manual_seed(0)
    images = torch.randint(1, 256, (16, 3, 8, 8), dtype=torch.uint8)
    out = augment_batch(images, mean=(0, 0, 0), std=(1, 1, 1), crop_padding=2, flip=False)
    padded = torch.nn.functional.pad(images.float() / 255, (2, 2, 2, 2))
    for b in range(16):  # each output equals one of the 25 windows of the padded input
        windows = [padded[b, :, y:y + 8, x:x + 8] for y in range(5) for x in range(5)]
        assert any(torch.allclose(out[b], w) for w in windows)
    assert (out == 0).any()  # some windows include black padding


def test_augment_flip_and_cutout():
    images = torch.arange(4 * 4, dtype=torch.uint8).view(1, 1, 4, 4).expand(64, 3, 4, 4).contiguous() + 1
    out = augment_batch(images, mean=(0, 0, 0), std=(1, 1, 1), crop_padding=0, flip=True,
                        generator=torch.Generator().manual_seed(0))
    plain = images.float() / 255
    flipped = [torch.equal(o, plain[0].flip(-1)) for o in out]
    assert all(torch.equal(o, plain[0]) or f for o, f in zip(out, flipped, strict=True))
    assert 10 < sum(flipped) < 54
    cut = augment_batch(images, mean=(0, 0, 0), std=(1, 1, 1), crop_padding=0, flip=False, cutout_px=2,
                        generator=torch.Generator().manual_seed(0))
    zeros = (cut[:, 0] == 0).sum(dim=(1, 2))
    assert zeros.min() >= 1 and zeros.max() <= 4  # a 2x2 square, clipped at the border
    assert (cut[:, 0] == 0).eq(cut[:, 2] == 0).all()  # the same square on every channel


def test_augment_output_is_normalised_float():
    images = torch.full((2, 3, 32, 32), 128, dtype=torch.uint8)
    out = augment_batch(images, mean=CIFAR10_MEAN, std=CIFAR10_STD, crop_padding=0, flip=True, cutout_px=0)
    expected = (128 / 255 - torch.tensor(CIFAR10_MEAN)) / torch.tensor(CIFAR10_STD)
    assert out.dtype == torch.float32
    assert torch.allclose(out[:, :, 5, 5], expected.expand(2, 3), atol=1e-6)
