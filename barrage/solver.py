"""The solver section: optimizer, learning rate (float or schedule) and LR reducer."""

from __future__ import annotations

from typing import Any, Dict, Optional

from barrage.errors import ConfigError
from barrage.registry import Registry, get_registry


def build_learning_rate(config: Dict[str, Any], registry: Optional[Registry] = None) -> Any:
    """A float, or a ``keras.optimizers.schedules.LearningRateSchedule`` instance."""
    rate = config["solver"]["optimizer"]["learning_rate"]
    if not isinstance(rate, dict):
        return float(rate)
    cls = (registry or get_registry()).resolve("schedule", rate["import"]).obj
    try:
        return cls(**rate.get("params", {}))
    except (TypeError, ValueError) as exc:
        raise ConfigError([f"solver.optimizer.learning_rate.params: {exc}"]) from exc


def build_optimizer(config: Dict[str, Any], registry: Optional[Registry] = None) -> Any:
    """The configured optimizer with its learning rate or schedule."""
    block = config["solver"]["optimizer"]
    cls = (registry or get_registry()).resolve("optimizer", block["import"]).obj
    try:
        return cls(learning_rate=build_learning_rate(config, registry), **block.get("params", {}))
    except (TypeError, ValueError) as exc:
        raise ConfigError([f"solver.optimizer.params: {exc}"]) from exc


def build_learning_rate_reducer(config: Dict[str, Any]) -> Optional[Any]:
    """A ``ReduceLROnPlateau`` callback for ``solver.learning_rate_reducer``, if set."""
    import keras

    block = config["solver"].get("learning_rate_reducer")
    if not block:
        return None
    return keras.callbacks.ReduceLROnPlateau(**block)
