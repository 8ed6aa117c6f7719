"""Image-classification data for the search backend: CIFAR-10/100, ImageNet, image folders, npz.

Every dataset yields one sample type, ``(image, label)`` with ``image`` a uint8 tensor of shape
``(3, H, W)`` (RGB) and ``label`` an int. Augmentation and normalisation run afterwards on whole
batches with torch ops (:func:`augment_batch`, :func:`normalize_batch`), so they run on the
device of the batch.

Supported layouts (``ClassifyDataConfig.dataset``):

- ``cifar10`` / ``cifar100``: the standard pickle folders ``cifar-10-batches-py`` and
  ``cifar-100-python`` (``data_root`` is the folder itself or its parent). ``download=True``
  fetches them with torchvision when a network exists.
- ``imagenet``: ``data_root/train/<class>/<image>`` and ``data_root/val/<class>/<image>``.
- ``folder``: ``data_root/<class>/<image>``, or ``data_root/{train,val}/<class>/<image>``; without
  split folders every ``holdout_every``-th image of each class (sorted by name) is the test split.
- ``npz``: a file, or a folder of files, with arrays ``images_nhwc_uint8`` (N, H, W, 3) and
  ``labels`` (N,); classes are (file, label) pairs; test split as for ``folder``.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

DATASETS = ("cifar10", "cifar100", "imagenet", "folder", "npz")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp")
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
CIFAR100_MEAN = (0.5071, 0.4865, 0.4409)
CIFAR100_STD = (0.2673, 0.2564, 0.2762)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
_CIFAR_FOLDERS = {"cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python"}


@dataclass(frozen=True)
class ClassifyDataConfig:
    """Which classification data to read and how.

    Attributes:
        dataset: one of ``cifar10``, ``cifar100``, ``imagenet``, ``folder``, ``npz``.
        data_root: the dataset folder (or npz file).
        image_size: side in pixels images are resized to (folders, ImageNet); CIFAR stays 32.
            0 means the dataset's natural size (32 for CIFAR and npz, 224 for ImageNet,
            32 for folders).
        limit: use at most this many images of each split (a fixed, seeded subset); 0 = all.
        download: fetch CIFAR with torchvision when it is missing (needs a network).
        holdout_every: for ``folder``/``npz`` without split folders, every n-th image of a class
            goes to the test split.
    """

    dataset: str = "cifar10"
    data_root: str = "data"
    image_size: int = 0
    limit: int = 0
    download: bool = False
    holdout_every: int = 5

    def __post_init__(self) -> None:
        if self.dataset not in DATASETS:
            raise ValueError(f"unknown dataset {self.dataset!r}; known: {', '.join(DATASETS)}")
        if self.image_size < 0 or self.limit < 0 or self.holdout_every < 2:
            raise ValueError("image_size and limit must be >= 0 and holdout_every >= 2")

    @property
    def resolved_image_size(self) -> int:
        """The image side in pixels that samples will have."""
        if self.dataset in ("cifar10", "cifar100"):
            return 32
        if self.image_size:
            return self.image_size
        return 224 if self.dataset == "imagenet" else 32

    @property
    def mean_std(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """Per-channel normalisation constants (RGB, on [0, 1] intensities)."""
        if self.dataset == "cifar100":
            return CIFAR100_MEAN, CIFAR100_STD
        if self.dataset == "imagenet":
            return IMAGENET_MEAN, IMAGENET_STD
        return CIFAR10_MEAN, CIFAR10_STD


class ArrayImageDataset(torch.utils.data.Dataset):
    """Images held in memory as one uint8 array (CIFAR, npz).

    Args:
        images: uint8 (N, H, W, 3), RGB.
        labels: int64 (N,), class ids in ``[0, len(class_names))``.
        class_names: the class names, index = class id.
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray, class_names: Sequence[str]) -> None:
        if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
            raise ValueError(f"images must be uint8 (N, H, W, 3), got {images.dtype} {images.shape}")
        if labels.shape != (images.shape[0],):
            raise ValueError(f"labels must have shape ({images.shape[0]},), got {labels.shape}")
        self.images = np.ascontiguousarray(images)
        self.labels = labels.astype(np.int64)
        self.class_names = list(class_names)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return torch.from_numpy(self.images[index]).permute(2, 0, 1).contiguous(), int(self.labels[index])

    def subset(self, indices: np.ndarray) -> ArrayImageDataset:
        return ArrayImageDataset(self.images[indices], self.labels[indices], self.class_names)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


class FileImageDataset(torch.utils.data.Dataset):
    """Images read from files with OpenCV on access and resized to ``image_size`` x ``image_size``.

    Args:
        files: image paths.
        labels: int64 (N,), class ids.
        class_names: the class names, index = class id.
        image_size: output side in pixels (area interpolation).
    """

    def __init__(self, files: Sequence[Path], labels: np.ndarray, class_names: Sequence[str], *,
                 image_size: int) -> None:
        self.files = [Path(f) for f in files]
        self.labels = np.asarray(labels, dtype=np.int64)
        self.class_names = list(class_names)
        self.image_size = image_size

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return torch.from_numpy(read_image(self.files[index], self.image_size)).permute(2, 0, 1), int(
            self.labels[index])

    def subset(self, indices: np.ndarray) -> FileImageDataset:
        return FileImageDataset([self.files[i] for i in indices], self.labels[indices], self.class_names,
                                image_size=self.image_size)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


ClassifyDataset = ArrayImageDataset | FileImageDataset


def read_image(path: Path, image_size: int) -> np.ndarray:
    """Read an image file as uint8 RGB (image_size, image_size, 3); grey images become 3 channels."""
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f"cannot read image file {path} (not an image, or corrupt)")
    image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    if image.shape[:2] != (image_size, image_size):
        image = cv2.resize(image, (image_size, image_size), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(image)


def load_classify_split(config: ClassifyDataConfig, split: str) -> ClassifyDataset:
    """Load the ``train`` or ``test`` split of the configured dataset.

    Raises:
        FileNotFoundError: the data root or an expected file is missing.
        ValueError: a folder with the wrong layout, an unreadable file, an unknown split.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    root = Path(config.data_root).expanduser()
    if config.dataset in _CIFAR_FOLDERS:
        data = _load_cifar(root, config.dataset, split, download=config.download)
    elif config.dataset == "imagenet":
        data = _load_imagenet(root, split, config.resolved_image_size)
    elif config.dataset == "folder":
        data = _load_folder(root, split, config.resolved_image_size, config.holdout_every)
    else:
        data = _load_npz(root, split, config.holdout_every)
    if len(data) == 0:
        raise ValueError(f"the {split} split of {root} is empty")
    if config.limit and config.limit < len(data):
        data = data.subset(limit_indices(len(data), config.limit))
    return data


def limit_indices(num_items: int, limit: int) -> np.ndarray:
    """A fixed (seed 0), sorted subset of ``limit`` indices out of ``num_items``."""
    return np.sort(np.random.default_rng(0).permutation(num_items)[:limit])


def split_in_halves(num_items: int, *, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split ``range(num_items)`` into two disjoint halves for the bi-level search.

    The first half trains the weights, the second the architecture. The split depends only on
    ``num_items`` and ``seed``; with an odd count the second half is one shorter.

    Returns:
        two sorted int64 index arrays of lengths ``ceil(n/2)`` and ``floor(n/2)``.
    """
    if num_items < 2:
        raise ValueError(f"need at least 2 training images to split into halves, got {num_items}")
    order = np.random.default_rng(seed).permutation(num_items)
    half = (num_items + 1) // 2
    return np.sort(order[:half]).astype(np.int64), np.sort(order[half:]).astype(np.int64)


class EpochSampler(torch.utils.data.Sampler[int]):
    """Shuffles a fixed set of indices with a generator seeded by ``(seed, epoch)``.

    The order of an epoch does not depend on what ran before, so a resumed run sees the same
    batches as an uninterrupted one. Call :meth:`set_epoch` before each epoch.
    """

    def __init__(self, indices: Sequence[int] | np.ndarray, *, seed: int, shuffle: bool = True) -> None:
        self.indices = np.asarray(indices, dtype=np.int64)
        self.seed = seed
        self.shuffle = shuffle
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[int]:
        if not self.shuffle:
            return iter(self.indices.tolist())
        order = np.random.default_rng([self.seed, self.epoch]).permutation(len(self.indices))
        return iter(self.indices[order].tolist())

    def __len__(self) -> int:
        return len(self.indices)


def make_loader(dataset: torch.utils.data.Dataset, indices: Sequence[int] | np.ndarray | None = None, *,
                batch_size: int, shuffle: bool, seed: int, drop_last: bool = False,
                num_workers: int = 0) -> torch.utils.data.DataLoader:
    """A DataLoader over ``indices`` of ``dataset`` with an :class:`EpochSampler`.

    Batches are ``(images uint8 (B, 3, H, W), labels int64 (B,))``.
    """
    if indices is None:
        indices = np.arange(len(dataset))
    sampler = EpochSampler(indices, seed=seed, shuffle=shuffle)
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, sampler=sampler, drop_last=drop_last,
                                       num_workers=num_workers, persistent_workers=num_workers > 0)


def normalize_batch(images: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """uint8 (B, 3, H, W) -> float32 (B, 3, H, W), ``(x / 255 - mean) / std`` per channel."""
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"images must be (B, 3, H, W), got {tuple(images.shape)}")
    x = images.float().div_(255.0)
    mean_t = torch.tensor(mean, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    std_t = torch.tensor(std, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return (x - mean_t) / std_t


def augment_batch(images: torch.Tensor, *, mean: Sequence[float], std: Sequence[float], crop_padding: int = 4,
                  flip: bool = True, cutout_px: int = 0, generator: torch.Generator | None = None
                  ) -> torch.Tensor:
    """The standard CIFAR augmentation on a batch, then normalisation.

    Per image: random crop of the original size from the image zero-padded by ``crop_padding``
    pixels (padding is black, as torchvision's ``RandomCrop(padding=4)``), horizontal flip with
    probability 1/2, normalisation, then cutout (DeVries and Taylor 2017: a ``cutout_px`` square
    centred at a uniformly random pixel, clipped at the border, set to 0 after normalisation).

    Args:
        images: uint8 (B, 3, H, W).
        generator: random source on ``images.device``; None uses the global one.

    Returns:
        float32 (B, 3, H, W).
    """
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"images must be (B, 3, H, W), got {tuple(images.shape)}")
    batch, _, height, width = images.shape
    device = images.device
    x = images
    if crop_padding > 0 and batch > 0:
        pad = crop_padding
        padded = torch.nn.functional.pad(x, (pad, pad, pad, pad))
        off_y = torch.randint(0, 2 * pad + 1, (batch,), device=device, generator=generator)
        off_x = torch.randint(0, 2 * pad + 1, (batch,), device=device, generator=generator)
        rows = (off_y[:, None] + torch.arange(height, device=device))[:, None, :, None]  # (B, 1, H, 1)
        cols = (off_x[:, None] + torch.arange(width, device=device))[:, None, None, :]  # (B, 1, 1, W)
        b_idx = torch.arange(batch, device=device)[:, None, None, None]
        c_idx = torch.arange(3, device=device)[None, :, None, None]
        x = padded[b_idx, c_idx, rows, cols]
    if flip and batch > 0:
        do_flip = torch.rand(batch, device=device, generator=generator) < 0.5
        x = torch.where(do_flip[:, None, None, None], x.flip(-1), x)
    x = normalize_batch(x, mean, std)
    if cutout_px > 0 and batch > 0:
        cy = torch.randint(0, height, (batch, 1, 1), device=device, generator=generator)
        cx = torch.randint(0, width, (batch, 1, 1), device=device, generator=generator)
        ys = torch.arange(height, device=device)[None, :, None]
        xs = torch.arange(width, device=device)[None, None, :]
        half = cutout_px // 2
        inside = ((ys >= cy - half) & (ys < cy - half + cutout_px)
                  & (xs >= cx - half) & (xs < cx - half + cutout_px))
        x = x.masked_fill(inside[:, None], 0.0)
    return x


# --------------------------------------------------------------------------- readers


def _load_cifar(root: Path, name: str, split: str, *, download: bool) -> ArrayImageDataset:
    folder_name = _CIFAR_FOLDERS[name]
    folder = root if root.name == folder_name else root / folder_name
    if not folder.is_dir() and download:
        _download_cifar(name, root)
    if not folder.is_dir():
        raise FileNotFoundError(
            f"{name} not found: expected the folder {folder} (the standard python version of the dataset); "
            "pass --download to fetch it with torchvision when a network is available")
    if name == "cifar10":
        files = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
        label_key, meta_file, names_key = b"labels", "batches.meta", b"label_names"
    else:
        files = ["train"] if split == "train" else ["test"]
        label_key, meta_file, names_key = b"fine_labels", "meta", b"fine_label_names"
    images, labels = [], []
    for file_name in files:
        entry = _read_pickle(folder / file_name)
        if b"data" not in entry or label_key not in entry:
            raise ValueError(f"{folder / file_name} is not a {name} batch "
                             f"(no data/{label_key.decode()} keys)")
        data = np.asarray(entry[b"data"], dtype=np.uint8)
        images.append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        labels.append(np.asarray(entry[label_key], dtype=np.int64))
    num_classes = 10 if name == "cifar10" else 100
    class_names = [str(i) for i in range(num_classes)]
    meta_path = folder / meta_file
    if meta_path.is_file():
        meta = _read_pickle(meta_path)
        if names_key in meta:
            class_names = [n.decode() if isinstance(n, bytes) else str(n) for n in meta[names_key]]
    return ArrayImageDataset(np.concatenate(images), np.concatenate(labels), class_names)


def _read_pickle(path: Path) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"missing dataset file {path}")
    try:
        with open(path, "rb") as f:
            entry = pickle.load(f, encoding="bytes")
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, IndexError) as exc:
        raise ValueError(f"{path} is not a readable CIFAR pickle file: {exc}") from exc
    if not isinstance(entry, dict):
        raise ValueError(f"{path} is not a CIFAR pickle file (holds {type(entry).__name__}, not a dict)")
    return entry


def _download_cifar(name: str, root: Path) -> None:
    try:
        import torchvision
    except ImportError as exc:
        raise OSError(f"--download needs torchvision, which is not installed ({exc})") from exc
    cls = torchvision.datasets.CIFAR10 if name == "cifar10" else torchvision.datasets.CIFAR100
    root.mkdir(parents=True, exist_ok=True)
    try:
        cls(str(root), train=True, download=True)
    except Exception as exc:  # noqa: BLE001 - urllib raises many types; report one line
        raise OSError(f"could not download {name} into {root}: {exc}") from exc


def _class_folders(root: Path) -> list[Path]:
    if not root.is_dir():
        raise FileNotFoundError(f"dataset folder not found: {root}")
    classes = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        loose = [p for p in root.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES]
        hint = f" (it holds {len(loose)} loose images)" if loose else ""
        raise ValueError(f"dataset folder {root} has no class subfolders{hint}; "
                         f"expected {root}/<class>/<image>, e.g. {root}/cat/0001.png")
    return classes


def _images_of(folder: Path) -> list[Path]:
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ValueError(f"class folder {folder} has no images ({', '.join(IMAGE_SUFFIXES)})")
    return files


def _scan_tree(root: Path) -> tuple[list[Path], np.ndarray, list[str]]:
    classes = _class_folders(root)
    files: list[Path] = []
    labels: list[int] = []
    for label, folder in enumerate(classes):
        images = _images_of(folder)
        files += images
        labels += [label] * len(images)
    return files, np.asarray(labels, dtype=np.int64), [c.name for c in classes]


def _holdout_mask(labels: np.ndarray, every: int) -> np.ndarray:
    """True for every ``every``-th item (items ordered by class, then file order): the test split.

    Counting runs across classes, so classes with fewer than ``every`` items still contribute.
    """
    mask = np.zeros(len(labels), dtype=bool)
    order = np.argsort(labels, kind="stable")
    mask[order[every - 1::every]] = True
    return mask


def _load_imagenet(root: Path, split: str, image_size: int) -> FileImageDataset:
    if not root.is_dir():
        raise FileNotFoundError(f"dataset folder not found: {root}")
    folder = root / ("train" if split == "train" else "val")
    if not folder.is_dir():
        raise ValueError(f"ImageNet folder {root} has no '{folder.name}' subfolder; "
                         f"expected {root}/train/<class>/<image> and {root}/val/<class>/<image>")
    files, labels, names = _scan_tree(folder)
    if split == "test":
        train_names = [c.name for c in _class_folders(root / "train")] if (root / "train").is_dir() else names
        if names != train_names:
            raise ValueError(f"{folder} and {root / 'train'} have different class folders")
    return FileImageDataset(files, labels, names, image_size=image_size)


def _load_folder(root: Path, split: str, image_size: int, holdout_every: int) -> FileImageDataset:
    if (root / "train").is_dir():
        test_folder = next((root / n for n in ("val", "test") if (root / n).is_dir()), None)
        if test_folder is None:
            raise ValueError(f"dataset folder {root} has a 'train' subfolder but no 'val' or 'test' one")
        files, labels, names = _scan_tree(root / "train")
        if split == "test":
            test_files, test_labels, test_names = _scan_tree(test_folder)
            if test_names != names:
                raise ValueError(f"{test_folder} and {root / 'train'} have different class folders")
            files, labels = test_files, test_labels
        return FileImageDataset(files, labels, names, image_size=image_size)
    files, labels, names = _scan_tree(root)
    if len(names) < 2:
        raise ValueError(f"dataset folder {root} has only one class folder ({names[0]}); need at least 2")
    keep = _holdout_mask(labels, holdout_every)
    if split == "train":
        keep = ~keep
    return FileImageDataset([f for f, k in zip(files, keep, strict=True) if k], labels[keep], names,
                            image_size=image_size)


def _load_npz(root: Path, split: str, holdout_every: int) -> ArrayImageDataset:
    if root.is_file():
        paths = [root]
    elif root.is_dir():
        paths = sorted(root.glob("*.npz"))
        if not paths:
            raise ValueError(f"npz dataset folder {root} holds no .npz files")
    else:
        raise FileNotFoundError(f"npz dataset not found: {root}")
    images, keys = [], []
    for path in paths:
        try:
            with np.load(path, allow_pickle=False) as data:
                if "images_nhwc_uint8" not in data.files or "labels" not in data.files:
                    raise ValueError(f"{path} lacks the arrays 'images_nhwc_uint8' and 'labels' "
                                     f"(it has {', '.join(data.files)})")
                images.append(np.asarray(data["images_nhwc_uint8"], dtype=np.uint8))
                keys += [f"{path.stem}:{int(label)}" for label in data["labels"]]
        except (OSError, EOFError) as exc:
            raise ValueError(f"{path} is not a readable npz file: {exc}") from exc
    class_names = sorted(set(keys), key=lambda k: (k.split(":")[0], int(k.split(":")[1])))
    index = {name: i for i, name in enumerate(class_names)}
    labels = np.asarray([index[k] for k in keys], dtype=np.int64)
    all_images = np.concatenate(images)
    keep = _holdout_mask(labels, holdout_every)
    if split == "train":
        keep = ~keep
    return ArrayImageDataset(all_images[keep], labels[keep], class_names)


# --------------------------------------------------------------------------- generated data

SHAPE_CLASSES = ("horizontal_stripes", "vertical_stripes", "checkerboard", "disc", "diagonal_stripes",
                 "square", "cross", "dots")


def render_shape(kind: str, *, image_size: int, rng: np.random.Generator) -> np.ndarray:
    """One generated image of the class ``kind``: uint8 (image_size, image_size, 3) RGB.

    Random foreground and background colours, random phase, period, size and position, plus
    pixel noise, so the class is the pattern and not the colour.
    """
    size = image_size
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    period = rng.uniform(size / 8, size / 4)
    phase = rng.uniform(0, period)
    cy, cx = rng.uniform(size * 0.3, size * 0.7, size=2)
    radius = rng.uniform(size * 0.18, size * 0.32)
    if kind == "horizontal_stripes":
        mask = ((ys + phase) % period) < period / 2
    elif kind == "vertical_stripes":
        mask = ((xs + phase) % period) < period / 2
    elif kind == "diagonal_stripes":
        mask = ((xs + ys + phase) % period) < period / 2
    elif kind == "checkerboard":
        mask = ((((xs + phase) // (period / 2)) + ((ys + phase) // (period / 2))) % 2) == 0
    elif kind == "disc":
        mask = (ys - cy) ** 2 + (xs - cx) ** 2 < radius**2
    elif kind == "square":
        mask = (np.abs(ys - cy) < radius * 0.9) & (np.abs(xs - cx) < radius * 0.9)
    elif kind == "cross":
        arm = radius * 0.35
        mask = ((np.abs(ys - cy) < arm) & (np.abs(xs - cx) < radius * 1.2)) | (
            (np.abs(xs - cx) < arm) & (np.abs(ys - cy) < radius * 1.2))
    elif kind == "dots":
        mask = (((ys + phase) % period - period / 2) ** 2 + ((xs + phase) % period - period / 2) ** 2
                < (period / 4) ** 2)
    else:
        raise ValueError(f"unknown shape class {kind!r}; known: {', '.join(SHAPE_CLASSES)}")
    foreground = rng.uniform(0, 255, size=3)
    background = rng.uniform(0, 255, size=3)
    while np.abs(foreground - background).sum() < 150:  # keep the pattern visible
        background = rng.uniform(0, 255, size=3)
    image = np.where(mask[..., None], foreground, background) + rng.normal(0, 12, size=(size, size, 3))
    return np.clip(image, 0, 255).astype(np.uint8)


def write_shapes_dataset(root: str | Path, *, num_classes: int = 4, train_per_class: int = 50,
                         val_per_class: int = 10, image_size: int = 32, seed: int = 0) -> Path:
    """Write a small generated image-folder dataset: ``root/{train,val}/<class>/NNNN.png``.

    Each class is a pattern (stripes, checkerboard, disc, ...; see :data:`SHAPE_CLASSES`) in
    random colours, learnable by a tiny network. The same arguments give the same files.

    Returns:
        ``root`` as a Path.
    """
    import cv2

    if not 2 <= num_classes <= len(SHAPE_CLASSES):
        raise ValueError(f"num_classes must be in [2, {len(SHAPE_CLASSES)}], got {num_classes}")
    root = Path(root)
    rng = np.random.default_rng(seed)
    for split, count in (("train", train_per_class), ("val", val_per_class)):
        for kind in SHAPE_CLASSES[:num_classes]:
            folder = root / split / kind
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(count):
                image = render_shape(kind, image_size=image_size, rng=rng)
                path = folder / f"{i:04d}.png"
                tmp = folder / f".{i:04d}.partial.png"
                if not cv2.imwrite(str(tmp), cv2.cvtColor(image, cv2.COLOR_RGB2BGR)):
                    raise OSError(f"could not write {path}")
                tmp.replace(path)
    return root
