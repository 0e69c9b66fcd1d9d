"""``BatchTracker``: which batch ``fit`` is on, so that an error TensorFlow raises while
training or validating can name the records of the batch it refused."""

from __future__ import annotations

from typing import Any, Dict, Optional

import keras


class BatchTracker(keras.callbacks.Callback):
    """Keeps the phase (``"train"`` or ``"validation"``), epoch and batch in progress."""

    def __init__(self) -> None:
        super().__init__()
        self.phase = "train"
        self.epoch = 0
        self.batch = 0
        self.steps = 0

    def on_train_begin(self, logs: Optional[Dict[str, Any]] = None) -> None:
        self.steps = int((self.params or {}).get("steps") or 0)

    def on_epoch_begin(self, epoch: int, logs: Optional[Dict[str, Any]] = None) -> None:
        self.phase, self.epoch = "train", epoch

    def on_train_batch_begin(self, batch: int, logs: Optional[Dict[str, Any]] = None) -> None:
        self.phase, self.batch = "train", batch

    def on_test_batch_begin(self, batch: int, logs: Optional[Dict[str, Any]] = None) -> None:
        self.phase, self.batch = "validation", batch

    def train_batch_number(self) -> int:
        """The batch in progress counted from the first batch of the first pass."""
        return self.epoch * self.steps + self.batch
