"""Barrage: config-driven supervised deep learning on TensorFlow 2 / Keras 3.

The public API. Importing ``barrage`` stays cheap: TensorFlow loads only when a model is
trained or scored (``BarrageModel`` is imported on first access).
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

from barrage.config import ConfigError, prepare_config
from barrage.context import RunContext
from barrage.dataset import (
    DataRecord,
    IdentityTransformer,
    KeySelector,
    Record,
    RecordLoader,
    RecordMode,
    Records,
    RecordScore,
    RecordTransformer,
)
from barrage.errors import ArtifactError, BarrageError, ComponentError, DataError, PluginError
from barrage.hookspecs import hookimpl

try:
    __version__ = metadata.version("barrage")
except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
    __version__ = "0+unknown"

__all__ = [
    "ArtifactError",
    "BarrageError",
    "BarrageModel",
    "ComponentError",
    "ConfigError",
    "DataError",
    "DataRecord",
    "IdentityTransformer",
    "KeySelector",
    "PluginError",
    "Record",
    "RecordLoader",
    "RecordMode",
    "RecordScore",
    "RecordTransformer",
    "Records",
    "RunContext",
    "hookimpl",
    "prepare_config",
    "__version__",
]


def __getattr__(name: str) -> Any:
    if name == "BarrageModel":
        from barrage.engine import BarrageModel

        return BarrageModel
    raise AttributeError(f"module 'barrage' has no attribute {name!r}")
