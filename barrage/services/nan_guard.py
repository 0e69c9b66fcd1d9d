"""``NanGuard``: stop training when the loss is no longer a number, and say so.

Keras's ``TerminateOnNaN`` stops quietly: ``fit`` returns as if training had finished,
the command exits 0, and the epoch that diverged may still be checkpointed. Here the
same check raises a :class:`~barrage.errors.TrainingError` at once, before any
end-of-epoch callback runs, so the checkpoints keep the last good epoch and the user
gets one clear line.
"""

from __future__ import annotations

import math
from typing import Any, Dict, Optional

import keras

from barrage.errors import TrainingError


class NanGuard(keras.callbacks.TerminateOnNaN):
    """Raises :class:`TrainingError` on a NaN or infinite training loss."""

    def __init__(self) -> None:
        super().__init__()
        self.epoch = 0

    def on_epoch_begin(self, epoch: int, logs: Optional[Dict[str, Any]] = None) -> None:
        self.epoch = epoch

    def on_batch_end(self, batch: int, logs: Optional[Dict[str, Any]] = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            raise TrainingError(
                f"the training loss became {float(loss)} in epoch {self.epoch + 1}, batch {batch + 1}: training "
                "diverged (lower the learning rate, or check the data and the loss); the checkpoints hold the "
                "last complete epoch"
            )
