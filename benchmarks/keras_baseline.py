"""The hand-written Keras baseline: what a careful user writes without Barrage.

Same network (dict in, dict out), same optimizer, loss and metric, the same callbacks
Barrage's default services add (best checkpoint, resume checkpoints, TensorBoard, CSV
report, train and validation early stopping, TerminateOnNaN), and a ``tf.data`` input
pipeline from NumPy with shuffle, batch and prefetch. Seeding matches Barrage's seeded
runs (Python, NumPy and TensorFlow seeded, TensorFlow op determinism on).
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Optional

import numpy as np

from barrage.config.schema import DEFAULTS

HIDDEN_UNITS = (64, 64)


def build_network(features: int) -> Any:
    """``features`` floats -> Dense(64, relu) -> Dense(64, relu) -> Dense(1, sigmoid)."""
    import keras

    inputs = keras.Input(shape=(features,), name="features")
    hidden = inputs
    for units in HIDDEN_UNITS:
        hidden = keras.layers.Dense(units, activation="relu")(hidden)
    output = keras.layers.Dense(1, activation="sigmoid")(hidden)
    return keras.Model(inputs={"features": inputs}, outputs={"label": output})


def compile_network(network: Any) -> None:
    """Adam(1e-3), binary cross-entropy and binary accuracy on the ``label`` output."""
    import keras

    network.compile(
        optimizer=keras.optimizers.Adam(learning_rate=1e-3),
        loss={"label": "binary_crossentropy"},
        metrics={"label": ["binary_accuracy"]},
    )


def callbacks(directory: str) -> List[Any]:
    """The callbacks of Barrage's default services, with the same settings."""
    import keras

    services = DEFAULTS["services"]
    return [
        keras.callbacks.BackupAndRestore(backup_dir=os.path.join(directory, "resume_checkpoints")),
        keras.callbacks.ModelCheckpoint(
            filepath=os.path.join(directory, "best_checkpoint", "best.weights.h5"),
            save_best_only=True,
            save_weights_only=True,
            **services["best_checkpoint"],
        ),
        keras.callbacks.CSVLogger(os.path.join(directory, "training_report.csv")),
        keras.callbacks.TensorBoard(log_dir=os.path.join(directory, "TensorBoard")),
        keras.callbacks.EarlyStopping(**services["train_early_stopping"]),
        keras.callbacks.EarlyStopping(**services["validation_early_stopping"]),
        keras.callbacks.TerminateOnNaN(),
    ]


def seed_everything(seed: int) -> None:
    """What a seeded Barrage run does: seed everything, make TensorFlow deterministic."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def datasets(
    x: np.ndarray,
    y: np.ndarray,
    x_validation: np.ndarray,
    y_validation: np.ndarray,
    batch_size: int,
    seed: int,
    shuffle_buffer: Optional[int] = None,
) -> Dict[str, Any]:
    """Training (reshuffled every epoch) and validation (in order) ``tf.data`` pipelines."""
    import tensorflow as tf

    train = (
        tf.data.Dataset.from_tensor_slices(({"features": x}, {"label": y}))
        .shuffle(shuffle_buffer or len(x), seed=seed, reshuffle_each_iteration=True)
        .batch(batch_size)
        .prefetch(tf.data.AUTOTUNE)
    )
    validation = (
        tf.data.Dataset.from_tensor_slices(({"features": x_validation}, {"label": y_validation}))
        .batch(batch_size)
        .prefetch(tf.data.AUTOTUNE)
    )
    return {"train": train, "validation": validation}


def train(
    x: np.ndarray,
    y: np.ndarray,
    x_validation: np.ndarray,
    y_validation: np.ndarray,
    directory: str,
    epochs: int,
    batch_size: int,
    seed: int,
    shuffle_buffer: Optional[int] = None,
) -> Any:
    """Build, compile and fit the baseline; returns the trained network."""
    seed_everything(seed)
    os.makedirs(os.path.join(directory, "best_checkpoint"), exist_ok=True)
    network = build_network(x.shape[1])
    compile_network(network)
    data = datasets(x, y, x_validation, y_validation, batch_size, seed, shuffle_buffer)
    network.fit(
        data["train"],
        validation_data=data["validation"],
        epochs=epochs,
        callbacks=callbacks(directory),
        verbose=0,
    )
    return network


def train_arrays(
    x: np.ndarray,
    y: np.ndarray,
    x_validation: np.ndarray,
    y_validation: np.ndarray,
    directory: str,
    epochs: int,
    batch_size: int,
    seed: int,
) -> Any:
    """The leanest hand-written variant: ``fit`` straight on NumPy arrays (Keras shuffles)."""
    seed_everything(seed)
    os.makedirs(os.path.join(directory, "best_checkpoint"), exist_ok=True)
    network = build_network(x.shape[1])
    compile_network(network)
    network.fit(
        {"features": x},
        {"label": y},
        validation_data=({"features": x_validation}, {"label": y_validation}),
        batch_size=batch_size,
        epochs=epochs,
        shuffle=True,
        callbacks=callbacks(directory),
        verbose=0,
    )
    return network
