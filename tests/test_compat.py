"""Configs, plugin code and commands written for the original Barrage 0.6 run unchanged
(where Keras 3 allows): the original project's functional scenarios, in our own words."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, List

import keras
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from barrage import BarrageModel, api
from barrage.cli import cli
from barrage.utils import io_utils

CLASSES = {0: "class_0", 1: "class_1", 2: "class_2"}


def labelled_records(count: int, seed: int) -> List[Dict[str, Any]]:
    """Four features shifted by the class; the label is the class name (text)."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, count)
    frame = pd.DataFrame({
        "x1": rng.normal(0, 2.0, count) + y, "x2": rng.normal(-1.0, 1.0, count) + y,
        "x3": rng.normal(1.0, 0.5, count) + y, "x4": rng.normal(0.5, 0.25, count) + y,
    })
    frame["label"] = [CLASSES[int(v)] for v in y]
    return frame.to_dict(orient="records")


class LabelTransformer(api.RecordTransformer):
    """Written the way the original Barrage's users wrote transformers: reads the loader's
    ``outputs``, iterates records as dicts in ``fit``, changes the data record in place,
    keeps its state with ``io_utils``."""

    def __init__(self, mode, loader):
        super().__init__(mode, loader)
        self.output_key = list(self.loader.outputs.values())[0][0]
        self.output_name = list(self.loader.outputs.keys())[0]

    def fit(self, records):
        names = sorted({record[self.output_key] for record in records})
        self.class_map = dict(enumerate(names))
        self.inverse_class_map = {name: index for index, name in self.class_map.items()}
        self.network_params = {"input_dim": len(list(self.loader.inputs.values())[0]), "num_classes": len(names)}

    def transform(self, record):
        if self.mode in (api.RecordMode.TRAIN, api.RecordMode.VALIDATION):
            record[1][self.output_name] = np.array(self.inverse_class_map[record[1][self.output_name][0]])
        return record

    def postprocess(self, score):
        score[self.output_name] = self.class_map[int(np.argmax(score[self.output_name]))]
        return score

    def save(self, path):
        io_utils.save_json({str(k): v for k, v in self.class_map.items()}, "class_map.json", path)

    def load(self, path):
        self.class_map = {int(k): v for k, v in io_utils.load_json("class_map.json", path).items()}
        self.inverse_class_map = {name: index for index, name in self.class_map.items()}


def single_output_config() -> Dict[str, Any]:
    """The original single-output functional config: ``sequential_from_config`` in its
    original form (an ``Input`` layer first, the output named by the last layer)."""
    dense = {"import": "Dense", "params": {"units": 10, "activation": "relu"}}
    return {
        "dataset": {
            "loader": {"import": "KeySelector",
                       "params": {"inputs": {"input": ["x1", "x2", "x3", "x4"]}, "outputs": {"softmax": ["label"]}}},
            "transformer": {"import": "test_compat.LabelTransformer"},
        },
        "model": {
            "network": {"import": "barrage.model.sequential_from_config", "params": {"layers": [
                {"import": "Input", "params": {"shape": "{{input_dim}}", "name": "input"}},
                dense, dense, dense,
                {"import": "Dense", "params": {"units": "{{num_classes}}", "name": "softmax", "activation": "softmax"}},
            ]}},
            "outputs": [{"name": "softmax", "loss": {"import": "sparse_categorical_crossentropy"},
                         "metrics": [{"import": "accuracy"}]}],
        },
        "solver": {
            "optimizer": {"import": "Adam", "learning_rate": 1e-2},
            "learning_rate_reducer": {"monitor": "val_loss", "mode": "min", "patience": 5, "factor": 0.1},
            "batch_size": 16,
            "epochs": 8,
        },
        "services": {
            "best_checkpoint": {"monitor": "val_accuracy", "mode": "max"},
            "tensorboard": {},
            "train_early_stopping": {"monitor": "loss", "mode": "min", "patience": 10, "min_delta": 1e-2},
            "validation_early_stopping": {"monitor": "val_loss", "mode": "min", "patience": 10, "min_delta": 1e-2},
        },
    }


def test_single_output_classifier_with_the_original_network_format_and_a_label_transformer(tmp_path):
    run = tmp_path / "artifacts"
    model = BarrageModel(run)
    model.train(single_output_config(), labelled_records(407, 1), labelled_records(193, 2), verbose=0)
    score_records = labelled_records(122, 3)
    scores = BarrageModel(run).load().predict(score_records)  # the original's chain
    predicted = pd.DataFrame(scores)["softmax"]
    assert (predicted == pd.DataFrame(score_records)["label"]).mean() >= 0.90
    for path in ("config.json", "network_params.json", "environment.json", "manifest.json", "training_report.csv",
                 "best_checkpoint/model.weights.h5", "dataset/class_map.json", "TensorBoard"):
        assert (run / path).exists(), path
    assert json.loads((run / "network_params.json").read_text()) == {"input_dim": 4, "num_classes": 3}
    assert not list(run.rglob("*.pkl"))
    network = BarrageModel(run).load().network
    assert list(network.input) == ["input"] and list(network.output) == ["softmax"]
    assert network.input["input"].shape == (None, 4)  # a bare integer shape is a 1-tuple


# -- the multi-output scenario ------------------------------------------------------


def multi_records(count: int, seed: int, with_sample: bool = True) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    y_cls = rng.integers(0, 3, count).astype(np.float32)
    x1, x2 = rng.normal(0, 2.0, count) + y_cls, rng.normal(-1.0, 0.25, count) + y_cls
    x3, z1 = rng.normal(1.0, 0.1, count) + y_cls, rng.normal(0.5, 0.25, count) + y_cls
    z2 = rng.integers(-1, 2, count).astype(np.float32)
    y_reg_1 = -0.2 * x1 + 0.3 * x2 + 0.4 * x3 + rng.normal(0, 0.01, count)
    y_reg_2 = -0.5 * x3 + 0.5 * z1 * z2 + rng.normal(0, 0.01, count)
    frame = pd.DataFrame({"x1": x1, "x2": x2, "x3": x3, "z1": z1, "z2": z2, "y_cls": y_cls, "y_reg_1": y_reg_1,
                          "y_reg_2": y_reg_2, "w_cls": y_cls * 0.1 + 1, "w_reg": np.maximum(y_reg_1, 2)})
    if with_sample:
        frame["sample"] = rng.integers(1, 5, count).astype(np.float32)
    return frame


def add_noise(data_record, ind, input_key, scale=0.01):
    """An augmentor as the original's users wrote them: it changes the record in place."""
    data_record[ind][input_key] += np.random.normal(0, scale, data_record[ind][input_key].shape)
    return data_record


def two_headed_net():
    """The original's network, in Keras 3 (lists of inputs and outputs, not dicts)."""
    input_x = keras.Input(shape=(3,), name="input_x")
    input_z = keras.Input(shape=(2,), name="input_z")
    added = keras.layers.Add()([keras.layers.Dense(10, activation="relu")(input_x),
                                keras.layers.Dense(10, activation="relu")(input_z)])
    hidden = keras.layers.Dense(10, activation="relu")(keras.layers.Dense(10, activation="relu")(added))
    classification = keras.layers.Dense(3, activation="softmax", name="classification")(hidden)
    regression = keras.layers.Dense(2, activation="linear", name="regression")(hidden)
    return keras.Model(inputs=[input_x, input_z], outputs=[regression, classification])


MULTI_CONFIG = {
    "dataset": {
        "loader": {"import": "KeySelector", "params": {
            "inputs": {"input_x": ["x1", "x2", "x3"], "input_z": ["z1", "z2"]},
            "outputs": {"classification": ["y_cls"], "regression": ["y_reg_1", "y_reg_2"]},
            "sample_weights": {"classification": "w_cls", "regression": "w_reg"}}},
        "augmentor": [
            {"import": "test_compat.add_noise", "params": {"ind": 0, "input_key": "input_z"}},
            {"import": "test_compat.add_noise", "params": {"ind": 1, "input_key": "regression", "scale": 0.001}},
        ],
        "sample_count": "sample",
        "seed": 7,
    },
    "model": {
        "network": {"import": "test_compat.two_headed_net"},
        "outputs": [
            {"name": "classification", "loss": {"import": "sparse_categorical_crossentropy"}, "loss_weight": 1.0,
             "metrics": [{"import": "accuracy"}]},
            {"name": "regression", "loss": {"import": "mse"}, "loss_weight": 0.75,
             "metrics": [{"import": "mae"}, {"import": "mse"}]},
        ],
    },
    "solver": {
        "optimizer": {"import": "Adam", "learning_rate": {"import": "ExponentialDecay", "params": {
            "initial_learning_rate": 1e-2, "decay_steps": 100, "decay_rate": 0.99}}},
        "batch_size": 16,
        "epochs": 6,
    },
    "services": {
        "best_checkpoint": {"monitor": "val_regression_mae", "mode": "min"},
        "tensorboard": {},
        "train_early_stopping": {"monitor": "loss", "mode": "min", "patience": 10, "min_delta": 1e-2},
        "validation_early_stopping": {"monitor": "val_loss", "mode": "min", "patience": 10, "min_delta": 1e-2},
    },
}


def test_two_inputs_two_outputs_weights_sample_count_augmentors_schedule_and_keras_metric_names(tmp_path):
    run = tmp_path / "run"
    BarrageModel(run).train(MULTI_CONFIG, multi_records(613, 1), multi_records(216, 2, with_sample=False), verbose=0)
    with open(run / "training_report.csv", newline="") as handle:
        columns = set(next(iter(pd.read_csv(handle).to_dict("records"))))
    # metrics named as plain Keras names them when compiled with the same strings
    assert {"regression_mae", "regression_mse", "val_regression_mae", "classification_accuracy",
            "classification_loss", "regression_loss", "learning_rate"} <= columns
    truth = multi_records(297, 3, with_sample=False)
    scores = BarrageModel(run).load().predict(truth.drop(columns=["w_cls", "w_reg"]))
    predicted_class = np.asarray([np.argmax(score["classification"]) for score in scores])
    regression = np.stack([score["regression"] for score in scores])
    assert (predicted_class == truth["y_cls"].to_numpy()).mean() > 0.5
    assert abs((regression[:, 0] - truth["y_reg_1"]).mean()) < 0.5
    assert abs((regression[:, 1] - truth["y_reg_2"]).mean()) < 0.5


# -- the original command line -----------------------------------------------------


@pytest.mark.parametrize("args", [["--help"], ["help"], ["train", "--help"], ["predict", "--help"]])
def test_help_in_every_form_the_original_had(args):
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0 and "Usage:" in result.output


def test_train_then_predict_in_the_original_argument_order(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = single_output_config()
    config["solver"]["epochs"] = 2
    io_utils.save_json(config, "config.json", str(tmp_path))
    io_utils.save_json(labelled_records(60, 4), "data.json", str(tmp_path))
    runner = CliRunner()
    trained = runner.invoke(cli, ["train", "config.json", "data.json", "data.json", "--verbose", "0"])
    assert trained.exit_code == 0, trained.output
    assert (tmp_path / "artifacts" / "config.json").is_file()  # the original's default -a
    again = runner.invoke(cli, ["train", "config.json", "data.json", "data.json"])
    assert again.exit_code == 2 and "already exists" in again.stderr
    predicted = runner.invoke(cli, ["predict", "data.json", "artifacts"])
    assert predicted.exit_code == 0, predicted.output
    scores = json.loads((tmp_path / "scores.json").read_text())  # the original's default -o
    assert len(scores) == 60 and set(scores[0]) == {"softmax"} and scores[0]["softmax"] in CLASSES.values()
    frame = io_utils.load_data("data.json", str(tmp_path))
    assert isinstance(frame, pd.DataFrame) and len(frame) == 60 and "label" in frame


# -- the original Python contracts ---------------------------------------------------


def test_the_original_api_names_and_contracts():
    for name in ("RecordMode", "RecordLoader", "RecordTransformer", "Record", "Records", "InputRecords",
                 "DataRecord", "BatchDataRecords", "RecordScore", "BatchRecordScores"):
        assert hasattr(api, name), name
    from barrage.dataset import IdentityTransformer, KeySelector

    loader = KeySelector(api.RecordMode.TRAIN, inputs={"x": ["a", "b"]}, outputs={"y": "c"})
    assert (loader.inputs, loader.outputs) == ({"x": ["a", "b"]}, {"y": "c"})
    record = {"a": 1.0, "b": 2.0, "c": 3}
    x, y = loader(record)  # loaders are callable
    np.testing.assert_array_equal(x["x"], [1.0, 2.0])

    class Loader(api.RecordLoader):
        def __init__(self, mode, **params):
            super().__init__(mode, **params)  # extra params are accepted, kept as self.params as in 0.6

        def load(self, record):
            return ({"x": record["a"]},)

    made = Loader(api.RecordMode.SCORE, unused=1)
    assert made.mode is api.RecordMode.SCORE and made.params == {"unused": 1}

    class Transformer(IdentityTransformer):
        def __init__(self, mode, loader, **params):
            api.RecordTransformer.__init__(self, mode, loader, **params)  # the base keeps them as self.params

    transformer = Transformer(api.RecordMode.TRAIN, loader, unused=2)
    assert transformer.params == {"unused": 2}
    transformer.network_params = {"units": 3}
    with pytest.raises(TypeError, match="network_params must be a dict"):
        transformer.network_params = [("units", 3)]


def test_io_utils_keeps_json_and_data_and_says_why_pickles_are_gone(tmp_path):
    io_utils.save_json({"b": np.float32(1.5), "a": np.arange(3)}, "state.json", str(tmp_path))
    assert io_utils.load_json("state.json", str(tmp_path)) == {"a": [0, 1, 2], "b": 1.5}
    assert list(json.loads((tmp_path / "state.json").read_text())) == ["a", "b"]  # sorted keys, as before
    pd.DataFrame({"x": [1, 2]}).to_csv(tmp_path / "d.csv", index=False)
    assert io_utils.load_data("d.csv", str(tmp_path))["x"].tolist() == [1, 2]
    with pytest.raises(AttributeError, match="Barrage stores no pickles"):
        io_utils.save_pickle({}, "state.pkl", str(tmp_path))


def test_validate_checks_the_layers_of_the_original_format(tmp_path):
    config = single_output_config()
    config["dataset"]["transformer"] = {"import": "IdentityTransformer"}
    config["model"]["network"]["params"]["layers"][1]["import"] = "Dens"
    path = Path(tmp_path) / "config.json"
    path.write_text(json.dumps(config))
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 2
    assert "model.network.params.layers[1].import: no layer named 'Dens'" in result.stderr
    assert "did you mean 'Dense'" in result.stderr
    config["model"]["network"]["params"]["layers"][1]["import"] = "Dense"
    path.write_text(json.dumps(config))
    assert CliRunner().invoke(cli, ["validate", str(path)]).exit_code == 0
    assert os.path.exists(path)
