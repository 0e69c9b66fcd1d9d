"""Tiny records and a small config, shared by every test (and by the root conftest's
``records`` and ``config`` fixtures). A plain module, so that module-level code and test
subprocesses can import it too."""

from __future__ import annotations

from typing import Any, Dict, List

import numpy as np


def make_records(count: int = 64, seed: int = 0, features: int = 3) -> List[Dict[str, Any]]:
    """Records ``{"f0".."fN": float, "label": 0/1, "target": float, "weight": float}``.

    ``label`` is 1 when the features sum above zero; ``target`` is their sum.
    """
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(count, features))
    records = []
    for row in values:
        record = {f"f{i}": float(v) for i, v in enumerate(row)}
        record["label"] = int(row.sum() > 0)
        record["target"] = float(row.sum())
        record["weight"] = 1.0
        records.append(record)
    return records


BASE_CONFIG: Dict[str, Any] = {
    "dataset": {
        "loader": {
            "import": "KeySelector",
            "params": {"inputs": {"features": ["f0", "f1", "f2"]}, "outputs": {"label": "label"}},
        },
        "seed": 3,
    },
    "model": {
        "network": {
            "import": "sequential_from_config",
            "params": {
                "inputs": {"features": [3]},
                "output": "label",
                "layers": [
                    {"import": "Dense", "params": {"units": 4, "activation": "relu"}},
                    {"import": "Dense", "params": {"units": 2, "activation": "softmax"}},
                ],
            },
        },
        "outputs": [
            {
                "name": "label",
                "loss": {"import": "sparse_categorical_crossentropy"},
                "metrics": [{"import": "accuracy"}],
            }
        ],
    },
    "solver": {"optimizer": {"import": "Adam", "learning_rate": 0.01}, "batch_size": 16, "epochs": 2},
}
