"""What barrage-mlflow logs to MLflow, and how a resumed run finds its MLflow run again.

Everything goes through MLflow's public client (``mlflow.MlflowClient``) with explicit
run ids, never MLflow's process-wide "active run", so a run of Barrage inside a program
that has its own active MLflow run leaves that one alone. The tracking store and the
experiment are MLflow's usual settings: ``MLFLOW_TRACKING_URI`` (MLflow's local default
when unset), ``MLFLOW_EXPERIMENT_NAME`` (created if missing) or ``MLFLOW_EXPERIMENT_ID``,
else MLflow's default experiment.

A training run writes ``mlflow_run.json`` into its artifact directory (the run id, the
experiment and the tracking URI); ``train(..., resume=True)`` reads it and continues that
MLflow run. Importing this module imports MLflow, not TensorFlow.
"""

from __future__ import annotations

import json
import os
import re
import time
from typing import Any, Dict, Iterator, List, Mapping, Optional

import click
import mlflow
from mlflow import MlflowClient
from mlflow.entities import Metric, Param, RunStatus
from mlflow.environment_variables import MLFLOW_EXPERIMENT_ID, MLFLOW_EXPERIMENT_NAME
from mlflow.exceptions import MlflowException

import barrage
from barrage.api import ArtifactError, RunContext
from barrage.plugin_kit import load_state, save_state

RUN_FILE = "mlflow_run.json"
RUN_FILE_KEYS = ("run_id", "experiment_id", "tracking_uri")
# The artifact directory's files and folders worth keeping with the MLflow run: together
# they are a loadable artifact directory (``barrage score`` works on a downloaded copy).
ARTIFACT_FILES = ("config.json", "network_params.json", "environment.json", "manifest.json", "training_report.csv")
ARTIFACT_FOLDERS = ("best_checkpoint", "dataset")
PARAMS_PER_CALL = 100  # MLflow accepts at most 100 params in one log_batch call
PARAM_VALUE_LIMIT = 6000  # MLflow's longest param value
TAG_PREFIX = "barrage."
DEFAULT_EXPERIMENT_ID = "0"  # MLflow's "Default" experiment, present in every tracking store
_KEY_CHARACTERS = re.compile(r"[^\w./\- ]")  # what MLflow allows in param, metric and tag names


# -- what is logged -------------------------------------------------------------------


def flatten_config(config: Mapping[str, Any]) -> Dict[str, str]:
    """The resolved config as MLflow params: one per leaf, named by its dotted path.

    Mappings and lists holding mappings are walked (list positions become path parts:
    ``model.outputs.0.loss.import``); other lists and every scalar are written as JSON
    (strings as they are). An empty mapping is kept as ``{}`` (``services.tensorboard``
    switched on with its defaults). Components' ``source`` and ``target`` are not params
    but tags (:func:`component_sources`).
    """
    return dict(_leaves(config, ""))


def _leaves(value: Any, path: str) -> Iterator[tuple]:
    if isinstance(value, Mapping) and value:
        for key, item in value.items():
            if key in ("source", "target") and "import" in value:
                continue
            yield from _leaves(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list) and any(isinstance(item, (Mapping, list)) for item in value):
        for index, item in enumerate(value):
            yield from _leaves(item, f"{path}.{index}")
    else:
        text = value if isinstance(value, str) else json.dumps(value)
        yield mlflow_key(path), text[:PARAM_VALUE_LIMIT]


def component_sources(config: Mapping[str, Any], path: str = "") -> Dict[str, str]:
    """``{"dataset.loader": "barrage 1.0.0", ...}``: every resolved import block's source."""
    found: Dict[str, str] = {}
    if isinstance(config, Mapping):
        if "import" in config and "source" in config:
            found[path] = str(config["source"])
        for key, item in config.items():
            found.update(component_sources(item, f"{path}.{key}" if path else str(key)))
    elif isinstance(config, list):
        for index, item in enumerate(config):
            found.update(component_sources(item, f"{path}.{index}"))
    return found


def mlflow_key(path: str) -> str:
    """``path`` with every character MLflow refuses in a name replaced by ``_``."""
    return _KEY_CHARACTERS.sub("_", path)


def run_tags(context: RunContext, mode: str) -> Dict[str, str]:
    """The tags of a run: Barrage's version, the mode, the artifact directory, and the
    source of every component (``barrage.source.dataset.loader``)."""
    tags = {
        f"{TAG_PREFIX}version": barrage.__version__,
        f"{TAG_PREFIX}mode": mode,
        f"{TAG_PREFIX}artifact_dir": os.path.abspath(context.artifact_dir),
    }
    for path, source in component_sources(context.config).items():
        tags[mlflow_key(f"{TAG_PREFIX}source.{path}")] = source
    return tags


def epoch_metrics(epoch: int, logs: Mapping[str, Any]) -> List[Metric]:
    """Every number Keras logged for ``epoch`` (training, ``val_`` and ``learning_rate``),
    as MLflow metrics at step ``epoch``."""
    now = int(time.time() * 1000)
    metrics = []
    for name, value in sorted(logs.items()):
        try:
            number = float(value)
        except (TypeError, ValueError):
            continue
        metrics.append(Metric(mlflow_key(name), number, now, epoch))
    return metrics


# -- where it goes --------------------------------------------------------------------


def experiment_id(client: MlflowClient) -> str:
    """The experiment MLflow's settings name: ``MLFLOW_EXPERIMENT_NAME`` (created when
    missing), else ``MLFLOW_EXPERIMENT_ID``, else MLflow's default experiment."""
    name = MLFLOW_EXPERIMENT_NAME.get()
    if name:
        experiment = client.get_experiment_by_name(name)
        return experiment.experiment_id if experiment is not None else client.create_experiment(name)
    return MLFLOW_EXPERIMENT_ID.get() or DEFAULT_EXPERIMENT_ID


class TrainingRun:
    """The MLflow run of one Barrage training run (a new one, or the one being resumed)."""

    def __init__(self, client: MlflowClient, run_id: str):
        self.client = client
        self.run_id = run_id

    @classmethod
    def start(cls, context: RunContext) -> "TrainingRun":
        """Continue the MLflow run ``mlflow_run.json`` names, or create one and write it."""
        client = MlflowClient()
        if os.path.exists(os.path.join(context.artifact_dir, RUN_FILE)):
            return cls.resume(client, context.artifact_dir)
        run = client.create_run(
            experiment_id(client), run_name=os.path.basename(os.path.normpath(context.artifact_dir)),
            tags=run_tags(context, "train"),
        )
        started = cls(client, run.info.run_id)
        params = [Param(key, value) for key, value in flatten_config(context.config).items()]
        for start in range(0, len(params), PARAMS_PER_CALL):
            client.log_batch(started.run_id, params=params[start:start + PARAMS_PER_CALL])
        record = {"run_id": started.run_id, "experiment_id": run.info.experiment_id,
                  "tracking_uri": mlflow.get_tracking_uri()}
        save_state(context.artifact_dir, RUN_FILE, record)
        return started

    @classmethod
    def resume(cls, client: MlflowClient, artifact_dir: str) -> "TrainingRun":
        """The MLflow run a resumed training run continues, marked running again."""
        record = load_state(artifact_dir, RUN_FILE, "barrage-mlflow", RUN_FILE_KEYS)
        try:
            client.get_run(record["run_id"])
        except MlflowException:
            raise ArtifactError(
                f"{os.path.join(artifact_dir, RUN_FILE)}: MLflow run {record['run_id']} is not in the tracking "
                f"store {mlflow.get_tracking_uri()} (it was logged to {record['tracking_uri']}); set "
                f"MLFLOW_TRACKING_URI to that store to resume it"
            ) from None
        client.update_run(record["run_id"], status=RunStatus.to_string(RunStatus.RUNNING))
        client.set_tag(record["run_id"], f"{TAG_PREFIX}resumed", "true")
        return cls(client, record["run_id"])

    def log_epoch(self, epoch: int, logs: Optional[Mapping[str, Any]]) -> None:
        metrics = epoch_metrics(epoch, logs or {})
        if metrics:
            self.client.log_batch(self.run_id, metrics=metrics)

    def finish(self, artifact_dir: str) -> None:
        """Copy the artifacts that matter to the run and mark it finished."""
        for name in ARTIFACT_FILES:
            path = os.path.join(artifact_dir, name)
            if os.path.isfile(path):
                self.client.log_artifact(self.run_id, path)
        for name in ARTIFACT_FOLDERS:
            path = os.path.join(artifact_dir, name)
            if os.path.isdir(path) and os.listdir(path):
                self.client.log_artifacts(self.run_id, path, artifact_path=name)
        self.client.set_terminated(self.run_id, RunStatus.to_string(RunStatus.FINISHED))
        click.echo(f"mlflow: run {self.run_id} logged to {mlflow.get_tracking_uri()}", err=True)


def epoch_logger(context: RunContext, key: str) -> Any:
    """A Keras callback logging each epoch's metrics to ``context.extras[key]``'s run
    (set by ``barrage_pre_fit``, which fires after the callbacks are made)."""
    import keras  # only when a run trains: this module stays free of TensorFlow

    class MlflowEpochLogger(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: Optional[Dict[str, Any]] = None) -> None:
            context.extras[key].log_epoch(epoch, logs)

    return MlflowEpochLogger()


def log_scoring(context: RunContext, records: int) -> str:
    """One MLflow run for one scoring: its record count, nested under the training run
    when that run is in this tracking store. Returns the run id."""
    client = MlflowClient()
    tags = run_tags(context, "score")
    training = training_run_id(client, context.artifact_dir)
    if training is not None:
        tags[f"{TAG_PREFIX}training_run_id"] = training
        tags["mlflow.parentRunId"] = training  # MLflow's tag for a nested run
    name = f"score {os.path.basename(os.path.normpath(context.artifact_dir))}"
    run = client.create_run(experiment_id(client), run_name=name, tags=tags)
    client.log_metric(run.info.run_id, "records", records)
    client.set_terminated(run.info.run_id, RunStatus.to_string(RunStatus.FINISHED))
    return run.info.run_id


def training_run_id(client: MlflowClient, artifact_dir: str) -> Optional[str]:
    """The MLflow run that trained ``artifact_dir``, if it logged one to this store."""
    if not os.path.exists(os.path.join(artifact_dir, RUN_FILE)):
        return None
    run_id = load_state(artifact_dir, RUN_FILE, "barrage-mlflow", RUN_FILE_KEYS)["run_id"]
    try:
        client.get_run(run_id)
    except MlflowException:
        return None
    return str(run_id)
