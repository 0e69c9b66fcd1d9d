"""The run's hyperparameters in TensorBoard's HParams view (with the TensorBoard service).

``hyperparameters`` flattens what a reader compares runs by: the optimizer and its
params, the learning rate (or its schedule and the schedule's params), batch size,
epochs and steps, each output's loss weight, the network builder and its params, and the
transformer's network params. TensorBoard's own Keras callback
(``tensorboard.plugins.hparams.api.KerasCallback``) writes them into the run's
``TensorBoard/`` folder when training starts, and the session's end when it ends; the
HParams view finds the losses and metrics the TensorBoard callback logs beside them.
"""

from __future__ import annotations

import json
from typing import Any, Dict, Mapping, Union

HParamValue = Union[bool, int, float, str]
MAX_TEXT = 250  # a long value (a list of layers) is cut: the HParams table shows one line


def hyperparameters(config: Mapping[str, Any], network_params: Mapping[str, Any]) -> Dict[str, HParamValue]:
    """The hyperparameters of ``config`` (resolved) and the transformer's ``network_params``."""
    solver = config["solver"]
    optimizer = solver["optimizer"]
    values: Dict[str, Any] = {"optimizer": optimizer["import"]}
    values.update(_prefixed("optimizer", optimizer.get("params")))
    rate = optimizer["learning_rate"]
    if isinstance(rate, dict):
        values["learning_rate"] = rate["import"]
        values.update(_prefixed("learning_rate", rate.get("params")))
    else:
        values["learning_rate"] = rate
    values.update({key: solver.get(key) for key in ("batch_size", "epochs", "steps")})
    outputs = config["model"]["outputs"]
    if len(outputs) > 1:
        values.update({f"loss_weight.{o['name']}": o.get("loss_weight") for o in outputs})
    network = config["model"]["network"]
    values["network"] = network["import"]
    values.update(_prefixed("network", network.get("params")))
    values.update(_prefixed("network_params", network_params))
    return {key: _value(value) for key, value in values.items() if value is not None}


def _prefixed(prefix: str, params: Any) -> Dict[str, Any]:
    return {f"{prefix}.{key}": value for key, value in (params or {}).items()}


def _value(value: Any) -> HParamValue:
    """A value the HParams plugin takes: a bool, number or text (anything else as JSON)."""
    if isinstance(value, (bool, int, float, str)):
        return value
    text = json.dumps(value, separators=(",", ":"), default=str)
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 3] + "..."


def hparams_callback(config: Mapping[str, Any], network_params: Mapping[str, Any], log_dir: str) -> Any:
    """TensorBoard's HParams Keras callback for this run, writing into ``log_dir``."""
    from tensorboard.plugins.hparams import api as hp

    return hp.KerasCallback(log_dir, hyperparameters(config, network_params))
