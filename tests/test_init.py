"""``barrage init``: a starter config from a data file, which validates and trains as written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from barrage import prepare_config
from barrage.cli import cli
from barrage.errors import ComponentError, DataError
from barrage.runtime import Runtime
from barrage.starter import infer_task, output_name, starter_config

HOUSING = Path(__file__).resolve().parent.parent / "examples" / "housing"


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_tasks_are_chosen_from_the_target_values():
    assert infer_task(pd.Series(["a", "b", "a"])) == "classification"
    assert infer_task(pd.Series([True, False, True])) == "classification"
    assert infer_task(pd.Series([0, 1, 2, 1, 0])) == "classification"
    assert infer_task(pd.Series([1.0, 2.0, 1.0])) == "classification"  # integral floats (a CSV column with gaps)
    assert infer_task(pd.Series([0.5, 1.5, 2.5])) == "regression"
    assert infer_task(pd.Series(range(100))) == "regression"  # every value distinct
    assert infer_task(pd.Series(np.arange(300) % 40)) == "regression"  # more than 20 distinct values


def test_output_names_are_safe_for_keras():
    assert output_name("price") == "price" and output_name("sale price") == "sale_price"
    assert output_name("2nd") == "target_2nd"


def test_regression_of_house_prices(tmp_path):
    done = invoke("init", HOUSING / "train.csv", "--target", "price", "-o", tmp_path / "config.json")
    assert done.exit_code == 0, done.output
    assert "regression of 'price' from 3 numeric column(s): area_m2, rooms, age_years" in done.output
    assert "skipped column 'district': not numeric" in done.output
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["dataset"]["loader"]["params"] == {
        "inputs": {"features": ["area_m2", "rooms", "age_years"]}, "outputs": {"price": "price"}}
    assert config["dataset"]["transformer"] == {"import": "Standardizer", "params": {"outputs": ["price"]}}
    output = config["model"]["outputs"][0]
    assert output["loss"] == {"import": "mse"} and output["metrics"] == [{"import": "mae"}]
    layers = config["model"]["network"]["params"]["layers"]
    frame = pd.read_csv(HOUSING / "train.csv")
    assert layers[0]["params"]["mean"] == pytest.approx(frame[["area_m2", "rooms", "age_years"]].mean().tolist())
    assert layers[0]["params"]["variance"] == pytest.approx(
        frame[["area_m2", "rooms", "age_years"]].var(ddof=0).tolist(), rel=1e-5)
    assert layers[-1] == {"import": "Dense", "params": {"units": 1}}
    assert invoke("validate", tmp_path / "config.json").exit_code == 0


def test_text_labels_are_encoded_and_integer_ids_are_used_as_they_are(tmp_path):
    frame = pd.read_csv(HOUSING / "train.csv")
    runtime = Runtime()
    banded = starter_config(frame, "band", runtime.registry)
    assert banded.task == "classification" and banded.classes == ["budget", "mid", "premium"]
    assert banded.config["dataset"]["transformer"] == {"import": "CategoricalEncoder", "params": {"outputs": ["band"]}}
    assert banded.config["model"]["network"]["params"]["layers"][-1]["params"] == {
        "units": "{{vocab_size_band}}", "activation": "softmax"}
    assert "price" in banded.features  # every numeric column but the target
    frame["rooms"] = frame["rooms"] - frame["rooms"].min()  # ids 0..k-1
    rooms = starter_config(frame, "rooms", runtime.registry)
    assert "transformer" not in rooms.config["dataset"]
    assert rooms.config["model"]["network"]["params"]["layers"][-1]["params"]["units"] == len(rooms.classes)
    assert rooms.config["services"]["best_checkpoint"] == {"monitor": "val_accuracy", "mode": "max"}
    for made in (banded, rooms):
        prepare_config(made.config, runtime)


def test_a_starter_config_trains_as_written(tmp_path):
    frame = pd.read_csv(HOUSING / "train.csv")
    frame.iloc[:96].to_csv(tmp_path / "train.csv", index=False)
    frame.iloc[96:128].to_csv(tmp_path / "validation.csv", index=False)
    assert invoke("init", tmp_path / "train.csv", "--target", "band", "-o", tmp_path / "config.yaml").exit_code == 0
    assert yaml.safe_load((tmp_path / "config.yaml").read_text())["solver"]["epochs"] == 50
    done = invoke("train", tmp_path / "config.yaml", tmp_path / "train.csv", tmp_path / "validation.csv",
                  "-a", tmp_path / "run", "--verbose", "0")
    assert done.exit_code == 0, done.output
    assert "best epoch" in done.output and (tmp_path / "run" / "best_checkpoint" / "model.weights.h5").is_file()


def test_missing_values_and_text_columns_are_left_out(tmp_path):
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "b": [1.0, None, 3.0, 4.0], "c": list("wxyz"),
                          "y": [0.1, 0.7, 0.3, 0.9]})
    made = starter_config(frame, "y", Runtime().registry)
    assert made.features == ["a"] and made.task == "regression"
    assert made.skipped == {"b": "has missing or infinite values", "c": "not numeric"}


@pytest.mark.parametrize("target, frame, message", [
    ("nope", None,
     "train.csv: no column 'nope' to predict (columns: area_m2, rooms, age_years, district, price, band)"),
    ("y", pd.DataFrame({"c": ["a", "b"], "y": [1, 2]}), "no numeric column without missing values besides 'y' "
                                                        "to use as a feature (skipped: 'c' (not numeric))"),
    ("y", pd.DataFrame({"a": [1, 2, 3], "y": [1.0, None, 2.0]}), "record 1: column 'y' is missing"),
    ("y", pd.DataFrame({"a": [1.5, 2.5, 3.5], "y": ["yes", "yes", "yes"]}),
     "column 'y' holds one class ('yes') in every record; a classifier needs at least two"),
])
def test_bad_data_exits_2_and_writes_nothing(tmp_path, target, frame, message):
    data = HOUSING / "train.csv" if frame is None else tmp_path / "train.csv"
    if frame is not None:
        frame.to_csv(data, index=False)
    done = invoke("init", data, "--target", target, "-o", tmp_path / "config.json")
    assert done.exit_code == 2 and message in done.output, done.output
    assert not (tmp_path / "config.json").exists()


class RegistryWithoutPlugins:
    """A registry where no plugin transformer is installed (what starter_config asks)."""

    def resolve(self, kind, name):
        raise ComponentError(f"no {kind} named '{name}'")


def test_without_the_tabular_plugin_labels_that_need_encoding_are_refused_and_targets_stay_raw():
    frame = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "y": ["p", "q", "p", "q"], "z": [0.5, 1.5, 2.5, 3.5]})
    with pytest.raises(DataError, match=r"column 'y' holds class labels \('p', 'q'\) that are not the ids 0..k-1; "
                                        "barrage init encodes them with CategoricalEncoder, from barrage-tabular"):
        starter_config(frame, "y", RegistryWithoutPlugins())
    regression = starter_config(frame.drop(columns=["y"]), "z", RegistryWithoutPlugins())
    assert "transformer" not in regression.config["dataset"]


def test_a_text_target_cannot_be_forced_into_regression():
    frame = pd.DataFrame({"a": [1.0, 2.0], "y": ["p", "q"]})
    with pytest.raises(DataError, match="column 'y' holds text, which cannot be a regression target"):
        starter_config(frame, "y", Runtime().registry, task="regression")


def test_an_existing_output_is_kept_unless_overwrite(tmp_path):
    target = tmp_path / "config.json"
    target.write_text("mine")
    kept = invoke("init", HOUSING / "train.csv", "--target", "price", "-o", target)
    assert kept.exit_code == 2 and "already exists; remove it or pass --overwrite" in kept.output
    assert target.read_text() == "mine"
    wrong = invoke("init", HOUSING / "train.csv", "--target", "price", "-o", tmp_path / "config.toml")
    assert wrong.exit_code == 2 and "unsupported config type '.toml'; use .json, .yaml, .yml" in wrong.output
    replaced = invoke("init", HOUSING / "train.csv", "--target", "rooms", "-o", target, "--overwrite",
                      "--task", "regression")
    assert replaced.exit_code == 0, replaced.output
    assert json.loads(target.read_text())["model"]["outputs"][0]["name"] == "rooms"


def test_text_labels_that_partly_look_like_numbers_are_declared_text():
    """Codes like "101" beside "X7" would read as numbers in a file or batch without "X7"
    (and be refused in one with a few): the starter declares the target text."""
    frame = pd.read_csv(HOUSING / "train.csv")
    runtime = Runtime()
    assert "text_keys" not in starter_config(frame, "band", runtime.registry).config["dataset"]  # names: no need
    assert "text_keys" not in starter_config(frame, "rooms", runtime.registry).config["dataset"]  # numbers
    frame["band"] = frame["band"].map({"budget": "101", "mid": "102", "premium": "X7"})
    coded = starter_config(frame, "band", runtime.registry)
    assert coded.config["dataset"]["text_keys"] == ["band"]
    assert coded.classes == ["101", "102", "X7"]
    prepare_config(coded.config, runtime)
    frame["band"] = frame["band"].map({"101": 101, "102": 102, "X7": "X7"}).astype(object)  # as JSON has them
    assert starter_config(frame, "band", runtime.registry).config["dataset"]["text_keys"] == ["band"]
