"""``LearningRateLogger``: the optimizer's learning rate in every epoch's logs."""

from __future__ import annotations

from typing import Any, Dict, Optional

import keras


class LearningRateLogger(keras.callbacks.Callback):
    """Adds the optimizer's current learning rate to each epoch's logs, schedules
    included, so that ``training_report.csv`` and TensorBoard show it."""

    def on_epoch_end(self, epoch: int, logs: Optional[Dict[str, Any]] = None) -> None:
        if logs is not None and "learning_rate" not in logs:
            rate = self.model.optimizer.learning_rate
            logs["learning_rate"] = float(keras.ops.convert_to_numpy(rate))
