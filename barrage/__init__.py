"""Barrage: config-driven supervised deep learning on TensorFlow 2 / Keras 3.

The public API: everything of :mod:`barrage.api` (what plugin authors use) plus the
engine's entry points. Importing ``barrage`` stays cheap: TensorFlow loads only when a
model is trained or scored (``BarrageModel`` is imported on first access).
"""

from __future__ import annotations

from importlib import metadata
from typing import Any

from barrage import api
from barrage.api import *  # noqa: F401,F403 - the plugin authors' names are ours too
from barrage.config import prepare_config
from barrage.runtime import Policy, Runtime

try:
    __version__ = metadata.version("barrage")
except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
    __version__ = "0+unknown"

__all__ = [*api.__all__, "BarrageModel", "Policy", "Runtime", "prepare_config", "__version__"]  # noqa: F405


def __getattr__(name: str) -> Any:
    if name == "BarrageModel":
        from barrage.engine import BarrageModel

        return BarrageModel
    raise AttributeError(f"module 'barrage' has no attribute {name!r}")
