"""Building the dataset components a config names: the loader and the transformer for a
mode, and the augmentor chain.

Each is resolved through the registry it is given (so its type is checked before it is
constructed) and constructed per the contract plugins rely on:
``Loader(mode=mode, **params)`` and ``Transformer(mode=mode, loader=loader, **params)``.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Dict, List, Mapping, Sequence, Tuple

import attrs
import numpy as np

from barrage.dataset import PART_WORDS, DataRecord, RecordLoader, RecordMode, RecordTransformer
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


def name_problems(
    requires: Mapping[str, Tuple[str, Sequence[str]]], produced: Mapping[str, Sequence[str]], who: str,
    training: bool = True,
) -> List[str]:
    """Names a transformer requires (``{part: (param, names)}``) that the loader does not
    produce (``{part: names}``), as ``dataset.transformer.params.<param>: ...`` problems.
    A part the loader does not produce at all (outputs while scoring) is only a problem
    in ``training``."""
    problems = []
    for part, (param, names) in requires.items():
        if not names:
            continue
        where = f"dataset.transformer.params.{param}: {who} needs {PART_WORDS[part]}(s) {list(names)}"
        if part not in produced:
            if training:
                problems.append(f"{where}, but the loader produces no {PART_WORDS[part]}s")
            continue
        missing = [name for name in names if name not in produced[part]]
        if missing:
            problems.append(
                f"{where}; {missing} are not produced by the loader (its {PART_WORDS[part]}s: {sorted(produced[part])})"
            )
    return problems


def check_components(config: Dict[str, Any], registry: Registry) -> None:
    """Construct the TRAIN loader and transformer (their constructors check their params)
    and cross-check the names they declare with each other and with the config's outputs:
    what ``barrage validate`` can find without data. One ``ConfigError`` lists it all."""
    loader = build_loader(config, RecordMode.TRAIN, registry)
    transformer = build_transformer(config, RecordMode.TRAIN, loader, registry)
    produced = loader.produces()
    if produced is None:
        return
    produced = {part: list(names) for part, names in produced.items() if names}
    who = type(transformer).__name__
    problems = name_problems(transformer.requires(), produced, who)
    outputs = sorted(output["name"] for output in config["model"]["outputs"])
    if "y" in produced and sorted(produced["y"]) != outputs:
        problems.append(
            f"dataset.loader: the loader produces outputs {sorted(produced['y'])} but model.outputs names {outputs}"
        )
    if problems:
        raise ConfigError(problems)


def _construct(path: str, cls: type, **kwargs: Any) -> Any:
    try:
        return cls(**kwargs)
    except (TypeError, ValueError, KeyError) as exc:
        raise ConfigError([f"{path}.params: {cls.__name__} refused them: {exc}"]) from exc
