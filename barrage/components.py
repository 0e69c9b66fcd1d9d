"""Building the dataset components a config names: the loader and the transformer for a
mode, and the augmentor chain.

Each is resolved through the registry it is given (so its type is checked before it is
constructed) and constructed per the contract plugins rely on:
``Loader(mode=mode, **params)`` and ``Transformer(mode=mode, loader=loader, **params)``.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Dict, List

import attrs
import numpy as np

from barrage.dataset import DataRecord, RecordLoader, RecordMode, RecordTransformer
from barrage.errors import ConfigError
from barrage.registry import Registry


@attrs.frozen
class Augmentor:
    """One step of the augmentation chain: ``function(data_record, **params)``, handed a
    seeded ``rng`` when the function takes one."""

    name: str
    function: Callable[..., DataRecord]
    params: Dict[str, Any]
    wants_rng: bool

    def __call__(self, data_record: DataRecord, rng: np.random.Generator) -> DataRecord:
        if self.wants_rng:
            return self.function(data_record, rng=rng, **self.params)
        return self.function(data_record, **self.params)


def build_loader(config: Dict[str, Any], mode: RecordMode, registry: Registry) -> RecordLoader:
    """The configured loader for ``mode``."""
    block = config["dataset"]["loader"]
    cls = registry.resolve("loader", block["import"]).obj
    return _construct("dataset.loader", cls, mode=mode, **block.get("params", {}))


def build_transformer(
    config: Dict[str, Any], mode: RecordMode, loader: RecordLoader, registry: Registry
) -> RecordTransformer:
    """The configured transformer for ``mode`` (not yet fitted or loaded)."""
    block = config["dataset"]["transformer"]
    cls = registry.resolve("transformer", block["import"]).obj
    return _construct("dataset.transformer", cls, mode=mode, loader=loader, **block.get("params", {}))


def build_augmentors(config: Dict[str, Any], registry: Registry) -> List[Augmentor]:
    """The augmentation chain, in config order."""
    chain = []
    for block in config["dataset"].get("augmentor", []):
        function = registry.resolve("augmentor", block["import"]).obj
        try:
            wants_rng = "rng" in inspect.signature(function).parameters
        except (TypeError, ValueError):
            wants_rng = False
        chain.append(Augmentor(block["import"], function, dict(block.get("params", {})), wants_rng))
    return chain


def _construct(path: str, cls: type, **kwargs: Any) -> Any:
    try:
        return cls(**kwargs)
    except (TypeError, ValueError, KeyError) as exc:
        raise ConfigError([f"{path}.params: {cls.__name__} refused them: {exc}"]) from exc
