"""barrage-mlflow, as installed: training and scoring runs logged to a real local MLflow
tracking store, read back with MLflow's own client."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any, Dict

import numpy as np
import pytest
from click.testing import CliRunner
from mlflow import MlflowClient
from mlflow.artifacts import download_artifacts

import barrage
from barrage import BarrageModel, Policy, PluginError, Runtime, hookimpl
from barrage.cli import cli
from barrage_mlflow.tracking import PARAM_VALUE_LIMIT, RUN_FILE, flatten_config

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "tabular"  # the repository's examples
SOURCE = f"barrage-mlflow {metadata.version('barrage-mlflow')}"
EXPERIMENT = "barrage-mlflow-tests"
EPOCHS = 3
DATA = (str(EXAMPLE / "train.csv"), str(EXAMPLE / "validation.csv"))


def example_config(epochs: int = EPOCHS) -> Dict[str, Any]:
    with open(EXAMPLE / "config.json", encoding="utf-8") as handle:
        config = json.load(handle)
    config["solver"]["epochs"] = epochs
    config["services"].update(tensorboard=None, train_early_stopping=None, validation_early_stopping=None)
    return config


def tracking_runtime() -> Runtime:
    """A runtime that loads every installed hook plugin, barrage-mlflow's included."""
    return Runtime(Policy())


def report_column(artifact_dir: str, column: str) -> list:
    with open(os.path.join(artifact_dir, "training_report.csv"), newline="", encoding="utf-8") as handle:
        return [float(row[column]) for row in csv.DictReader(handle)]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A local tracking store (MLflow's SQLite store) in a temporary folder, set through
    MLflow's usual variables, with the folder as working directory (where MLflow puts the
    artifacts of a local store)."""
    folder = tmp_path_factory.mktemp("mlflow-store")
    uri = f"sqlite:///{folder}/mlflow.db"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", uri)
        patch.setenv("MLFLOW_EXPERIMENT_NAME", EXPERIMENT)
        patch.chdir(folder)
        yield {"folder": folder, "uri": uri, "client": MlflowClient(tracking_uri=uri)}


@pytest.fixture(scope="module")
def trained(store, tmp_path_factory) -> Dict[str, Any]:
    """One training run and one scoring run with the plugin loaded."""
    artifact_dir = str(tmp_path_factory.mktemp("trained") / "iris")
    runtime = tracking_runtime()
    BarrageModel(artifact_dir, runtime=runtime).train(example_config(), *DATA, verbose=0)
    scores = BarrageModel(artifact_dir, runtime=runtime).predict(str(EXAMPLE / "validation.csv"))
    with open(os.path.join(artifact_dir, RUN_FILE), encoding="utf-8") as handle:
        record = json.load(handle)
    client = store["client"]
    return {"artifact_dir": artifact_dir, "scores": scores, "record": record, "client": client,
            "run": client.get_run(record["run_id"])}


# -- the plugin -----------------------------------------------------------------------


def test_the_hook_module_imports_neither_mlflow_nor_tensorflow(fresh_python):
    fresh_python(
        "import sys\n"
        "import barrage_mlflow.hooks\n"
        "loaded = [m for m in ('mlflow', 'tensorflow', 'keras') if m in sys.modules]\n"
        "assert not loaded, loaded\n"
        "import barrage_mlflow.tracking\n"
        "assert 'mlflow' in sys.modules and 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n"
    )


def test_it_is_a_hook_plugin_of_its_own_distribution(monkeypatch):
    monkeypatch.setenv("BARRAGE_DISABLE_PLUGINS", "")
    result = CliRunner().invoke(cli, ["plugins", "list", "--json"])
    assert result.exit_code == 0, result.output
    plugin = next(p for p in json.loads(result.stdout)["loaded"] if p["name"] == "mlflow")
    assert f"{plugin['distribution']} {plugin['version']}" == SOURCE
    assert sorted(plugin["hooks"]) == ["barrage_callbacks", "barrage_post_fit", "barrage_pre_fit",
                                       "barrage_score_end"]


def test_flatten_config_names_leaves_by_dotted_path():
    config = {
        "dataset": {"loader": {"import": "KeySelector", "source": "barrage 1.0.0", "target": "x:y",
                               "params": {"inputs": {"my input!": ["a", "b"]}}}},
        "model": {"outputs": [{"name": "y", "loss": {"import": "mse"}, "metrics": []}]},
        "services": {"tensorboard": {}, "best_checkpoint": None},
        "solver": {"learning_rate": 0.01, "note": "n" * (PARAM_VALUE_LIMIT + 5)},
    }
    assert flatten_config(config) == {
        "dataset.loader.import": "KeySelector",
        "dataset.loader.params.inputs.my input_": '["a", "b"]',  # a name MLflow refuses is mended
        "model.outputs.0.name": "y",
        "model.outputs.0.loss.import": "mse",
        "model.outputs.0.metrics": "[]",
        "services.tensorboard": "{}",
        "services.best_checkpoint": "null",
        "solver.learning_rate": "0.01",
        "solver.note": "n" * PARAM_VALUE_LIMIT,
    }


# -- a training run -------------------------------------------------------------------


def test_the_run_is_recorded_in_the_artifact_directory_and_finished(trained, store):
    run, record = trained["run"], trained["record"]
    assert record == {"run_id": run.info.run_id, "experiment_id": run.info.experiment_id,
                      "tracking_uri": store["uri"]}
    assert store["client"].get_experiment(run.info.experiment_id).name == EXPERIMENT
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "iris"


def test_params_are_the_flattened_resolved_config(trained):
    params = trained["run"].data.params
    with open(os.path.join(trained["artifact_dir"], "config.json"), encoding="utf-8") as handle:
        resolved = json.load(handle)
    assert params == flatten_config(resolved)
    assert params["solver.optimizer.learning_rate"] == "0.01"
    assert params["solver.epochs"] == str(EPOCHS)
    assert params["model.outputs.0.loss.import"] == "sparse_categorical_crossentropy"
    assert params["dataset.loader.params.inputs.measurements"] == json.dumps(
        ["sepal_length", "sepal_width", "petal_length", "petal_width"])


def test_every_epoch_is_logged_with_the_epoch_as_step(trained):
    client, run_id, artifact_dir = trained["client"], trained["run"].info.run_id, trained["artifact_dir"]
    for name in ("loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"):
        history = client.get_metric_history(run_id, name)
        assert [metric.step for metric in history] == list(range(EPOCHS)), name
        np.testing.assert_allclose([metric.value for metric in history], report_column(artifact_dir, name),
                                   rtol=1e-6, err_msg=name)
    assert [m.value for m in client.get_metric_history(run_id, "learning_rate")] == pytest.approx([0.01] * EPOCHS)


def test_tags_name_the_barrage_version_and_each_components_source(trained):
    tags = trained["run"].data.tags
    assert tags["barrage.version"] == barrage.__version__
    assert tags["barrage.mode"] == "train"
    assert tags["barrage.artifact_dir"] == os.path.abspath(trained["artifact_dir"])
    core = f"barrage {barrage.__version__}"
    assert tags["barrage.source.dataset.loader"] == core
    assert tags["barrage.source.dataset.transformer"] == core
    assert tags["barrage.source.model.network"] == core
    keras = f"keras {metadata.version('keras')}"
    assert tags["barrage.source.model.outputs.0.loss"] == keras
    assert tags["barrage.source.solver.optimizer"] == keras


def test_the_artifacts_that_matter_are_logged_and_load_as_an_artifact_directory(trained, tmp_path):
    client, run_id = trained["client"], trained["run"].info.run_id
    logged = {artifact.path for artifact in client.list_artifacts(run_id)}
    # dataset/ is logged when the transformer saved state; this run's IdentityTransformer saved none
    assert logged == {"config.json", "network_params.json", "environment.json", "manifest.json",
                      "training_report.csv", "best_checkpoint"}
    assert [a.path for a in client.list_artifacts(run_id, "best_checkpoint")] == ["best_checkpoint/model.weights.h5"]

    copy = download_artifacts(run_id=run_id, dst_path=str(tmp_path), tracking_uri=client.tracking_uri)
    os.makedirs(os.path.join(copy, "dataset"), exist_ok=True)  # MLflow keeps no empty folder
    rescored = BarrageModel(copy, runtime=Runtime(Policy(autoload_plugins=False))).predict(
        str(EXAMPLE / "validation.csv"))
    np.testing.assert_allclose(np.stack([s["species"] for s in rescored]),
                               np.stack([s["species"] for s in trained["scores"]]), rtol=1e-6)


def test_scoring_logs_its_record_count_in_a_run_nested_under_the_training_run(trained):
    client, training = trained["client"], trained["run"]
    runs = client.search_runs([training.info.experiment_id], "tags.`barrage.mode` = 'score'")
    assert len(runs) == 1
    scoring = runs[0]
    assert scoring.data.metrics == {"records": len(trained["scores"])} and len(trained["scores"]) == 200
    assert scoring.data.tags["mlflow.parentRunId"] == training.info.run_id
    assert scoring.data.tags["barrage.training_run_id"] == training.info.run_id
    assert scoring.info.status == "FINISHED"


# -- resuming -------------------------------------------------------------------------


class Interrupted(Exception):
    """Stands for a run that dies part-way (a crash, a lost machine)."""


class Interrupter:
    """A hook plugin whose callback stops training as epoch ``stop_at`` begins."""

    def __init__(self, stop_at: int):
        self.stop_at = stop_at

    @hookimpl
    def barrage_callbacks(self, context):
        import keras

        stop_at = self.stop_at

        class Stop(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                if epoch == stop_at:
                    raise Interrupted(f"stopped at epoch {epoch}")

        return [Stop()]


def train_interrupted(artifact_dir: str, epochs: int, stop_at: int) -> None:
    """Train with the tracking plugin until epoch ``stop_at`` begins, then die."""
    interrupted = tracking_runtime()
    interrupted.register_plugin(Interrupter(stop_at=stop_at), "interrupter")
    with pytest.raises(PluginError, match=f"Interrupted: stopped at epoch {stop_at}"):  # named after its plugin
        BarrageModel(artifact_dir, runtime=interrupted).train(example_config(epochs=epochs), *DATA, verbose=0)


def test_a_resumed_run_continues_the_same_mlflow_run(store, tmp_path):
    artifact_dir = str(tmp_path / "resumed")
    train_interrupted(artifact_dir, epochs=4, stop_at=2)
    with open(os.path.join(artifact_dir, RUN_FILE), encoding="utf-8") as handle:
        run_id = json.load(handle)["run_id"]
    client = store["client"]
    assert client.get_run(run_id).info.status == "RUNNING"  # until it is resumed and finishes
    assert [m.step for m in client.get_metric_history(run_id, "loss")] == [0, 1]

    BarrageModel(artifact_dir, runtime=tracking_runtime()).train(example_config(epochs=4), *DATA, resume=True,
                                                                 verbose=0)
    with open(os.path.join(artifact_dir, RUN_FILE), encoding="utf-8") as handle:
        assert json.load(handle)["run_id"] == run_id
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED" and run.data.tags["barrage.resumed"] == "true"
    history = client.get_metric_history(run_id, "val_loss")
    assert [m.step for m in history] == [0, 1, 2, 3]
    np.testing.assert_allclose([m.value for m in history], report_column(artifact_dir, "val_loss"), rtol=1e-6)
    named = client.search_runs([run.info.experiment_id], "attributes.run_name = 'resumed'")
    assert [r.info.run_id for r in named] == [run_id]  # no second MLflow run


def test_resuming_against_another_store_is_a_clear_error(store, tmp_path, monkeypatch):
    artifact_dir = str(tmp_path / "moved")
    train_interrupted(artifact_dir, epochs=2, stop_at=1)
    other = f"sqlite:///{tmp_path}/other.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", other)
    with pytest.raises(PluginError) as raised:
        BarrageModel(artifact_dir, runtime=tracking_runtime()).train(example_config(epochs=2), *DATA, resume=True,
                                                                     verbose=0)
    message = str(raised.value)
    assert "plugin 'mlflow'" in message and "barrage_pre_fit" in message
    assert f"is not in the tracking store {other} (it was logged to {store['uri']})" in message
    assert "set MLFLOW_TRACKING_URI to that store" in message


# -- MLflow's defaults, through the command line --------------------------------------


def test_without_settings_the_cli_logs_to_mlflows_local_default_store(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    env.update(BARRAGE_DISABLE_PLUGINS="", TF_CPP_MIN_LOG_LEVEL="2")
    config = tmp_path / "config.json"
    config.write_text(json.dumps(example_config(epochs=2)), encoding="utf-8")
    barrage_script = Path(sys.executable).parent / "barrage"
    done = subprocess.run(
        [str(barrage_script), "train", str(config), str(EXAMPLE / "train.csv"), str(EXAMPLE / "validation.csv"),
         "-a", "run", "--verbose", "0"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    default_store = f"sqlite:///{tmp_path}/mlflow.db"  # MLflow's default: a SQLite file in the working directory
    assert (tmp_path / "mlflow.db").is_file()
    run_id = json.loads((tmp_path / "run" / RUN_FILE).read_text())["run_id"]
    assert f"mlflow: run {run_id} logged to" in done.stderr
    run = MlflowClient(tracking_uri=default_store).get_run(run_id)
    assert run.info.experiment_id == "0" and run.info.status == "FINISHED"
    assert len(MlflowClient(tracking_uri=default_store).get_metric_history(run_id, "val_loss")) == 2
