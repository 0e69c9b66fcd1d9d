"""The solver section: the optimizer with its learning rate (a float or a schedule).

The learning-rate reducer of ``solver.learning_rate_reducer`` is a service (a Keras
callback) and is built with the others in :mod:`barrage.services`.
"""

from __future__ import annotations

from typing import Any, Dict

from barrage.errors import ConfigError
from barrage.registry import Registry


def build_learning_rate(config: Dict[str, Any], registry: Registry) -> Any:
    """A float, or a ``keras.optimizers.schedules.LearningRateSchedule`` instance."""
    rate = config["solver"]["optimizer"]["learning_rate"]
    if not isinstance(rate, dict):
        return float(rate)
    cls = registry.resolve("schedule", rate["import"]).obj
    try:
        return cls(**rate.get("params", {}))
    except (TypeError, ValueError) as exc:
        raise ConfigError([f"solver.optimizer.learning_rate.params: {exc}"]) from exc


def build_optimizer(config: Dict[str, Any], registry: Registry) -> Any:
    """The configured optimizer with its learning rate or schedule."""
    block = config["solver"]["optimizer"]
    cls = registry.resolve("optimizer", block["import"]).obj
    try:
        return cls(learning_rate=build_learning_rate(config, registry), **block.get("params", {}))
    except (TypeError, ValueError) as exc:
        raise ConfigError([f"solver.optimizer.params: {exc}"]) from exc
