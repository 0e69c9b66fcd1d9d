"""The services: the Keras callbacks every serious training run gets by default.

- best checkpoint: weights of the best epoch by a validation quantity (``load`` uses them);
- resume checkpoints: ``BackupAndRestore``, so an interrupted run continues where it was;
- TensorBoard logs, ``training_report.csv`` (one row per epoch), train and validation
  early stopping, ``TerminateOnNaN``, the solver's ``ReduceLROnPlateau``;
- plus whatever plugins return from ``barrage_callbacks``.
"""

from __future__ import annotations

from typing import Any, Dict, Iterable, List, Optional

import keras

from barrage.artifacts import ArtifactLayout
from barrage.solver import build_learning_rate_reducer

MONITORED = (
    ("services", "best_checkpoint"),
    ("services", "train_early_stopping"),
    ("services", "validation_early_stopping"),
    ("solver", "learning_rate_reducer"),
)


def build_services(
    config: Dict[str, Any], layout: ArtifactLayout, best_so_far: Optional[float] = None
) -> List[Any]:
    """Barrage's callbacks for one run, in the order they must run.

    ``best_so_far`` is the best monitored value of the epochs already done when resuming,
    so that a resumed run never replaces a better checkpoint with a worse one.
    """
    services = config["services"]
    callbacks: List[Any] = [
        keras.callbacks.BackupAndRestore(backup_dir=layout.resume_dir),
        LearningRateLogger(),
    ]
    best = services.get("best_checkpoint")
    if best:
        callbacks.append(
            keras.callbacks.ModelCheckpoint(
                filepath=layout.best_weights,
                save_best_only=True,
                save_weights_only=True,
                initial_value_threshold=best_so_far,
                **best,
            )
        )
    callbacks.append(keras.callbacks.CSVLogger(layout.report, append=True))
    if services.get("tensorboard") is not None:
        callbacks.append(keras.callbacks.TensorBoard(log_dir=layout.tensorboard_dir, **services["tensorboard"]))
    for name in ("train_early_stopping", "validation_early_stopping"):
        if services.get(name):
            callbacks.append(keras.callbacks.EarlyStopping(**services[name]))
    callbacks.append(keras.callbacks.TerminateOnNaN())
    reducer = build_learning_rate_reducer(config)
    if reducer is not None:
        callbacks.append(reducer)
    return callbacks


class LearningRateLogger(keras.callbacks.Callback):
    """Adds the optimizer's current learning rate to each epoch's logs (and so to
    ``training_report.csv`` and TensorBoard), schedules included."""

    def on_epoch_end(self, epoch: int, logs: Optional[Dict[str, Any]] = None) -> None:
        if logs is not None and "learning_rate" not in logs:
            rate = self.model.optimizer.learning_rate
            logs["learning_rate"] = float(keras.ops.convert_to_numpy(rate))


def monitor_problems(config: Dict[str, Any], logged: Iterable[str]) -> List[str]:
    """Monitors that name a quantity the run will not log, with what it will log."""
    available = set(logged) | {f"val_{key}" for key in logged}
    problems = []
    for section, name in MONITORED:
        block = config[section].get(name)
        if block and block.get("monitor") not in available:
            problems.append(
                f"{section}.{name}.monitor: '{block['monitor']}' is not logged by this model "
                f"(logged: {', '.join(sorted(available))})"
            )
    return problems


def best_monitored(config: Dict[str, Any], rows: List[Dict[str, str]]) -> Optional[float]:
    """The best value of the best checkpoint's monitor over report rows, if any."""
    best = config["services"].get("best_checkpoint")
    if not best:
        return None
    values = [float(row[best["monitor"]]) for row in rows if row.get(best["monitor"]) not in (None, "")]
    if not values:
        return None
    return min(values) if best["mode"] == "min" else max(values)
