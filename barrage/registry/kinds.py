"""The table of component kinds: one row per kind, everything the registry knows about it.

A row names the kind's entry-point group, the Keras module searched for it (framework
kinds only), the short names Keras understands that are not attributes of that module,
and the type check a resolved object must pass before anything calls it.

Type checks import the contracts (and Keras) only when they run, so reading this table
stays cheap.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Dict, Optional, Tuple

import attrs

from barrage.errors import ComponentError
from barrage.registry.trust import standard_library_problem

TypeCheck = Callable[[Any], Optional[str]]


@attrs.frozen
class Kind:
    """One kind of component.

    Attributes:
        name: the singular name configs and ``registry.register`` use (``"loader"``).
        group: the entry-point group (``"barrage.loaders"``).
        check: returns why an object cannot serve as this kind, or ``None``.
        keras_module: the Keras module searched for this kind, if any.
        keras_aliases: short names Keras's ``get`` knows that are not module attributes.
        compile_aliases: names handed to ``compile`` as strings, because Keras picks the
            right object from the shapes it sees (``"accuracy"``).
        synonyms: other names for Keras objects of this kind, ``(name, Keras name)``:
            ``("Input", "InputLayer")`` lets configs written for the original Barrage
            name their input layer ``Input``.
    """

    name: str
    group: str
    check: TypeCheck
    keras_module: Optional[str] = None
    keras_aliases: Tuple[str, ...] = ()
    compile_aliases: Tuple[str, ...] = ()
    synonyms: Tuple[Tuple[str, str], ...] = ()

    @property
    def in_keras(self) -> bool:
        return self.keras_module is not None


def _subclass_of(base_path: str) -> TypeCheck:
    """A check that ``obj`` is a class derived from the class at ``base_path``."""
    module_name, _, class_name = base_path.rpartition(".")

    def check(obj: Any) -> Optional[str]:
        import importlib

        base = getattr(importlib.import_module(module_name), class_name)
        if inspect.isclass(obj) and issubclass(obj, base):
            return None
        return f"is not a subclass of {base_path}"

    return check


def _function(obj: Any) -> Optional[str]:
    """A plain Python function (augmentors, network builders), not Python's own."""
    problem = standard_library_problem(obj)
    if problem:
        return problem
    if not inspect.isfunction(obj):
        return "is not a function"
    return None


def _class_or_function(base_path: str, words: str, aliases: Tuple[str, ...] = ()) -> TypeCheck:
    """Keras losses and metrics: a subclass of the base, a plain function, or an alias."""
    subclass = _subclass_of(base_path)

    def check(obj: Any) -> Optional[str]:
        if isinstance(obj, str) and obj in aliases:
            return None
        if subclass(obj) is None:
            return None
        if callable(obj) and not inspect.isclass(obj):
            problem = standard_library_problem(obj)
            if problem or inspect.isfunction(obj):
                return problem
        return f"is neither a {base_path} subclass nor a {words} function"

    return check


COMPILE_METRIC_ALIASES = ("accuracy", "acc", "crossentropy", "ce")

KINDS: Dict[str, Kind] = {
    kind.name: kind
    for kind in (
        Kind("loader", "barrage.loaders", _subclass_of("barrage.dataset.RecordLoader")),
        Kind("transformer", "barrage.transformers", _subclass_of("barrage.dataset.RecordTransformer")),
        Kind("augmentor", "barrage.augmentors", _function),
        Kind("network", "barrage.networks", _function),
        Kind("loss", "barrage.losses", _class_or_function("keras.losses.Loss", "loss"),
             keras_module="keras.losses", keras_aliases=("mse", "mae", "mape", "msle", "kld", "logcosh")),
        Kind("metric", "barrage.metrics",
             _class_or_function("keras.metrics.Metric", "metric", COMPILE_METRIC_ALIASES),
             keras_module="keras.metrics", keras_aliases=("mse", "mae", "mape", "msle"),
             compile_aliases=COMPILE_METRIC_ALIASES),
        Kind("optimizer", "barrage.optimizers", _subclass_of("keras.optimizers.Optimizer"),
             keras_module="keras.optimizers"),
        Kind("schedule", "barrage.schedules", _subclass_of("keras.optimizers.schedules.LearningRateSchedule"),
             keras_module="keras.optimizers.schedules"),
        Kind("layer", "barrage.layers", _subclass_of("keras.layers.Layer"), keras_module="keras.layers",
             synonyms=(("Input", "InputLayer"),)),
    )
}
KIND_NAMES: Tuple[str, ...] = tuple(KINDS)


def get_kind(name: str) -> Kind:
    """The row of kind ``name``, or a ``ComponentError`` listing the kinds."""
    kind = KINDS.get(name) if isinstance(name, str) else None
    if kind is None:
        raise ComponentError(f"unknown component kind '{name}' (kinds: {', '.join(KIND_NAMES)})")
    return kind
