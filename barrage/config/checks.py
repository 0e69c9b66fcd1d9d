"""Checks the schema cannot express: cross-field rules, callback keywords, imports.

Each check takes the defaults-merged config and returns problems as
``"dotted.path: message"``; checks tolerate values of the wrong type (the schema has
already reported those) so that every problem is found in one pass.
"""

from __future__ import annotations

import inspect
import warnings
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple

from barrage.dataset import RecordMode
from barrage.errors import BarrageError
from barrage.registry import Registry
from barrage.services import configurable_services


class BarrageConfigWarning(UserWarning):
    """A config was accepted after an automatic correction (e.g. a monitor's side)."""


def _block(config: Dict[str, Any], *path: str) -> Any:
    value: Any = config
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def check_outputs(config: Dict[str, Any]) -> List[str]:
    """Output names are unique; several outputs each need a ``loss_weight``."""
    outputs = _block(config, "model", "outputs")
    if not isinstance(outputs, list):
        return []
    problems = []
    seen: Dict[str, int] = {}
    for index, output in enumerate(outputs):
        if not isinstance(output, dict):
            continue
        name = output.get("name")
        if isinstance(name, str):
            if name in seen:
                problems.append(f"model.outputs[{index}].name: '{name}' is already used by model.outputs[{seen[name]}]")
            seen.setdefault(name, index)
        if len(outputs) > 1 and output.get("loss_weight") is None:
            problems.append(f"model.outputs[{index}].loss_weight: is required when there are several outputs")
        if output.get("sample_weight_mode") is not None:
            warnings.warn(
                f"model.outputs[{index}].sample_weight_mode is ignored: Keras 3 infers "
                "temporal sample weights from their shape",
                BarrageConfigWarning,
                stacklevel=2,
            )
    return problems


def correct_monitors(config: Dict[str, Any]) -> None:
    """Move each service's monitor to the side it must watch, with a warning."""
    for spec in configurable_services():
        block = spec.block(config)
        if spec.monitor_side is None or not isinstance(block, dict) or not isinstance(block.get("monitor"), str):
            continue
        monitor = block["monitor"]
        validation_side = spec.monitor_side == "validation"
        if validation_side and not monitor.startswith("val_"):
            corrected = "val_" + monitor
        elif not validation_side and monitor.startswith("val_"):
            corrected = monitor[len("val_"):]
        else:
            continue
        warnings.warn(
            f"{spec.path}.monitor: '{monitor}' is not a {spec.monitor_side} quantity; using '{corrected}'",
            BarrageConfigWarning,
            stacklevel=2,
        )
        block["monitor"] = corrected


def check_callback_keywords(config: Dict[str, Any]) -> List[str]:
    """Extra keys of callback blocks must be keyword arguments of their Keras callback."""
    import keras

    problems = []
    for spec in configurable_services():
        block = spec.block(config)
        if not isinstance(block, dict):
            continue
        accepted = set(inspect.signature(getattr(keras.callbacks, spec.keras_class)).parameters) - {"self"}
        for key in block:
            if key in spec.reserved:
                problems.append(f"{spec.path}.{key}: is set by Barrage and cannot be configured")
            elif key not in accepted:
                hint = _close(key, accepted - spec.reserved)
                problems.append(
                    f"{spec.path}.{key}: is not an argument of keras.callbacks.{spec.keras_class}{hint}"
                )
    return problems


def _close(word: str, candidates: Any) -> str:
    import difflib

    matches = difflib.get_close_matches(word, sorted(candidates), n=1, cutoff=0.6)
    return f" (did you mean '{matches[0]}'?)" if matches else ""


# -- resolving imports ----------------------------------------------------------------


def _import_blocks(config: Dict[str, Any]) -> Iterator[Tuple[str, str, Any, Callable[..., Any]]]:
    """Every import block as ``(path, kind, block, binder)``.

    ``binder(obj, params)`` checks the params against how the engine will call the
    component and raises ``TypeError`` with the reason.
    """
    dataset = _block(config, "dataset")
    dataset = dataset if isinstance(dataset, dict) else {}  # a wrong type is a schema problem
    yield "dataset.loader", "loader", dataset.get("loader"), lambda obj, p: inspect.signature(obj).bind(
        mode=RecordMode.TRAIN, **p
    )
    yield "dataset.transformer", "transformer", dataset.get("transformer"), lambda obj, p: inspect.signature(
        obj
    ).bind(mode=RecordMode.TRAIN, loader=None, **p)
    augmentors = dataset.get("augmentor")
    for index, block in enumerate(augmentors if isinstance(augmentors, list) else []):
        yield f"dataset.augmentor[{index}]", "augmentor", block, _bind_after_first
    model = _block(config, "model")
    model = model if isinstance(model, dict) else {}
    yield "model.network", "network", model.get("network"), _bind_partial
    outputs = model.get("outputs")
    for index, output in enumerate(outputs if isinstance(outputs, list) else []):
        if not isinstance(output, dict):
            continue
        yield f"model.outputs[{index}].loss", "loss", output.get("loss"), _bind_partial_if_class
        metrics = output.get("metrics")
        for m_index, block in enumerate(metrics if isinstance(metrics, list) else []):
            yield f"model.outputs[{index}].metrics[{m_index}]", "metric", block, _bind_partial_if_class
    optimizer = _block(config, "solver", "optimizer")
    yield "solver.optimizer", "optimizer", optimizer, _bind_optimizer
    if isinstance(optimizer, dict) and isinstance(optimizer.get("learning_rate"), dict):
        yield "solver.optimizer.learning_rate", "schedule", optimizer["learning_rate"], _bind_schedule


def _bind_partial(obj: Any, params: Dict[str, Any]) -> None:
    inspect.signature(obj).bind_partial(**params)


def _bind_partial_if_class(obj: Any, params: Dict[str, Any]) -> None:
    if inspect.isclass(obj):
        inspect.signature(obj).bind_partial(**params)
    elif params and not isinstance(obj, str):
        inspect.signature(obj).bind_partial(None, None, **params)
    elif params:
        raise TypeError("takes no params")


def _bind_layer(obj: Any, params: Dict[str, Any]) -> None:
    """A layer's params as the layer itself takes them: its own keywords and those
    every Keras layer takes, then, for Keras's own layers (not user code, whose
    constructor may do anything, nor those that load external graphs or code) when no
    value waits for a network param (``{{name}}``) or holds an import block, the layer
    made with them (a misspelt activation, ``units: "four"``), which builds nothing."""
    _bind_partial_if_class(obj, params)
    import keras

    if not (inspect.isclass(obj) and issubclass(obj, keras.layers.Layer)):
        return
    accepted = {"input_dim", "input_shape"}  # popped by keras.layers.Layer
    for cls in obj.__mro__:
        if "__init__" in vars(cls):
            accepted.update(name for name, p in inspect.signature(vars(cls)["__init__"]).parameters.items()
                            if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL))
        if cls is keras.layers.Layer:
            break
    unknown = sorted(set(params) - accepted)
    if unknown:
        raise TypeError(f"got an unexpected keyword argument {unknown[0]!r}")
    if _is_plain_keras_layer(obj) and not _waits_for_something(params):
        try:
            with warnings.catch_warnings():  # Keras's advice comes again when the network is built
                warnings.simplefilter("ignore")
                obj(**params)
        except (TypeError, ValueError) as exc:
            raise TypeError(" ".join(str(exc).split())) from None


def _is_plain_keras_layer(obj: Any) -> bool:
    from barrage.registry.trust import defining_module, unsafe_layer_problem

    return defining_module(obj).partition(".")[0] == "keras" and unsafe_layer_problem(obj) is None


def _waits_for_something(value: Any) -> bool:
    """Whether ``value`` holds a ``{{network param}}`` or an import block."""
    if isinstance(value, str):
        return "{{" in value
    if isinstance(value, dict):
        return "import" in value or any(_waits_for_something(item) for item in value.values())
    if isinstance(value, list):
        return any(_waits_for_something(item) for item in value)
    return False


def _bind_optimizer(obj: Any, params: Dict[str, Any]) -> None:
    """Keras optimizers take ``**kwargs`` only to refuse them at construction; refuse them here."""
    if "learning_rate" in params:
        raise TypeError("'learning_rate' is set by solver.optimizer.learning_rate, not in params")
    signature = inspect.signature(obj)
    signature.bind_partial(learning_rate=0.001, **params)
    if not getattr(obj, "__module__", "").startswith("keras."):
        return
    named = {
        name
        for name, parameter in signature.parameters.items()
        if parameter.kind not in (parameter.VAR_KEYWORD, parameter.VAR_POSITIONAL)
    }
    for key, value in params.items():
        if key not in named:
            raise TypeError(f"got an unexpected keyword argument '{key}'{_close(key, named)}")
        default = signature.parameters[key].default
        if _is_number(default) and isinstance(value, (str, bool)):  # None may mean "off" (Muon's rms_rate)
            # Keras keeps it as given and fails at the first step, far from the config
            got = _got_text(value) or f", got {value!r}"
            raise TypeError(f"'{key}' must be a number (its default is {default}){got}")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _bind_after_first(obj: Any, params: Dict[str, Any]) -> None:
    inspect.signature(obj).bind_partial(None, **params)


def _bind_schedule(obj: Any, params: Dict[str, Any]) -> None:
    inspect.signature(obj).bind(**params)


def resolve_imports(config: Dict[str, Any], registry: Registry) -> List[str]:
    """Resolve every import block in place (adding ``source``/``target``); return problems.

    A component may hold import blocks in its own params (``sequential_from_config``'s
    ``layers``): it says so with a ``component_params`` attribute mapping the param to the
    kind of its blocks (``"layer"``: one block; ``["layer"]``: a list of them), and those
    blocks are resolved here too, with their dotted paths.
    """
    problems: List[str] = []
    blocks = list(_import_blocks(config))
    while blocks:
        path, kind, block, binder = blocks.pop(0)
        resolved = _resolve_block(path, kind, block, binder, registry, problems)
        if resolved is not None:
            blocks.extend(_nested_blocks(path, resolved.obj, block.get("params"), problems))
    return problems


def _resolve_block(
    path: str, kind: str, block: Any, binder: Callable[..., Any], registry: Registry, problems: List[str]
) -> Any:
    problem = _block_shape_problem(block)
    if problem is not None:
        if ".params." in path:  # a block inside a component's params: outside the schema's reach
            problems.append(f"{path}{problem}")
        return None
    params = block.get("params")
    if params is None:
        params = block["params"] = {}
    if not isinstance(params, dict):
        if path == "solver.optimizer.learning_rate" or ".params." in path:  # outside the schema's reach
            problems.append(f"{path}.params: must be of type dict")
        return None
    try:
        resolved = registry.resolve(kind, block["import"])
    except BarrageError as exc:
        problems.append(f"{path}.import: {exc}")
        return None
    block["source"] = str(resolved.component.source)
    block["target"] = resolved.component.target
    problem = _params_problem(binder, resolved.obj, params)
    if problem:
        problems.append(f"{path}.params: {problem}")
    return resolved


def _block_shape_problem(block: Any) -> Optional[str]:
    """What keeps ``block`` from being an import block (a suffix for its path), if anything."""
    if block is None:
        return ": is required"
    if not isinstance(block, dict):
        return ": must be an import block (a mapping with 'import' and 'params')"
    name = block.get("import")
    if name is None:
        return ".import: is required"
    if not isinstance(name, str):
        return ".import: must be of type string"
    return ".import: must not be empty" if not name else None  # a blank one: the registry names it


def _nested_blocks(path: str, obj: Any, params: Any,
                   problems: List[str]) -> Iterator[Tuple[str, str, Any, Callable[..., Any]]]:
    """The import blocks a resolved component declares in its params (``component_params``);
    a param declared a list of blocks that is not a list is a problem."""
    declared = getattr(obj, "component_params", None)
    if not isinstance(declared, dict) or not isinstance(params, dict):
        return
    for param, kind in declared.items():
        value = params.get(param)
        listed = isinstance(kind, list)
        kind = kind[0] if listed else kind
        binder = _bind_layer if kind == "layer" else _bind_partial_if_class
        if isinstance(value, list):
            for index, block in enumerate(value):
                yield f"{path}.params.{param}[{index}]", kind, block, binder
        elif listed and value is not None:  # not even a "{{network param}}": only a block's own params are filled
            problems.append(f"{path}.params.{param}: must be a list of import blocks, got "
                            f"{'one block (put it in a list)' if isinstance(value, dict) else type(value).__name__}")
        elif isinstance(value, dict) or (value is not None and not _waits_for_something(value)):
            # a block, or a value that should be one (a network param "{{name}}" is filled later)
            yield f"{path}.params.{param}", kind, value, binder


def _params_problem(binder: Callable, obj: Any, params: Dict[str, Any]) -> Optional[str]:
    try:
        binder(obj, params)
    except TypeError as exc:
        return f"do not fit {getattr(obj, '__name__', obj)}: {exc}"
    except ValueError:  # no signature available (builtins): nothing to check
        return None
    return None


def check_text_keys(config: Dict[str, Any]) -> List[str]:
    """The ``sample_count`` key counts records: it cannot also be declared text."""
    dataset = config.get("dataset")
    if not isinstance(dataset, dict):
        return []
    count, texts = dataset.get("sample_count"), dataset.get("text_keys")
    if isinstance(count, str) and isinstance(texts, list) and count in texts:
        return [f"dataset.text_keys: '{count}' is dataset.sample_count's key, whose values are numbers (how many "
                "times each record is used); it cannot be read as text"]
    return []


def check_reducer(config: Dict[str, Any]) -> List[str]:
    """A learning-rate reducer lowers the rate: its factor is below 1 (above 1 the schema refuses)."""
    reducer = _block(config, "solver", "learning_rate_reducer")
    factor = reducer.get("factor") if isinstance(reducer, dict) else None
    if isinstance(factor, (int, float)) and not isinstance(factor, bool) and factor == 1:
        return ["solver.learning_rate_reducer.factor: must be below 1 (the learning rate is multiplied by it)"]
    return []


def check_learning_rate(config: Dict[str, Any]) -> List[str]:
    """``learning_rate`` is a positive number or an import block."""
    optimizer = _block(config, "solver", "optimizer")
    if not isinstance(optimizer, dict) or "learning_rate" not in optimizer:
        return []
    rate = optimizer["learning_rate"]
    path = "solver.optimizer.learning_rate"
    if isinstance(rate, bool):
        return [f"{path}: must be a number or an import block"]
    if isinstance(rate, (int, float)):
        return [] if rate > 0 else [f"{path}: must be greater than 0"]
    if isinstance(rate, dict):
        problems = []
        if not isinstance(rate.get("import"), str) or not rate.get("import"):
            problems.append(f"{path}.import: is required")
        unknown = sorted(set(rate) - {"import", "params", "source", "target"})
        problems.extend(f"{path}.{key}: is not a known key" for key in unknown)
        if _block(config, "solver", "learning_rate_reducer"):  # Keras cannot lower a schedule's rate
            problems.append("solver.learning_rate_reducer: cannot lower a learning-rate schedule "
                            f"({path} is one); use a fixed learning rate with the reducer, or drop the reducer")
        return problems
    return [f"{path}: must be a number or an import block{_got_text(rate)}"]


def _got_text(value: Any) -> str:
    """What a text number was; YAML reads ``1e-2`` (no dot) as text: say so."""
    if not isinstance(value, str):
        return ""
    try:
        float(value)
    except ValueError:
        return f", got the text {value!r}"
    return f", got the text {value!r} (in YAML, write 1.0e-2 or 0.01: 1e-2 is read as text)"
