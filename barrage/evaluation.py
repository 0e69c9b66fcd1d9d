"""Evaluating a trained model on labelled records: ``barrage evaluate`` and
``BarrageModel.evaluate``.

Records are opened with :func:`barrage.records.open_records` (a file is streamed chunk by
chunk, as scoring reads it) and batched by :func:`barrage.sources.make_batch_source` in
VALIDATION mode, exactly as training's validation data (loader, the fitted transformer's
VALIDATION twin, sample weights): nothing holds every record, nor every prediction.

Two kinds of numbers come back:

- ``keras``: what ``network.evaluate`` returns for the network compiled with the config's
  objective (losses, loss weights, metrics; the loss weighted by the sample weights,
  the metrics as Keras computes them). These are the numbers ``training_report.csv``
  logs for validation.
- per output, from the predictions: for a classification output (a cross-entropy loss)
  the confusion matrix and each class's precision, recall and F1; for a regression
  output (a mean squared, absolute, Huber, ... loss) MAE, RMSE and R². These count each
  value by its sample weight when the loader gives weights (1 otherwise).
"""

from __future__ import annotations

import csv
import math
from typing import Any, Dict, Iterator, List, Optional, Tuple

import numpy as np

from barrage.components import build_loader
from barrage.dataset import RecordMode, RecordTransformer, unstack_data_record
from barrage.model import compile_network, sparse_label_ranges
from barrage.records import RecordsLike, open_records, text_keys_of
from barrage.registry import Registry
from barrage.sources import BatchSource, make_batch_source

EVALUATION_EXTENSIONS = (".json", ".csv")


class Evaluation:
    """The evaluation of one loaded network (see the module docstring)."""

    def __init__(self, config: Dict[str, Any], network: Any, transformer: RecordTransformer, registry: Registry):
        self.config = config
        self.network = network
        self.transformer = transformer
        self.registry = registry

    def source(self, records: RecordsLike, batch_size: Optional[int] = None) -> BatchSource:
        """The VALIDATION batches of ``records`` (the labelled records to evaluate on)."""
        table = open_records(records, "evaluation records", streaming=True, text_keys=text_keys_of(self.config))
        loader = build_loader(self.config, RecordMode.VALIDATION, self.registry)
        return make_batch_source(
            table, mode=RecordMode.VALIDATION, loader=loader,
            transformer=self.transformer.for_mode(RecordMode.VALIDATION, loader),
            batch_size=batch_size or self.config["solver"]["batch_size"], workers=self.config["dataset"].get("workers"),
        )

    def run(self, source: BatchSource) -> Dict[str, Any]:
        """Evaluate on ``source``: Keras's numbers, then each output's own statistics."""
        import tensorflow as tf

        source.require_labels(sparse_label_ranges(self.config, self.network, self.registry))
        compile_network(self.network, self.config, self.registry)
        try:
            results = self.network.evaluate(source.dataset(), return_dict=True, verbose=0)
            tallies, count = self._tallies(source)
        except tf.errors.OpError:
            source.raise_pending()
            raise
        names = [output["name"] for output in self.config["model"]["outputs"]]
        keras_values = {key: float(value) for key, value in results.items()}
        outputs = {}
        for name in names:
            outputs[name] = {**_keras_part(keras_values, name, names), **tallies[name].summary()}
        return {"data": source.origin, "records": count, "keras": keras_values, "outputs": outputs}

    def _tallies(self, source: BatchSource) -> Tuple[Dict[str, "Tally"], int]:
        """One pass over the batches: each output's predictions against its targets, and
        the number of records."""
        tallies = {output["name"]: tally_for(output, self.registry) for output in self.config["model"]["outputs"]}
        in_units = [name for name, tally in tallies.items() if isinstance(tally, RegressionTally)]
        count = 0
        for batch in source.dataset():
            count += len(next(iter(batch[0].values())))
            predictions = {name: np.asarray(value) for name, value in self.network.predict_on_batch(batch[0]).items()}
            targets = {name: np.asarray(value) for name, value in batch[1].items()}
            if in_units:
                predictions.update(self._in_record_units({name: predictions[name] for name in in_units}))
                targets.update(self._in_record_units({name: targets[name] for name in in_units}))
            weights = batch[2] if len(batch) > 2 else {}
            for name, tally in tallies.items():
                weight = np.asarray(weights[name]) if name in weights else None
                tally.add(targets[name], predictions[name], weight)
        return tallies, count

    def _in_record_units(self, values: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        """Batched values of regression outputs in the units of the records: the
        transformer's ``postprocess`` undoes its scaling (a standardised target)."""
        if self.transformer.vectorized:
            restored = self.transformer.postprocess(dict(values))
            return {name: np.asarray(restored[name]) for name in values}
        per_record = [self.transformer.postprocess(score) for score in unstack_data_record(values)]
        return {name: np.stack([np.asarray(score[name]) for score in per_record]) for name in values}


def _keras_part(values: Dict[str, float], name: str, names: List[str]) -> Dict[str, Any]:
    """This output's loss and metrics among Keras's numbers (prefixed by the output's
    name when there are several outputs)."""
    if len(names) == 1:
        return {"loss": values.get("loss"), "metrics": {k: v for k, v in values.items() if k != "loss"}}
    prefix = f"{name}_"
    others = [n for n in names if n != name and n.startswith(name) and len(n) > len(name)]
    mine = {k[len(prefix):]: v for k, v in values.items()
            if k.startswith(prefix) and not any(k.startswith(f"{other}_") for other in others)}
    loss = mine.pop("loss", None)
    return {"loss": loss, "metrics": mine}


# -- what each kind of output is measured by ----------------------------------------


class Tally:
    """Statistics of one output, added to batch by batch."""

    task: Optional[str] = None

    def add(self, targets: np.ndarray, predictions: np.ndarray, weights: Optional[np.ndarray]) -> None:
        """Count one batch (``weights`` per record, or ``None``)."""

    def summary(self) -> Dict[str, Any]:
        """The statistics as plain JSON values."""
        return {"task": self.task}


def _broadcast(weights: Optional[np.ndarray], shape: Tuple[int, ...]) -> np.ndarray:
    """Per-record (or per-step) weights, one per value of ``shape``."""
    if weights is None:
        return np.ones(shape, dtype=np.float64)
    weights = weights.astype(np.float64)
    weights = weights.reshape(weights.shape + (1,) * (len(shape) - weights.ndim))
    return np.broadcast_to(weights, shape)


class ClassificationTally(Tally):
    """A confusion matrix of weighted counts; rows are true classes, columns predicted.

    ``labels``: ``"sparse"`` (class ids, probabilities per class), ``"categorical"``
    (one-hot targets) or ``"binary"`` (0/1 targets, one probability each; ``threshold``
    splits the predictions: 0.5, or 0 for logits)."""

    task = "classification"

    def __init__(self, labels: str, threshold: float = 0.5):
        self.labels = labels
        self.threshold = threshold
        self.matrix: Optional[np.ndarray] = None

    def add(self, targets: np.ndarray, predictions: np.ndarray, weights: Optional[np.ndarray]) -> None:
        if self.labels == "binary":
            classes = 2
            predicted = (predictions > self.threshold).astype(np.int64)
            true = (targets.reshape(predicted.shape) > 0.5).astype(np.int64)
        else:
            classes = predictions.shape[-1]
            predicted = predictions.argmax(axis=-1)
            true = targets.argmax(axis=-1) if self.labels == "categorical" else targets.reshape(predicted.shape)
        if self.matrix is None:
            self.matrix = np.zeros((classes, classes), dtype=np.float64)
        counted = _broadcast(weights, predicted.shape)
        np.add.at(self.matrix, (true.astype(np.int64).ravel(), predicted.ravel()), counted.ravel())

    def summary(self) -> Dict[str, Any]:
        matrix = self.matrix if self.matrix is not None else np.zeros((0, 0))
        total = matrix.sum()
        per_class = []
        for index in range(len(matrix)):
            hit, support, chosen = matrix[index, index], matrix[index].sum(), matrix[:, index].sum()
            precision = _ratio(hit, chosen)
            recall = _ratio(hit, support)
            f1 = None if precision is None or recall is None else _ratio(2 * precision * recall, precision + recall)
            per_class.append({"class": index, "precision": precision, "recall": recall, "f1": f1,
                              "support": _number(support)})
        return {
            "task": self.task, "accuracy": _ratio(np.trace(matrix), total),
            "classes": list(range(len(matrix))),
            "confusion_matrix": [[_number(v) for v in row] for row in matrix], "per_class": per_class,
        }


class RegressionTally(Tally):
    """Weighted sums for MAE, RMSE and R² (``1 - SS_res / SS_tot`` about the weighted
    mean of the targets), over every value of the output."""

    task = "regression"

    def __init__(self) -> None:
        self.sums = np.zeros(5, dtype=np.float64)  # weight, |error|, error², target, target²

    def add(self, targets: np.ndarray, predictions: np.ndarray, weights: Optional[np.ndarray]) -> None:
        predictions = predictions.astype(np.float64)
        targets = targets.astype(np.float64).reshape(predictions.shape)
        weight = _broadcast(weights, predictions.shape)
        error = predictions - targets
        self.sums += [weight.sum(), (weight * np.abs(error)).sum(), (weight * error**2).sum(),
                      (weight * targets).sum(), (weight * targets**2).sum()]

    def summary(self) -> Dict[str, Any]:
        weight, absolute, squared, target, target_squared = self.sums
        if weight <= 0:
            return {"task": self.task, "mae": None, "rmse": None, "r2": None}
        total = target_squared - target**2 / weight
        return {
            "task": self.task,
            "mae": float(absolute / weight),
            "rmse": math.sqrt(squared / weight),
            "r2": None if total <= 0 else float(1.0 - squared / total),
        }


def tally_for(output: Dict[str, Any], registry: Registry) -> Tally:
    """The tally that fits an output block's loss: classification, regression, or none
    (a loss Barrage does not know: only Keras's numbers are reported)."""
    import keras

    losses = keras.losses
    kinds = {
        "sparse": (losses.SparseCategoricalCrossentropy, losses.sparse_categorical_crossentropy),
        "categorical": (losses.CategoricalCrossentropy, losses.categorical_crossentropy,
                        losses.CategoricalFocalCrossentropy, losses.categorical_focal_crossentropy),
        "binary": (losses.BinaryCrossentropy, losses.binary_crossentropy, losses.BinaryFocalCrossentropy,
                   losses.binary_focal_crossentropy),
        "regression": (losses.MeanSquaredError, losses.mean_squared_error, losses.MeanAbsoluteError,
                       losses.mean_absolute_error, losses.Huber, losses.huber, losses.LogCosh, losses.log_cosh,
                       losses.MeanSquaredLogarithmicError, losses.mean_squared_logarithmic_error,
                       losses.MeanAbsolutePercentageError, losses.mean_absolute_percentage_error),
    }
    loss = registry.resolve("loss", output["loss"]["import"]).obj
    for kind, known in kinds.items():
        if any(loss is candidate for candidate in known):
            if kind == "regression":
                return RegressionTally()
            logits = bool((output["loss"].get("params") or {}).get("from_logits"))
            return ClassificationTally(kind, threshold=0.0 if logits else 0.5)
    return Tally()


def _ratio(numerator: float, denominator: float) -> Optional[float]:
    return None if denominator <= 0 else float(numerator / denominator)


def _number(value: float) -> Any:
    """Counts stay integers when they are (no sample weights)."""
    return int(value) if float(value).is_integer() else float(value)


# -- presenting the results -----------------------------------------------------------


def rows(results: Dict[str, Any]) -> Iterator[Tuple[str, str, str, Any]]:
    """``(output, source, quantity, value)`` for every number of ``results``, ``source``
    being ``keras`` (Keras's evaluate) or ``predictions`` (the per-output statistics)."""
    if len(results["outputs"]) > 1:
        yield "", "keras", "loss", results["keras"].get("loss")
    for name, values in results["outputs"].items():
        yield name, "keras", "loss", values.get("loss")
        for metric, value in values.get("metrics", {}).items():
            yield name, "keras", metric, value
        for quantity in ("accuracy", "mae", "rmse", "r2"):
            if quantity in values:
                yield name, "predictions", quantity, values[quantity]
        for entry in values.get("per_class", []):
            for quantity in ("precision", "recall", "f1", "support"):
                yield name, "predictions", f"{quantity}[{entry['class']}]", entry[quantity]
        for true, row in enumerate(values.get("confusion_matrix", [])):
            for predicted, count in enumerate(row):
                yield name, "predictions", f"confusion[{true}][{predicted}]", count


def table(results: Dict[str, Any]) -> str:
    """The results as text: one line per number, then each confusion matrix as a grid."""
    lines = [f"evaluated {results['records']} record(s) of {results['data']}"]
    shown = [("OUTPUT", "SOURCE", "QUANTITY", "VALUE")]
    shown += [(o, s, q, _shown(v)) for o, s, q, v in rows(results) if not q.startswith("confusion[")]
    widths = [max(len(row[column]) for row in shown) for column in range(3)]
    lines.extend("  ".join(cell.ljust(width) for cell, width in zip(row, widths)) + "  " + row[3] for row in shown)
    for name, values in results["outputs"].items():
        matrix = values.get("confusion_matrix")
        if matrix:
            cells = [[_shown(v) for v in row] for row in matrix]
            cell = max(len(str(len(matrix) - 1)), *(len(c) for row in cells for c in row))
            lines.append(f"confusion matrix of '{name}' (rows: true class, columns: predicted class)")
            lines.append(" " * (cell + 2) + " ".join(str(i).rjust(cell) for i in range(len(matrix))))
            lines.extend(
                f"{str(i).rjust(cell)}  " + " ".join(c.rjust(cell) for c in row) for i, row in enumerate(cells)
            )
    return "\n".join(lines)


def _shown(value: Any) -> str:
    if value is None:
        return "-"
    return str(value) if isinstance(value, int) else f"{value:.6g}"


def write_results(results: Dict[str, Any], path: str) -> None:
    """``results`` as JSON, or as CSV rows ``output,source,quantity,value`` for a ``.csv`` path,
    written atomically."""
    import json

    from barrage.artifacts import atomic_writer

    with atomic_writer(path, newline="") as out:
        if path.lower().endswith(".csv"):
            writer = csv.writer(out)
            writer.writerow(["output", "source", "quantity", "value"])
            writer.writerows([o, s, q, "" if v is None else v] for o, s, q, v in rows(results))
        else:
            json.dump(results, out, indent=2)
            out.write("\n")


CHECKPOINT_KEY = "best_checkpoint_sha256"  # in evaluation.json: the weights that were evaluated


def record_results(artifact_dir: str, results: Dict[str, Any]) -> Optional[str]:
    """Keep ``results`` as the artifact directory's ``evaluation.json`` (what ``barrage
    report`` shows); a directory that cannot be written (shared read-only) gets a
    warning instead. Returns the path written, if any."""
    import warnings

    from barrage.artifacts import EVALUATION, ArtifactLayout, write_json
    from barrage.errors import ArtifactError
    from barrage.manifest import best_checkpoint_digest

    path = ArtifactLayout(artifact_dir).path(EVALUATION)
    try:  # with the checkpoint evaluated, so that a report can tell when the run has moved on
        write_json(path, {**results, CHECKPOINT_KEY: best_checkpoint_digest(artifact_dir)})
    except ArtifactError as exc:
        warnings.warn(f"the results are not kept for barrage report: {exc}", stacklevel=2)
        return None
    return path
