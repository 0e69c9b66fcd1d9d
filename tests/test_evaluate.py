"""``barrage evaluate`` and ``BarrageModel.evaluate``: Keras's numbers on the compiled
objective, and each output's confusion matrix or regression errors."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from sample_data import BASE_CONFIG, make_records

from barrage import BarrageModel
from barrage.cli import cli
from barrage.evaluation import ClassificationTally, RegressionTally, rows
from barrage.model import compile_network
from barrage.runtime import Runtime

HOUSING = Path(__file__).resolve().parent.parent / "examples" / "housing"
FEATURES = ["f0", "f1", "f2"]


def invoke(*args, runtime=None):
    return CliRunner().invoke(cli, [str(a) for a in args], obj={"runtime": runtime} if runtime else None)


def weighted_records(count, seed):
    """Labelled records whose weights vary, so a weighted loss differs from an unweighted one."""
    records = make_records(count, seed=seed)
    for index, record in enumerate(records):
        record["weight"] = 0.5 + (index % 4)
    return records


def two_output_config():
    config = copy.deepcopy(BASE_CONFIG)
    config["dataset"]["loader"]["params"] = {
        "inputs": {"features": FEATURES}, "outputs": {"label": "label", "target": "target"},
        "sample_weights": {"label": "weight", "target": "weight"},
    }
    config["model"]["network"] = {"import": "tests_two_outputs"}
    config["model"]["outputs"] = [
        {"name": "label", "loss": {"import": "sparse_categorical_crossentropy"}, "loss_weight": 1.0,
         "metrics": [{"import": "accuracy"}]},
        {"name": "target", "loss": {"import": "mse"}, "loss_weight": 0.5, "metrics": [{"import": "mae"}]},
    ]
    config["solver"]["epochs"] = 2
    config["services"] = {"tensorboard": None}
    return config


def build_two_outputs():
    import keras

    inputs = keras.Input((3,), name="features")
    hidden = keras.layers.Dense(4, activation="relu")(inputs)
    label = keras.layers.Dense(2, activation="softmax")(hidden)
    target = keras.layers.Dense(1)(hidden)
    return keras.Model({"features": inputs}, {"label": label, "target": target})


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A two-output model with sample weights, trained once for the module."""
    runtime = Runtime()
    runtime.registry.register("network", "tests_two_outputs", build_two_outputs)
    folder = tmp_path_factory.mktemp("evaluate")
    BarrageModel(folder / "run", runtime).train(two_output_config(), weighted_records(64, 1), weighted_records(32, 2),
                                                verbose=0)
    return folder / "run", runtime


def test_keras_numbers_are_those_of_keras_evaluate_with_the_sample_weights(trained):
    run, runtime = trained
    records = weighted_records(40, seed=5)
    results = BarrageModel(run, runtime).evaluate(records, batch_size=16)

    model = BarrageModel(run, runtime).load()
    compile_network(model.network, model.config, runtime.registry)
    x = {"features": np.array([[r[f] for f in FEATURES] for r in records], dtype=np.float32)}
    y = {"label": np.array([r["label"] for r in records]), "target": np.array([r["target"] for r in records],
                                                                              dtype=np.float32)}
    w = np.array([r["weight"] for r in records], dtype=np.float32)
    expected = model.network.evaluate(x, y, sample_weight={"label": w, "target": w}, batch_size=16,
                                      return_dict=True, verbose=0)
    assert set(results["keras"]) == set(expected)
    assert results["keras"] == pytest.approx({k: float(v) for k, v in expected.items()}, rel=1e-5)
    unweighted = model.network.evaluate(x, y, batch_size=16, return_dict=True, verbose=0)
    assert results["keras"]["loss"] != pytest.approx(float(unweighted["loss"]), rel=1e-3)  # the weights count
    label, target = results["outputs"]["label"], results["outputs"]["target"]
    assert label["loss"] == pytest.approx(float(expected["label_loss"]), rel=1e-5)
    assert label["metrics"] == pytest.approx({"accuracy": float(expected["label_accuracy"])}, rel=1e-5)
    assert target["metrics"] == pytest.approx({"mae": float(expected["target_mae"])}, rel=1e-5)
    assert results["records"] == 40


def test_a_file_is_evaluated_as_a_stream_with_the_numbers_of_the_records_in_memory(trained, tmp_path, monkeypatch):
    import pandas as pd

    from barrage.sources.stream import StreamSource

    run, runtime = trained
    records = weighted_records(70, seed=8)
    path = tmp_path / "labelled.parquet"
    pd.DataFrame(records).to_parquet(path, row_group_size=9)  # chunks end inside batches
    streamed: list = []
    original = StreamSource.__init__
    monkeypatch.setattr(StreamSource, "__init__", lambda self, *a, **k: streamed.append(1) or original(self, *a, **k))
    from_file = BarrageModel(run, runtime).evaluate(str(path), batch_size=16)
    assert streamed, "the file was read whole"
    in_memory = BarrageModel(run, runtime).evaluate(records, batch_size=16)
    assert from_file["records"] == in_memory["records"] == 70
    assert from_file["keras"] == pytest.approx(in_memory["keras"], rel=1e-5)
    for name in ("label", "target"):
        for key in ("loss", "metrics", "mae", "rmse", "accuracy"):
            if key in in_memory["outputs"][name]:
                assert from_file["outputs"][name][key] == pytest.approx(in_memory["outputs"][name][key], rel=1e-5)


def test_confusion_matrix_and_regression_errors_come_from_the_predictions(trained):
    run, runtime = trained
    records = weighted_records(40, seed=6)
    model = BarrageModel(run, runtime).load()
    results = model.evaluate(records)
    x = {"features": np.array([[r[f] for f in FEATURES] for r in records], dtype=np.float32)}
    predicted = model.network.predict(x, verbose=0)
    weights = np.array([r["weight"] for r in records])
    labels = np.array([r["label"] for r in records])
    chosen = predicted["label"].argmax(axis=1)
    matrix = np.zeros((2, 2))
    for true, guess, weight in zip(labels, chosen, weights):
        matrix[true, guess] += weight
    label = results["outputs"]["label"]
    assert label["task"] == "classification" and label["classes"] == [0, 1]
    assert np.allclose(label["confusion_matrix"], matrix)
    assert label["accuracy"] == pytest.approx(np.trace(matrix) / matrix.sum())
    for entry in label["per_class"]:
        k = entry["class"]
        precision, recall = matrix[k, k] / matrix[:, k].sum(), matrix[k, k] / matrix[k].sum()
        assert entry["precision"] == pytest.approx(precision) and entry["recall"] == pytest.approx(recall)
        assert entry["f1"] == pytest.approx(2 * precision * recall / (precision + recall))
        assert entry["support"] == pytest.approx(matrix[k].sum())
    targets, estimates = np.array([r["target"] for r in records]), predicted["target"][:, 0].astype(np.float64)
    errors = estimates - targets
    mean = np.average(targets, weights=weights)
    target = results["outputs"]["target"]
    assert target["task"] == "regression"
    assert target["mae"] == pytest.approx(np.average(np.abs(errors), weights=weights), rel=1e-5)
    assert target["rmse"] == pytest.approx(np.sqrt(np.average(errors**2, weights=weights)), rel=1e-5)
    assert target["r2"] == pytest.approx(1 - np.sum(weights * errors**2) / np.sum(weights * (targets - mean)**2),
                                         rel=1e-5)


def test_regression_errors_are_in_the_units_of_the_records(tmp_path):
    config = json.loads((HOUSING / "config.json").read_text())
    config["solver"]["epochs"] = 2
    config["services"]["tensorboard"] = None
    model = BarrageModel(tmp_path / "run")
    model.train(config, str(HOUSING / "train.csv"), str(HOUSING / "validation.csv"), verbose=0)
    results = model.evaluate(str(HOUSING / "validation.csv"))
    prices = pd.read_csv(HOUSING / "validation.csv")["price"].to_numpy()
    scored = np.array([score["price"][0] for score in model.predict(str(HOUSING / "validation.csv"))])
    price = results["outputs"]["price"]
    assert price["mae"] == pytest.approx(np.abs(scored - prices).mean(), rel=1e-5)  # currency, not standardised
    assert price["rmse"] == pytest.approx(np.sqrt(((scored - prices) ** 2).mean()), rel=1e-5)
    assert price["r2"] == pytest.approx(1 - ((scored - prices) ** 2).sum() / ((prices - prices.mean()) ** 2).sum(),
                                        rel=1e-4)
    assert price["metrics"]["mae"] < 10  # Keras's mae: on the standardised targets the network sees


def test_binary_and_one_hot_outputs_are_counted_by_class():
    binary = ClassificationTally("binary")
    binary.add(np.array([1, 0, 1, 0]), np.array([[0.9], [0.6], [0.2], [0.1]]), None)
    assert binary.summary()["confusion_matrix"] == [[1, 1], [1, 1]]
    logits = ClassificationTally("binary", threshold=0.0)
    logits.add(np.array([[1.0], [0.0]]), np.array([[2.0], [-1.0]]), np.array([2.0, 0.5]))
    assert logits.summary()["confusion_matrix"] == [[0.5, 0], [0, 2]]
    one_hot = ClassificationTally("categorical")
    one_hot.add(np.eye(3)[[0, 1, 2, 2]], np.eye(3)[[0, 2, 2, 1]] * 0.8 + 0.05, None)
    summary = one_hot.summary()
    assert summary["confusion_matrix"] == [[1, 0, 0], [0, 0, 1], [0, 1, 1]]
    assert summary["per_class"][1] == {"class": 1, "precision": 0.0, "recall": 0.0, "f1": None, "support": 1}
    assert summary["per_class"][2]["precision"] == 0.5 and summary["accuracy"] == 0.5


def test_sequence_outputs_weigh_every_step():
    tally = RegressionTally()
    tally.add(np.array([[1.0, 2.0], [3.0, 4.0]]), np.array([[1.0, 1.0], [3.0, 6.0]]), np.array([1.0, 3.0]))
    summary = tally.summary()
    assert summary["mae"] == pytest.approx((1 * 1 + 3 * 2) / 8)
    assert summary["rmse"] == pytest.approx(np.sqrt((1 * 1 + 3 * 4) / 8))


def test_the_command_prints_a_table_writes_json_or_csv_and_keeps_the_results(trained, tmp_path):
    run, runtime = trained
    pd.DataFrame(weighted_records(24, seed=7)).to_csv(tmp_path / "data.csv", index=False)
    done = invoke("evaluate", run, tmp_path / "data.csv", "-o", tmp_path / "results.json", runtime=runtime)
    assert done.exit_code == 0, done.output
    assert "evaluated 24 record(s) of" in done.output
    assert "confusion matrix of 'label' (rows: true class, columns: predicted class)" in done.output
    results = json.loads((tmp_path / "results.json").read_text())
    kept = json.loads((run / "evaluation.json").read_text())  # what barrage report shows
    from barrage.manifest import best_checkpoint_digest

    assert kept.pop("best_checkpoint_sha256") == best_checkpoint_digest(str(run))  # of the weights evaluated
    assert kept == results
    as_csv = invoke("evaluate", run, tmp_path / "data.csv", "-o", tmp_path / "results.csv", runtime=runtime)
    assert as_csv.exit_code == 0, as_csv.output
    table = pd.read_csv(tmp_path / "results.csv", keep_default_na=False)
    assert list(table.columns) == ["output", "source", "quantity", "value"]
    assert len(table) == len(list(rows(results)))
    total = table[(table.output == "") & (table.quantity == "loss")]["value"].astype(float).item()
    assert total == pytest.approx(results["keras"]["loss"])
    assert "confusion[1][0]" in set(table.quantity)


def test_bad_input_exits_2_before_any_work_and_writes_nothing(trained, tmp_path):
    run, runtime = trained
    records = pd.DataFrame(weighted_records(8, seed=8))
    records.drop(columns=["label"]).to_csv(tmp_path / "unlabelled.csv", index=False)
    records.to_csv(tmp_path / "data.csv", index=False)
    unlabelled = invoke("evaluate", run, tmp_path / "unlabelled.csv", "-o", tmp_path / "r.json", runtime=runtime)
    assert unlabelled.exit_code == 2 and "missing key 'label'" in unlabelled.output
    assert not (tmp_path / "r.json").exists()
    (tmp_path / "taken.json").write_text("mine")
    taken = invoke("evaluate", run, tmp_path / "data.csv", "-o", tmp_path / "taken.json", runtime=runtime)
    assert taken.exit_code == 2 and "taken.json: already exists; remove it or pass --overwrite" in taken.output
    assert (tmp_path / "taken.json").read_text() == "mine" and "evaluated" not in taken.output
    wrong = invoke("evaluate", run, tmp_path / "data.csv", "-o", tmp_path / "r.xlsx")
    assert wrong.exit_code == 2 and "unsupported evaluation type '.xlsx'; use .json, .csv" in wrong.output
    missing = invoke("evaluate", tmp_path / "nowhere", tmp_path / "data.csv")
    assert missing.exit_code == 2 and "no such artifact directory" in missing.output
