"""The network and its objective: building, naming, checking and compiling.

The network builder named by ``model.network`` is called with the config's ``params``
plus the transformer's ``network_params`` and must return a functional ``keras.Model``.
Barrage re-wraps it so that it always takes and returns dicts keyed by input and output
names, whatever the structure (single tensor, list or dict) and order the builder used.
"""

from __future__ import annotations

import functools
import inspect
import re
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from barrage.dataset import RecordMode
from barrage.errors import ArtifactError, ConfigError, DataError
from barrage.registry import Registry
from barrage.sources.values import LabelRange

if TYPE_CHECKING:  # pragma: no cover - annotations only
    from barrage.sources import BatchSource

PLACEHOLDER = re.compile(r"\{\{\s*(\w+)\s*\}\}")


# -- the config-only network builder --------------------------------------------------


def sequential_from_config(
    layers: Sequence[Mapping[str, Any]],
    inputs: Optional[Mapping[str, Union[int, Sequence[int], Mapping[str, Any]]]] = None,
    output: Optional[str] = None,
    **network_params: Any,
) -> Any:
    """A stack of layers described in the config, for models that need no Python.

    ``layers`` is a list of layer import blocks applied in order. Any string
    ``"{{name}}"`` in the params is replaced by ``network_params[name]`` (keeping the
    value's type when the placeholder is the whole string). Two forms:

    - ``inputs`` and ``output``: ``inputs`` maps each input name to its shape (or
      ``{"shape": [...], "dtype": ...}``); several inputs are concatenated on their last
      axis; the last layer's result is the output called ``output``.
    - the original Barrage form, ``layers`` only: the first block is an ``Input`` layer
      (its ``name`` names the input, ``shape`` its shape) and the last layer's ``name``
      names the output.

    A shape given as a bare integer means a 1-tuple (``"{{input_dim}}"`` filled with 4 is
    ``(4,)``).
    """
    import keras

    from barrage.runtime import current_runtime

    registry = current_runtime().registry
    stack = [
        (registry.resolve("layer", block["import"]).obj,
         fill_placeholders(dict(block.get("params") or {}), network_params, f"layers[{index}]"))
        for index, block in enumerate(layers)
    ]
    if inputs is None:
        tensors, stack = _input_layer(stack)
    else:
        tensors = {name: _input(name, spec) for name, spec in
                   fill_placeholders(dict(inputs), network_params, "inputs").items()}
    output = output or _last_layer_name(stack)
    values = list(tensors.values())
    hidden = values[0] if len(values) == 1 else keras.layers.Concatenate(axis=-1)(values)
    for cls, params in stack:
        hidden = cls(**params)(hidden)
    return keras.Model(inputs=tensors, outputs={output: hidden})


def _input(name: str, spec: Any) -> Any:
    import keras

    spec = dict(spec) if isinstance(spec, Mapping) else {"shape": spec}
    return keras.Input(shape=_shape(spec["shape"]), dtype=spec.get("dtype"), name=name)


def _shape(shape: Any) -> Tuple[Any, ...]:
    """A shape as a tuple; a bare integer is a 1-tuple."""
    return (shape,) if isinstance(shape, int) and not isinstance(shape, bool) else tuple(shape)


def _input_layer(stack: List[Tuple[Any, Dict[str, Any]]]) -> Tuple[Dict[str, Any], List[Tuple[Any, Dict[str, Any]]]]:
    """The original form: the first layer block is the ``Input``; its tensor and the rest."""
    import keras

    if not stack or not issubclass(stack[0][0], keras.layers.InputLayer):
        raise ValueError("give 'inputs' and 'output', or make the first layer an 'Input' layer (the original form)")
    params = dict(stack[0][1])
    if "shape" not in params:
        raise ValueError("the 'Input' layer needs a 'shape'")
    params["shape"] = _shape(params["shape"])
    name = params.setdefault("name", "input")
    return {name: keras.Input(**params)}, stack[1:]


def _last_layer_name(stack: List[Tuple[Any, Dict[str, Any]]]) -> str:
    name = stack[-1][1].get("name") if stack else None
    if not isinstance(name, str) or not name:
        raise ValueError("give 'output', or a 'name' to the last layer: it names the network's output")
    return name


# Its ``layers`` param holds layer import blocks: the config checks resolve them too.
sequential_from_config.component_params = {"layers": ["layer"]}  # type: ignore[attr-defined]


def fill_placeholders(value: Any, network_params: Mapping[str, Any], where: str) -> Any:
    """Replace ``"{{name}}"`` strings anywhere in ``value`` by ``network_params[name]``."""
    if isinstance(value, Mapping):
        return {k: fill_placeholders(v, network_params, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [fill_placeholders(v, network_params, f"{where}[{i}]") for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value
    missing = [name for name in PLACEHOLDER.findall(value) if name not in network_params]
    if missing:
        raise KeyError(f"{where}: no network param {missing[0]!r} (have: {sorted(network_params)})")
    whole = PLACEHOLDER.fullmatch(value.strip())
    if whole:
        return network_params[whole.group(1)]
    return PLACEHOLDER.sub(lambda m: str(network_params[m.group(1)]), value)


# -- building and checking ------------------------------------------------------------


def build_network(config: Dict[str, Any], network_params: Mapping[str, Any], registry: Registry) -> Any:
    """Call the network builder and return the dict-in, dict-out ``keras.Model``."""
    import keras

    block = config["model"]["network"]
    builder = registry.resolve("network", block["import"]).obj
    params = dict(block.get("params", {}))
    clash = sorted(set(params) & set(network_params))
    if clash:
        raise ConfigError([f"model.network.params: {clash} are also network params from the transformer"])
    import tensorflow as tf

    try:
        network = builder(**params, **network_params)
    except (TypeError, KeyError, ValueError, tf.errors.InvalidArgumentError) as exc:  # the last: layers that meet
        reason = re.sub(r"\{\{function_node [^}]*\}\}\s*", "", " ".join(str(exc).split()))  # TF's op prefix
        raise ConfigError([f"model.network: {block['import']} failed with these params: {reason}"]) from exc
    if not isinstance(network, keras.Model):
        raise ConfigError([f"model.network: {block['import']} returned {type(network).__name__}, not a keras.Model"])
    network = as_named_model(network, block["import"])
    expected = [output["name"] for output in config["model"]["outputs"]]
    actual = output_names(network)
    if sorted(expected) != sorted(actual):
        raise ConfigError(
            [f"model.outputs: names {sorted(expected)} do not match the network's outputs {sorted(actual)}"]
        )
    return network


def as_named_model(network: Any, where: str = "network") -> Any:
    """Wrap a functional model so that it takes and returns dicts keyed by name."""
    import keras

    try:
        inputs, outputs = network.input, network.output
    except (AttributeError, ValueError):
        raise ConfigError([f"model.network: {where} must return a functional keras.Model built from keras.Input"])
    if isinstance(inputs, dict) and isinstance(outputs, dict):
        return network
    named_inputs = inputs if isinstance(inputs, dict) else {t.name: t for t in _as_list(network.inputs)}
    if isinstance(outputs, dict):
        named_outputs = outputs
    else:
        named_outputs = dict(zip(network.output_names, _as_list(network.outputs)))
    return keras.Model(inputs=named_inputs, outputs=named_outputs, name=network.name)


def _as_list(value: Any) -> List[Any]:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def load_weights(network: Any, path: str) -> None:
    """Load a weights file into ``network``; an ``ArtifactError`` naming the file if it
    cannot (damaged, or written for another network)."""
    try:
        network.load_weights(path)
    except Exception as exc:  # h5py and Keras raise many types for a file that does not fit
        raise ArtifactError(f"{path}: cannot be loaded into this network: {type(exc).__name__}: {exc}") from None


def check_against_network(network: Any, source: "BatchSource") -> None:
    """The source's inputs (and, outside SCORE, outputs) are the network's, and each
    input has the per-record shape the network's ``Input`` declares."""
    expected, produced = sorted(network.input), sorted(source.input_names)
    if expected != produced:
        raise ConfigError([f"dataset.loader: the loader produces inputs {produced} but the network expects {expected}"])
    if source.mode is not RecordMode.SCORE:
        outputs, targets = sorted(network.output), sorted(source.output_names)
        if outputs != targets:
            raise ConfigError([f"dataset.loader: the loader produces outputs {targets} but the network has {outputs}"])
    for value in source.spec.values:
        if value.part != "x":
            continue
        declared = tuple(network.input[value.name].shape[1:])
        fits = len(declared) == len(value.shape) and all(d is None or d == s for d, s in zip(declared, value.shape))
        if not fits:
            raise DataError(
                f"{source.origin}: input '{value.name}' has shape {value.shape} per record but the network "
                f"expects {tuple(declared)}"
            )
        wanted = str(network.input[value.name].dtype)
        if value.dtype is None and wanted != "string":
            raise DataError(
                f"{source.origin}: input '{value.name}' holds text but the network expects {wanted} numbers; text "
                "(a key in dataset.text_keys too) needs a transformer that turns it into numbers, such as "
                "CategoricalEncoder, or a network input of dtype 'string'"
            )


def output_names(network: Any) -> List[str]:
    return list(network.output)


# -- the objective --------------------------------------------------------------------


def build_objective(config: Dict[str, Any], registry: Registry) -> Dict[str, Any]:
    """``loss``, ``loss_weights`` and ``metrics`` for ``compile``, keyed by output name."""
    losses, weights, metrics = {}, {}, {}
    for index, output in enumerate(config["model"]["outputs"]):
        name = output["name"]
        losses[name] = instantiate(registry, "loss", output["loss"], f"model.outputs[{index}].loss")
        weights[name] = output.get("loss_weight") if output.get("loss_weight") is not None else 1.0
        metrics[name] = [
            instantiate(registry, "metric", block, f"model.outputs[{index}].metrics[{m}]")
            for m, block in enumerate(output.get("metrics", []))
        ]
    return {"loss": losses, "loss_weights": weights, "metrics": metrics}


def instantiate(registry: Registry, kind: str, block: Mapping[str, Any], path: str) -> Any:
    """A loss or metric object from its import block (classes are called with params).

    A metric named by a string Keras itself understands (``"mae"``, ``"AUC"``), without
    params, is handed to ``compile`` as that string, so it is logged under the name plain
    Keras gives it (``<output>_mae``, as the original Barrage logged it too)."""
    resolved = registry.resolve(kind, block["import"])
    obj = resolved.obj
    params = dict(block.get("params") or {})
    if kind == "metric" and not params and resolved.component.source.kind == "keras":
        if _keras_understands(block["import"]):
            return block["import"]
    try:
        if isinstance(obj, str) or (inspect.isfunction(obj) and not params):
            return obj
        if inspect.isclass(obj):
            return obj(**params)
        bound = functools.partial(obj, **params)
        functools.update_wrapper(bound, obj)
        return bound
    except (TypeError, ValueError) as exc:
        raise ConfigError([f"{path}.params: {exc}"]) from exc


def _keras_understands(metric: str) -> bool:
    import keras

    try:
        keras.metrics.get(metric)
    except (ValueError, TypeError):
        return False
    return True


def sparse_label_ranges(config: Dict[str, Any], network: Any, registry: Registry) -> List[LabelRange]:
    """The outputs trained with a sparse categorical loss: their labels must be class ids
    below the width of the output (checked on the data, naming the record)."""
    import keras

    ranges = []
    for output in config["model"]["outputs"]:
        block = output["loss"]
        loss = registry.resolve("loss", block["import"]).obj
        sparse = loss is keras.losses.sparse_categorical_crossentropy or (
            inspect.isclass(loss) and issubclass(loss, keras.losses.SparseCategoricalCrossentropy)
        )
        width = network.output[output["name"]].shape[-1]
        if sparse and width is not None:
            ranges.append(LabelRange(output["name"], int(width), (block.get("params") or {}).get("ignore_class")))
    return ranges


def compile_network(network: Any, config: Dict[str, Any], registry: Registry) -> List[str]:
    """Compile with the config's objective and the solver's optimizer; returns the
    quantities ``fit`` will log for training (see :func:`logged_quantities`)."""
    from barrage.solver import build_optimizer

    objective = build_objective(config, registry)
    network.compile(optimizer=build_optimizer(config, registry), **objective)
    return logged_quantities(objective, output_names(network))


def logged_quantities(objective: Dict[str, Any], outputs: Sequence[str]) -> List[str]:
    """The names Keras 3 logs for a model compiled with ``objective``, without running it.

    ``loss``; with several outputs also ``<output>_loss`` per output; and each metric by
    the name Keras gives it (the string it was given, else the object's ``name`` or
    function name), prefixed by ``<output>_`` when there are several outputs.
    """
    several = len(outputs) > 1
    names = ["loss"] + ([f"{output}_loss" for output in outputs] if several else [])
    for output in outputs:
        for metric in objective["metrics"].get(output, []):
            name = metric if isinstance(metric, str) else (getattr(metric, "name", None) or metric.__name__)
            names.append(f"{output}_{name}" if several else name)
    return names
