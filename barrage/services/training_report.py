"""``TrainingReport``: ``training_report.csv``, one row per epoch, rewritten whole and
atomically after every epoch (Keras's ``CSVLogger`` appends in place, which a crash can
leave with half a row)."""

from __future__ import annotations

import csv
from typing import Any, Dict, List, Optional

import keras

from barrage import artifacts


class TrainingReport(keras.callbacks.Callback):
    """``epoch`` then every logged quantity (sorted), one row per finished epoch.

    ``rows`` are the rows of epochs already done when a run is resumed.
    """

    def __init__(self, path: str, rows: Optional[List[Dict[str, str]]] = None):
        super().__init__()
        self.path = path
        self.rows: List[Dict[str, Any]] = list(rows or [])

    def on_epoch_end(self, epoch: int, logs: Optional[Dict[str, Any]] = None) -> None:
        row: Dict[str, Any] = {"epoch": epoch}
        row.update({key: _plain(value) for key, value in (logs or {}).items()})
        self.rows.append(row)
        columns = sorted({key for row in self.rows for key in row} - {"epoch"})
        with artifacts.atomic_writer(self.path, newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=["epoch", *columns], restval="")
            writer.writeheader()
            writer.writerows(self.rows)


def _plain(value: Any) -> Any:
    try:
        return float(value)
    except (TypeError, ValueError):
        return value
