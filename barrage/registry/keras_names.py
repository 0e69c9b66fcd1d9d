"""Resolving names in Keras's own namespaces, for the framework kinds.

``"Adam"``, ``"adam"``, ``"mse"``, ``"keras.losses.MeanSquaredError"`` and legacy paths such
as ``"tensorflow.python.keras.optimizer_v2.adam.Adam"`` all resolve to the Keras 3 object.
A legacy TensorFlow path whose last part Keras 3 does not have is an error rather than a
miss, so that it never falls through to importing ``tensorflow.python.keras`` (Keras 2
code that does not work with Keras 3 models).
"""

from __future__ import annotations

import importlib
import inspect
from importlib import metadata
from typing import Any, Dict, Optional, Tuple

from barrage.registry.kinds import Kind

LEGACY_PREFIXES = ("tensorflow.python.keras.", "tensorflow.keras.", "tf.keras.", "keras.")
_TENSORFLOW_PREFIXES = ("tensorflow.", "tf.")
# Public names of the Keras modules that are base classes or helpers, not components.
_NOT_COMPONENTS = frozenset({
    "get", "serialize", "deserialize", "Loss", "Metric", "Optimizer", "Layer", "LearningRateSchedule", "legacy",
    "schedules", "LossScaleOptimizer", "MultiOptimizer", "OptimizerMap", "MeanMetricWrapper",
})

Hit = Tuple[str, Any]  # (target, object)


class LegacyPathError(LookupError):
    """A ``tensorflow.keras...`` path whose last part has no Keras 3 equivalent."""

    def __init__(self, short: str):
        super().__init__(short)
        self.short = short


def keras_version() -> str:
    try:
        return metadata.version("keras")
    except metadata.PackageNotFoundError:  # pragma: no cover - keras is a dependency
        return ""


class KerasNames:
    """The names one framework kind can take from Keras, built on first use."""

    def __init__(self, kind: Kind):
        assert kind.keras_module is not None
        self.kind = kind
        self.module_name: str = kind.keras_module
        self._names: Optional[Dict[str, Hit]] = None

    @property
    def names(self) -> Dict[str, Hit]:
        """Every public name of the Keras module that passes the kind's check, plus aliases."""
        if self._names is None:
            self._names = self._collect()
        return self._names

    def lookup(self, name: str) -> Optional[Hit]:
        """``(target, object)`` for ``name``, ``None`` for a miss.

        Raises :class:`LegacyPathError` for a TensorFlow path with no Keras 3 equivalent.
        """
        short = name.rsplit(".", 1)[-1] if name.startswith(LEGACY_PREFIXES) else name
        hit = self.names.get(short) or self._case_insensitive(short) or self._keras_get(short)
        if hit is None and name.startswith(_TENSORFLOW_PREFIXES):
            raise LegacyPathError(short)
        return hit

    def _case_insensitive(self, short: str) -> Optional[Hit]:
        """Optimizer names are case-insensitive in Keras (``"adam"``, ``"RMSprop"``)."""
        if self.kind.name != "optimizer":
            return None
        lowered = {name.lower(): name for name in self.names}
        original = lowered.get(short.lower())
        return self.names[original] if original else None

    def _collect(self) -> Dict[str, Hit]:
        module = importlib.import_module(self.module_name)
        names: Dict[str, Hit] = {}
        for attr in dir(module):
            if attr.startswith("_") or attr in _NOT_COMPONENTS:
                continue
            obj = getattr(module, attr)
            if self.kind.check(obj) is None:
                names[attr] = (f"{self.module_name}.{attr}", obj)
        for alias in self.kind.compile_aliases:
            names[alias] = (f"keras compile alias '{alias}'", alias)
        for alias in self.kind.keras_aliases:
            hit = self._keras_get(alias)
            if hit is not None:
                names[alias] = hit
        for synonym, keras_name in self.kind.synonyms:
            if keras_name in names:
                names[synonym] = names[keras_name]
        return names

    def _keras_get(self, name: str) -> Optional[Hit]:
        """Ask Keras's own ``get`` about string aliases it knows (``"mse"``): losses and metrics."""
        if self.kind.name not in ("loss", "metric"):
            return None
        module = importlib.import_module(self.module_name)
        try:
            obj = module.get(name)
        except (ValueError, TypeError):
            return None
        if not inspect.isfunction(obj) and not inspect.isclass(obj):
            obj = type(obj)  # Keras builds an instance; the registry hands out classes
        return (f"{self.module_name}.{getattr(obj, '__name__', name)}", obj)
