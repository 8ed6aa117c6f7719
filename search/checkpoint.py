"""Atomic training checkpoints that hold everything needed to resume a run.

A checkpoint is one ``torch.save`` file with plain containers and tensors only (it loads with
``weights_only=True``)::

    {"format": 1, "code_version": str, "kind": str, "epoch": int, "step": int,
     "config": dict, "genotype": dict | None, "model": state_dict,
     "optimizers": {name: state_dict}, "schedulers": {name: state_dict},
     "rng": {"python": ..., "numpy": ..., "torch": ByteTensor, "cuda": [ByteTensor, ...]},
     "extra": dict}

``epoch`` is the number of finished epochs: a resumed run starts at that epoch. The model is
saved unwrapped (never a DistributedDataParallel or ``torch.compile`` wrapper), so keys carry no
``module.`` or ``_orig_mod.`` prefix.
"""

from __future__ import annotations

import os
import random
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from datasets.atomic import atomic_output

CHECKPOINT_FORMAT = 1


def code_version() -> str:
    """The installed package version, plus the git commit when the source is a git checkout."""
    try:
        from importlib.metadata import version

        text = version("spiking-event-stereo")
    except Exception:  # noqa: BLE001 - not installed: fall back to a marker
        text = "unknown"
    head = Path(__file__).resolve().parent.parent / ".git" / "HEAD"
    try:
        ref = head.read_text().strip()
        if ref.startswith("ref: "):
            ref = (head.parent / ref[5:]).read_text().strip()
        text += f"+g{ref[:10]}"
    except OSError:
        pass
    return text


def unwrap_model(model: torch.nn.Module) -> torch.nn.Module:
    """Strip DistributedDataParallel / DataParallel (``.module``) and compiled (``._orig_mod``) wrappers."""
    while True:
        if isinstance(model, torch.nn.parallel.DistributedDataParallel | torch.nn.DataParallel):
            model = model.module
        elif hasattr(model, "_orig_mod") and isinstance(model._orig_mod, torch.nn.Module):
            model = model._orig_mod
        else:
            return model


def capture_rng_state() -> dict[str, Any]:
    """The Python, NumPy, torch CPU and CUDA random states as plain containers and tensors."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached": float(cached)},
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    return state


def restore_rng_state(state: Mapping[str, Any]) -> None:
    """Inverse of :func:`capture_rng_state`; CUDA states are restored only when CUDA is available."""
    python_state = state["python"]
    random.setstate((python_state[0], tuple(python_state[1]), python_state[2]))
    np_state = state["numpy"]
    np.random.set_state((np_state["kind"], np_state["keys"].numpy().astype(np.uint32), np_state["pos"],
                         np_state["has_gauss"], np_state["cached"]))
    torch.set_rng_state(state["torch"])
    if state.get("cuda") and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: str | os.PathLike, *, model: torch.nn.Module, epoch: int, step: int = 0,
                    config: Mapping[str, Any], genotype: Mapping[str, Any] | None = None,
                    optimizers: Mapping[str, torch.optim.Optimizer] | None = None,
                    schedulers: Mapping[str, Any] | None = None, kind: str = "",
                    extra: Mapping[str, Any] | None = None) -> Path:
    """Write a checkpoint atomically (temporary file next to ``path``, then ``os.replace``).

    Args:
        path: the checkpoint file.
        model: the network (wrappers are stripped before saving).
        epoch: number of finished epochs.
        step: number of finished optimisation steps.
        config: the resolved run configuration (JSON-like values only).
        genotype: the genotype dict the network was built from, if any.
        optimizers, schedulers: by name, saved with their ``state_dict``.
        kind: what made the checkpoint, e.g. ``"search-classify"``; checked on resume.
        extra: anything else to keep (metrics, best accuracy, ...).

    Returns:
        ``path`` as a Path.
    """
    payload = {
        "format": CHECKPOINT_FORMAT,
        "code_version": code_version(),
        "kind": kind,
        "epoch": int(epoch),
        "step": int(step),
        "config": dict(config),
        "genotype": None if genotype is None else dict(genotype),
        "model": unwrap_model(model).state_dict(),
        "optimizers": {name: opt.state_dict() for name, opt in (optimizers or {}).items()},
        "schedulers": {name: sch.state_dict() for name, sch in (schedulers or {}).items()},
        "rng": capture_rng_state(),
        "extra": dict(extra or {}),
    }
    path = Path(path)
    with atomic_output(path) as tmp:
        torch.save(payload, tmp)
    return path


def load_checkpoint(path: str | os.PathLike, *, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: the file is not a checkpoint of this project (or is truncated).
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a folder, not a checkpoint file (a run folder holds best.pt and last.pt)")
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises RuntimeError/UnpicklingError/EOFError/...
        text = str(exc).strip()
        if "Weights only load failed" in text:
            # torch's advice that follows (load it unpickling arbitrary objects) is not for a file we did not write
            detail = "it holds Python objects besides tensors, which this project never saves"
        else:  # torch's own messages run over several lines; the first one names the problem
            detail = f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"
        raise ValueError(f"{path} is not a readable checkpoint ({detail})") from exc
    if not isinstance(payload, dict) or "format" not in payload or "model" not in payload:
        raise ValueError(f"{path} is not a checkpoint written by this project (no 'format'/'model' entries)")
    if payload["format"] > CHECKPOINT_FORMAT:
        raise ValueError(f"{path} has checkpoint format {payload['format']}, newer than this code "
                         f"({CHECKPOINT_FORMAT}); update the package")
    return payload


def config_differences(saved: Mapping[str, Any], current: Mapping[str, Any], *,
                       ignore: Iterable[str] = ()) -> list[str]:
    """Human-readable ``key: saved -> current`` lines for every differing key not in ``ignore``."""
    skip = set(ignore)
    lines = []
    for key in sorted((set(saved) | set(current)) - skip):
        old, new = saved.get(key, "<absent>"), current.get(key, "<absent>")
        if _normalise(old) != _normalise(new):
            lines.append(f"{key}: {old!r} (checkpoint) vs {new!r} (now)")
    return lines


def _normalise(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_normalise(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _normalise(v) for k, v in value.items()}
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return value


def restore_checkpoint(payload: Mapping[str, Any], *, model: torch.nn.Module, config: Mapping[str, Any],
                       genotype: Mapping[str, Any] | None = None,
                       optimizers: Mapping[str, torch.optim.Optimizer] | None = None,
                       schedulers: Mapping[str, Any] | None = None, kind: str = "",
                       ignore_config_keys: Iterable[str] = (), restore_rng: bool = True,
                       source: str = "checkpoint") -> tuple[int, int]:
    """Load a checkpoint's state into a freshly built run after checking it belongs to this run.

    Args:
        payload: the dict from :func:`load_checkpoint`.
        config, genotype, kind: the current run's; a difference refuses the resume.
        ignore_config_keys: config keys allowed to differ (output folder, device, ...).
        source: the checkpoint's name, for messages.

    Returns:
        ``(epoch, step)``: finished epochs and steps; continue from there.

    Raises:
        ValueError: the checkpoint was made with a different config, genotype or kind.
    """
    if kind and payload.get("kind", "") and payload["kind"] != kind:
        raise ValueError(f"cannot resume from {source}: it was made by '{payload['kind']}', not '{kind}'")
    diffs = config_differences(payload["config"], config, ignore=ignore_config_keys)
    if diffs:
        raise ValueError(f"cannot resume from {source}: it was made with a different config ("
                         + "; ".join(diffs) + ")")
    saved_genotype = payload.get("genotype")
    if (genotype is not None and saved_genotype is not None
            and _normalise(saved_genotype) != _normalise(genotype)):
        raise ValueError(f"cannot resume from {source}: it was made with a different genotype")
    unwrap_model(model).load_state_dict(payload["model"])
    for name, opt in (optimizers or {}).items():
        if name not in payload["optimizers"]:
            raise ValueError(f"cannot resume from {source}: it holds no state for optimizer '{name}'")
        opt.load_state_dict(payload["optimizers"][name])
    for name, sch in (schedulers or {}).items():
        if name not in payload["schedulers"]:
            raise ValueError(f"cannot resume from {source}: it holds no state for scheduler '{name}'")
        sch.load_state_dict(payload["schedulers"][name])
    if restore_rng:
        restore_rng_state(payload["rng"])
    return int(payload["epoch"]), int(payload["step"])
