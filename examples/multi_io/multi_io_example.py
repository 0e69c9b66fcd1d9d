"""User code for the multi-input, multi-output example: a network builder and an augmentor.

Put this folder on ``PYTHONPATH`` so the config's ``multi_io_example.*`` paths resolve.
"""

from typing import Any

import numpy as np


def build_network(signal_length: int, meta_features: int, classes: int, units: int = 32) -> Any:
    """Two named inputs, two named outputs: ``kind`` (classes) and ``size`` (regression)."""
    import keras

    signal = keras.Input((signal_length,), name="signal")
    meta = keras.Input((meta_features,), name="meta")
    hidden = keras.layers.Concatenate()([signal, meta])
    hidden = keras.layers.Dense(units, activation="relu")(hidden)
    hidden = keras.layers.Dense(units, activation="relu")(hidden)
    kind = keras.layers.Dense(classes, activation="softmax", name="kind")(hidden)
    size = keras.layers.Dense(1, name="size")(hidden)
    # A list of outputs, in the opposite order to the config: Barrage matches by name.
    return keras.Model([signal, meta], [size, kind])


def add_noise(data_record: Any, std: float, rng: np.random.Generator) -> Any:
    """Gaussian noise on the signal; ``rng`` comes from Barrage, seeded per record."""
    x = dict(data_record[0])
    x["signal"] = x["signal"] + rng.normal(scale=std, size=np.shape(x["signal"])).astype(np.float32)
    return (x, *data_record[1:])
