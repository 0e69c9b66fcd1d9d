"""The reliability catalogue, part 2: data that cannot train well is refused, naming the
file, the record and the column, on the columns path and the per-record path alike,
before anything is written (or, found mid-training, leaving nothing behind)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List

import numpy as np
import pandas as pd
import pytest
from sample_data import make_records
from reliability import assert_one_error, run_cli, small_config, train_args, write_inputs

from barrage import BarrageModel, DataError, IdentityTransformer, TrainingError
from barrage.runtime import default_runtime


class PerRecordTransformer(IdentityTransformer):
    """The identity, not vectorised: batches are built record by record."""

    vectorized = False


def _rows(count: int = 64, seed: int = 1) -> List[Dict[str, Any]]:
    return make_records(count, seed=seed)


def _set(rows: List[Dict[str, Any]], index: int, key: str, value: Any) -> List[Dict[str, Any]]:
    rows[index][key] = value
    return rows


def _write_csv(path: Path, rows: List[Dict[str, Any]]) -> Path:
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


# -- through the command line (files) --------------------------------------------------

CSV_CASES = [
    ("blank feature", "train", 5, "f1", "", "column 'f1': NaN (input 'features'[1])"),
    ("infinite feature", "train", 7, "f0", "inf", "column 'f0': inf (input 'features'[0])"),
    ("negative infinity", "train", 9, "f2", "-inf", "column 'f2': -inf (input 'features'[2])"),
    ("NaN written out", "train", 11, "f2", "NaN", "column 'f2': NaN"),
    ("blank label", "train", 3, "label", "", "column 'label': NaN (output 'label')"),
    ("label outside the classes", "train", 13, "label", 5, "column 'label': label 5 is not a class id in [0, 2)"),
    ("negative label", "train", 2, "label", -1, "label -1 is not a class id in [0, 2)"),
    ("fractional label", "train", 4, "label", 0.5, "label 0.5 is not a class id in [0, 2)"),
    ("blank feature in validation", "validation", 6, "f0", "", "validation.csv: record 6, column 'f0': NaN"),
    ("label outside in validation", "validation", 8, "label", 9, "validation.csv: record 8, column 'label': label 9"),
]


@pytest.mark.parametrize("name, which, index, key, value, message", CSV_CASES, ids=[c[0] for c in CSV_CASES])
def test_bad_values_in_files_are_refused_before_anything_is_written(
    tmp_path, name, which, index, key, value, message
):
    folder = write_inputs(tmp_path)
    path = folder / f"{which}.csv"
    frame = pd.read_csv(path).astype(object)
    frame.loc[index, key] = value
    frame.to_csv(path, index=False)
    outcome = run_cli(*train_args(folder, tmp_path / "run"))
    assert_one_error(outcome, 2, f"{which}.csv: record {index}", message)
    assert not (tmp_path / "run").exists()


def test_bad_sample_weights_are_refused(tmp_path):
    config = small_config()
    config["dataset"]["loader"]["params"]["sample_weights"] = {"label": "weight"}
    rows = _set(_rows(), 17, "weight", float("nan"))
    folder = write_inputs(tmp_path, config, rows)
    assert_one_error(run_cli(*train_args(folder, tmp_path / "run")), 2,
                     "train.csv: record 17, column 'weight': NaN (sample weight 'label')")


def test_a_blank_value_in_the_scoring_file_writes_no_scores(tmp_path):
    folder = write_inputs(tmp_path)
    assert run_cli(*train_args(folder, tmp_path / "run")).code == 0
    frame = pd.read_csv(folder / "score.csv")
    frame.loc[4, "f2"] = np.nan
    frame.to_csv(folder / "score.csv", index=False)
    output = tmp_path / "scores.csv"
    assert_one_error(run_cli("score", tmp_path / "run", folder / "score.csv", "-o", output), 2,
                     "score.csv: record 4, column 'f2': NaN")
    assert not output.exists()


def test_null_in_jsonl_names_the_record(tmp_path):
    folder = write_inputs(tmp_path)
    rows = _set(_rows(), 21, "f0", None)
    (folder / "train.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    outcome = run_cli("train", folder / "config.json", folder / "train.jsonl", folder / "validation.csv",
                      "-a", tmp_path / "run", "--verbose", "0")
    assert_one_error(outcome, 2, "train.jsonl: record 21, column 'f0': NaN")


def test_fill_missing_trains_where_the_default_refuses(tmp_path):
    config = small_config(epochs=1)
    config["dataset"]["transformer"] = {"import": "Standardizer", "params": {"inputs": "features"}}
    rows = _set(_set(_rows(), 3, "f1", float("nan")), 30, "f0", float("nan"))
    folder = write_inputs(tmp_path, config, rows)
    assert_one_error(run_cli(*train_args(folder, tmp_path / "refused")), 2,
                     "train.csv: record 3, column 'f1': NaN (input 'features'[1]); set the Standardizer's fill_missing")
    config["dataset"]["transformer"]["params"]["fill_missing"] = True
    (folder / "config.json").write_text(json.dumps(config))
    assert run_cli(*train_args(folder, tmp_path / "filled")).code == 0


def test_a_text_input_with_a_blank_names_it(tmp_path):
    config = small_config(epochs=1)
    config["dataset"]["loader"]["params"]["inputs"]["name"] = "name"
    rows = [dict(row, name=f"n{i}") for i, row in enumerate(_rows())]
    rows[12]["name"] = None
    with pytest.raises(DataError, match=r"training records: record 12, column 'name': a blank \(input 'name'\)"):
        BarrageModel(tmp_path / "run").train(config, rows, _rows(16, seed=2), verbose=0)


# -- the per-record path --------------------------------------------------------------


@pytest.fixture
def per_record(config):
    default_runtime().registry.register("transformer", "PerRecordTransformer", PerRecordTransformer)
    config["dataset"]["transformer"] = {"import": "PerRecordTransformer"}
    config["solver"]["epochs"] = 1
    return config


@pytest.mark.parametrize("key, value, message", [
    ("f1", float("nan"), "record 40, column 'f1': NaN (input 'features'[1])"),
    ("f0", float("inf"), "record 40, column 'f0': inf"),
    ("label", 7, "record 40, column 'label': label 7 is not a class id in [0, 2)"),
])
def test_the_per_record_path_refuses_the_same_values(tmp_path, per_record, key, value, message):
    rows = _set(_rows(), 40, key, value)
    with pytest.raises(DataError, match=f"training records: {message}".replace("(", r"\(").replace(")", r"\)")
                       .replace("[", r"\[").replace("]", r"\]")):
        BarrageModel(tmp_path / "run").train(per_record, rows, _rows(16, seed=2), verbose=0)
    assert not (tmp_path / "run").exists()  # found mid-training: the directory goes


# -- what TensorFlow refuses, and training that diverges -------------------------------


def test_targets_the_network_cannot_meet_are_a_data_error(tmp_path, config):
    config["solver"]["epochs"] = 1
    config["model"]["outputs"][0]["loss"] = {"import": "categorical_crossentropy"}
    config["dataset"]["loader"]["params"]["outputs"] = {"label": ["f0", "f1", "f2"]}
    with pytest.raises(DataError, match="training records: the network cannot train on these batches: .*shape"):
        BarrageModel(tmp_path / "run").train(config, _rows(), _rows(16, seed=2), verbose=0)
    assert not (tmp_path / "run").exists()


def test_a_diverging_loss_stops_training_with_a_clear_line(tmp_path):
    config = small_config(epochs=3)
    config["solver"]["optimizer"] = {"import": "SGD", "learning_rate": 1e30}
    config["model"]["outputs"][0]["loss"] = {"import": "mse"}
    config["model"]["network"]["params"]["layers"] = [{"import": "Dense", "params": {"units": 1}}]
    config["dataset"]["loader"]["params"]["outputs"] = {"label": "target"}
    folder = write_inputs(tmp_path, config)
    outcome = run_cli(*train_args(folder, tmp_path / "run"))
    assert_one_error(outcome, 2, "the training loss became", "training diverged")
    assert not (tmp_path / "run").exists()


def test_a_diverging_loss_is_a_training_error_in_python(tmp_path):
    config = small_config(epochs=2)
    config["solver"]["optimizer"] = {"import": "SGD", "learning_rate": 1e30}
    config["model"]["outputs"][0]["loss"] = {"import": "mse"}
    config["model"]["network"]["params"]["layers"] = [{"import": "Dense", "params": {"units": 1}}]
    config["dataset"]["loader"]["params"]["outputs"] = {"label": "target"}
    with pytest.raises(TrainingError, match="epoch 1, batch"):
        BarrageModel(tmp_path / "run").train(config, _rows(), _rows(16, seed=2), verbose=0)
