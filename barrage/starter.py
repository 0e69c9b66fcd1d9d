"""``barrage init``: a starter config written from a data file.

The starter config is a working baseline, not a tuned model: every numeric column but
the target (without missing values) becomes one feature of a vector input
``features``, normalised inside the network by a Keras ``Normalization`` layer that holds
the data's mean and variance (so the config needs no plugin and an exported network
normalises by itself); the target becomes a classification output (softmax, sparse
categorical cross-entropy, accuracy) or a regression one (linear, mean squared error,
MAE), chosen from its values; the network is config-only (``sequential_from_config``);
solver and services are Barrage's defaults with a shorter early-stopping patience.

Two plugins are used when they are installed and needed: ``Standardizer`` scales a
regression target (prices in the hundreds of thousands train badly unscaled), and
``CategoricalEncoder`` turns class labels that are not the ids ``0..k-1`` (text, or
codes like ``1, 2, 3``) into ids. Without ``barrage-tabular`` a regression target stays
unscaled and such labels are refused with what to install. Labels that are not all
numbers but partly look like numbers (``"101"`` or ``101`` beside ``"X7"``) are declared
text (``dataset.text_keys``), so that they are read as the same categories in every file
and batch.
"""

from __future__ import annotations

import json
import re
from typing import Any, Dict, List, Optional, Tuple

import attrs
import numpy as np
import pandas as pd

from barrage.artifacts import atomic_writer
from barrage.config.files import is_yaml
from barrage.errors import ComponentError, DataError
from barrage.registry import Registry

TASKS = ("classification", "regression")
MAX_CLASSES = 20  # an integer target with more distinct values is taken as a regression target
INPUT = "features"


@attrs.frozen
class Starter:
    """A starter config and what it was made of (for the command's summary)."""

    config: Dict[str, Any]
    task: str
    features: List[str]
    skipped: Dict[str, str]
    classes: Optional[List[Any]] = None


def starter_config(frame: pd.DataFrame, target: str, registry: Registry, origin: str = "data",
                   task: Optional[str] = None) -> Starter:
    """The starter config for predicting column ``target`` of ``frame`` (see the module
    docstring); ``task`` forces ``"classification"`` or ``"regression"``."""
    if target not in frame.columns:
        raise DataError(f"{origin}: no column '{target}' to predict (columns: {', '.join(map(str, frame.columns))})")
    labels = frame[target]
    if labels.isna().any():
        raise DataError(f"{origin}: record {int(np.argmax(labels.isna().to_numpy()))}: column '{target}' "
                        "is missing; the target must be present in every record")
    features, skipped = feature_columns(frame, target)
    if not features:
        raise DataError(f"{origin}: no numeric column without missing values besides '{target}' to use as a feature"
                        + (f" (skipped: {_listed(skipped)})" if skipped else ""))
    task = task or infer_task(labels)
    if task == "regression" and labels.dtype.kind not in "biuf":
        raise DataError(f"{origin}: column '{target}' holds text, which cannot be a regression target")
    name = output_name(target)
    values = frame[features].to_numpy(dtype=np.float64)
    network = _network(features, name, values)
    output: Dict[str, Any]
    transformer: Optional[Dict[str, Any]] = None
    classes: Optional[List[Any]] = None
    if task == "classification":
        classes = sorted(pd.unique(labels).tolist(), key=lambda v: (isinstance(v, str), v))
        if not classes:
            raise DataError(f"{origin}: no records")
        if len(classes) == 1:  # a classifier of one class learns nothing, and would score 1.0 always
            raise DataError(f"{origin}: column '{target}' holds one class ({classes[0]!r}) in every record; "
                            "a classifier needs at least two (is this the whole data?)")
        output, units, transformer = _classification(name, classes, registry, origin, target)
    else:
        output, units = {"name": name, "loss": {"import": "mse"}, "metrics": [{"import": "mae"}]}, 1
        if _registered(registry, "Standardizer"):
            transformer = {"import": "Standardizer", "params": {"outputs": [name]}}
    network["params"]["layers"].append(_dense(units, "softmax" if task == "classification" else None))
    config = _assemble(features, target, name, network, output, transformer, task)
    if task == "classification" and _text_like_numbers(labels):
        config["dataset"]["text_keys"] = [str(target)]
    return Starter(config, task, features, skipped, classes)


def feature_columns(frame: pd.DataFrame, target: str) -> Tuple[List[str], Dict[str, str]]:
    """The numeric columns without missing or infinite values, and why each other column
    is left out."""
    features, skipped = [], {}
    for column in frame.columns:
        if column == target:
            continue
        values = frame[column]
        if values.dtype.kind not in "biuf":
            skipped[str(column)] = "not numeric"
        elif not np.isfinite(values.to_numpy(dtype=np.float64)).all():
            skipped[str(column)] = "has missing or infinite values"
        else:
            features.append(str(column))
    return features, skipped


def infer_task(labels: pd.Series) -> str:
    """Classification for text or true/false labels and for integers (or integral floats)
    with at most :data:`MAX_CLASSES` distinct values that repeat; else regression."""
    if labels.dtype.kind not in "iuf":
        return "classification"
    values = labels.to_numpy(dtype=np.float64)
    distinct = len(np.unique(values))
    integral = bool(np.all(np.mod(values, 1) == 0))
    return "classification" if integral and distinct <= MAX_CLASSES and distinct < len(values) else "regression"


def _text_like_numbers(labels: pd.Series) -> bool:
    """Whether the labels are not all numbers and some of them read as numbers: codes,
    as text (``"101"`` beside ``"X7"`` in a CSV file) or as numbers (JSON's ``101``)."""
    if labels.dtype.kind in "biufc":
        return False
    texts = labels.dropna().map(str)
    return bool(pd.to_numeric(texts, errors="coerce").notna().any())


def output_name(target: str) -> str:
    """The output's name: the target column's, with characters Keras names avoid as ``_``."""
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", str(target))
    return name if name and name[0].isalpha() else f"target_{name}".rstrip("_")


def _classification(name: str, classes: List[Any], registry: Registry, origin: str,
                    target: str) -> Tuple[Dict[str, Any], Any, Optional[Dict[str, Any]]]:
    """The output block, the last layer's width and the transformer (if labels need ids)."""
    output = {"name": name, "loss": {"import": "sparse_categorical_crossentropy"},
              "metrics": [{"import": "accuracy"}]}
    if not any(isinstance(c, str) for c in classes) and classes == list(range(len(classes))):
        return output, len(classes), None
    if not _registered(registry, "CategoricalEncoder"):
        raise DataError(
            f"{origin}: column '{target}' holds class labels ({_listed(dict.fromkeys(map(str, classes[:5])))}) that "
            "are not the ids 0..k-1; barrage init encodes them with CategoricalEncoder, from barrage-tabular, "
            "which is not installed (pip install barrage-tabular)"
        )
    transformer = {"import": "CategoricalEncoder", "params": {"outputs": [name]}}
    return output, f"{{{{vocab_size_{name}}}}}", transformer


def _network(features: List[str], name: str, values: np.ndarray) -> Dict[str, Any]:
    """``sequential_from_config`` with the data's normalisation and one hidden layer
    (the output layer is added by the caller)."""
    mean = [round(float(v), 6) for v in values.mean(axis=0)]
    variance = [round(float(v), 6) or 1.0 for v in values.var(axis=0)]
    return {
        "import": "sequential_from_config",
        "params": {
            "inputs": {INPUT: [len(features)]},
            "output": name,
            "layers": [
                {"import": "Normalization", "params": {"mean": mean, "variance": variance}},
                _dense(32, "relu"),
            ],
        },
    }


def _dense(units: Any, activation: Optional[str]) -> Dict[str, Any]:
    params: Dict[str, Any] = {"units": units}
    if activation:
        params["activation"] = activation
    return {"import": "Dense", "params": params}


def _assemble(features: List[str], target: str, name: str, network: Dict[str, Any], output: Dict[str, Any],
              transformer: Optional[Dict[str, Any]], task: str) -> Dict[str, Any]:
    dataset: Dict[str, Any] = {
        "loader": {"import": "KeySelector", "params": {"inputs": {INPUT: features}, "outputs": {name: target}}},
    }
    if transformer:
        dataset["transformer"] = transformer
    dataset["seed"] = 1
    best = {"monitor": "val_accuracy", "mode": "max"} if task == "classification" else {"monitor": "val_loss",
                                                                                        "mode": "min"}
    stopping = {"mode": "min", "patience": 5, "min_delta": 1e-4, "verbose": 1}  # says when it stops
    return {
        "dataset": dataset,
        "model": {"network": network, "outputs": [output]},
        "solver": {"optimizer": {"import": "Adam", "learning_rate": 0.01}, "batch_size": 32, "epochs": 50},
        "services": {
            "best_checkpoint": best,
            "tensorboard": {},
            "train_early_stopping": {"monitor": "loss", **stopping},
            "validation_early_stopping": {"monitor": "val_loss", **stopping},
        },
    }


def write_config(path: str, config: Dict[str, Any]) -> None:
    """Write ``config`` to ``path`` atomically: YAML for ``.yaml``/``.yml``, else JSON."""
    with atomic_writer(path) as out:
        if is_yaml(path):
            import yaml

            yaml.safe_dump(config, out, sort_keys=False, default_flow_style=None, width=100)
        else:
            json.dump(config, out, indent=2)
            out.write("\n")


def _registered(registry: Registry, name: str) -> bool:
    try:
        registry.resolve("transformer", name)
    except ComponentError:
        return False
    return True


def _listed(items: Dict[str, Any]) -> str:
    return ", ".join(f"'{key}' ({value})" if value else f"'{key}'" for key, value in items.items())
