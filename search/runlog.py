"""Per-epoch run logs: a CSV file (always) and TensorBoard scalars (when tensorboard is installed)."""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Mapping
from pathlib import Path

from datasets.atomic import atomic_output


class RunLog:
    """Append one row per epoch to ``folder/log.csv`` and mirror it to TensorBoard.

    A key first seen in a later row adds a column (earlier rows get blanks there); a row that
    lacks a column leaves it blank. The file is rewritten atomically each epoch, so it is
    complete and consistent after every row even if the run is killed. When resuming, rows from
    ``start_epoch`` on are dropped first, so a repeated epoch is not logged twice.

    Args:
        folder: the run folder (created if missing).
        start_epoch: the first epoch this process will log (0 for a fresh run).
        tensorboard: also write TensorBoard events to ``folder/tensorboard`` if importable.

    Example:
        >>> import tempfile
        >>> log = RunLog(tempfile.mkdtemp(), tensorboard=False)
        >>> log.log_epoch(0, {"loss": 1.5, "top1": 40.0})
        >>> log.path.read_text().splitlines()
        ['epoch,loss,top1', '0,1.5,40']
    """

    def __init__(self, folder: str | os.PathLike, *, start_epoch: int = 0, tensorboard: bool = True) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / "log.csv"
        self.fieldnames: list[str] = []
        self.rows: list[dict[str, str]] = []
        if self.path.is_file() and start_epoch > 0:
            with open(self.path, newline="") as f:
                reader = csv.DictReader(f)
                self.fieldnames = list(reader.fieldnames or [])
                self.rows = [row for row in reader if _epoch_of(row) < start_epoch]
        self.writer = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # tensorboard is optional
                SummaryWriter = None  # noqa: N806
            if SummaryWriter is not None:
                self.writer = SummaryWriter(log_dir=str(self.folder / "tensorboard"), purge_step=start_epoch)

    def log_epoch(self, epoch: int, metrics: Mapping[str, float | int | str]) -> None:
        """Record ``metrics`` for ``epoch`` and flush both outputs."""
        row = {"epoch": str(epoch), **{k: _format(v) for k, v in metrics.items()}}
        if not self.fieldnames:
            self.fieldnames = list(row)
        self.fieldnames += [k for k in row if k not in self.fieldnames]
        self.rows.append(row)
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=self.fieldnames, restval="", lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        with atomic_output(self.path) as tmp:
            tmp.write_text(buffer.getvalue())
        if self.writer is not None:
            for key, value in metrics.items():
                if isinstance(value, int | float) and math.isfinite(float(value)):
                    self.writer.add_scalar(key, float(value), epoch)
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    def __enter__(self) -> RunLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _format(value: float | int | str) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _epoch_of(row: Mapping[str, str]) -> int:
    try:
        return int(row.get("epoch", ""))
    except ValueError:
        return -1
