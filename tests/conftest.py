"""Shared fixtures: a clean plugin manager per test, tiny records and configs."""

from __future__ import annotations

import copy
import os
import warnings
from pathlib import Path
from typing import Any, Callable, Dict, List

import numpy as np
import pytest
from fakedist import unique, write_module

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from barrage.runtime import reset_default_runtime  # noqa: E402


@pytest.fixture(autouse=True)
def fresh_plugins(monkeypatch: pytest.MonkeyPatch):
    """Every test starts with no cached plugin manager or registry and no Barrage env flags."""
    flags = ("BARRAGE_STRICT", "BARRAGE_DISABLE_PLUGINS", "BARRAGE_DISABLE_PLUGIN_AUTOLOAD", "BARRAGE_STRICT_PLUGINS")
    for name in flags:
        monkeypatch.delenv(name, raising=False)
    reset_default_runtime()
    yield
    reset_default_runtime()


@pytest.fixture(autouse=True)
def keep_warning_display(monkeypatch: pytest.MonkeyPatch):
    """The CLI routes warnings through click; undo that after each test."""
    monkeypatch.setattr(warnings, "showwarning", warnings.showwarning)


@pytest.fixture
def user_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., str]:
    """Factory: write ``source`` as a module of user code on ``sys.path``; returns its
    (unique) name, so ``sys.modules`` never serves another test's copy."""

    def write(source: str, prefix: str = "user_code") -> str:
        name = unique(prefix)
        write_module(tmp_path, name, source)
        monkeypatch.syspath_prepend(str(tmp_path))
        return name

    return write


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


@pytest.fixture
def records() -> Callable[..., List[Dict[str, Any]]]:
    """Factory for tiny labelled records (see :func:`make_records`)."""
    return make_records


@pytest.fixture
def config() -> Dict[str, Any]:
    """A small valid config (3 features -> 2 classes, 2 epochs); a fresh copy per test."""
    return copy.deepcopy(BASE_CONFIG)
