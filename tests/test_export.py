"""``barrage export``: a SavedModel that serves raw columns without Barrage, the network
alone when the transformer cannot be expressed in TensorFlow, and ``.keras`` files."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from barrage import BarrageModel, IdentityTransformer, KeySelector, RecordMode, RecordTransformer, ServingSpec
from barrage.cli import cli
from barrage.export import export_format, signature_names, signature_path
from barrage.runtime import Runtime

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
HOUSING = EXAMPLES / "housing"


def invoke(*args, runtime=None):
    return CliRunner().invoke(cli, [str(a) for a in args], obj={"runtime": runtime} if runtime else None)


def quick(config_path: Path, epochs: int = 2) -> dict:
    config = json.loads(config_path.read_text())
    config["solver"]["epochs"] = epochs
    config["services"]["tensorboard"] = None
    return config


@pytest.fixture(scope="module")
def housing(tmp_path_factory):
    """The housing example (Standardizer on the features and the price), trained briefly."""
    folder = tmp_path_factory.mktemp("housing")
    BarrageModel(folder / "run", Runtime()).train(quick(HOUSING / "config.json"), str(HOUSING / "train.csv"),
                                                  str(HOUSING / "validation.csv"), verbose=0)
    return folder / "run"


SERVE_WITH_TENSORFLOW_ALONE = textwrap.dedent("""
    import json, sys
    import pandas as pd
    import tensorflow as tf

    export, data = sys.argv[1], sys.argv[2]
    described = json.load(open(export + ".signature.json"))
    serve = tf.saved_model.load(export).signatures["serving_default"]
    records = pd.read_csv(data)
    columns = {i["name"]: tf.constant(records[i["column"]].to_numpy(), dtype=i["dtype"]) for i in described["inputs"]}
    outputs = {name: value.numpy().tolist() for name, value in serve(**columns).items()}
    loaded = sorted(m.split(".")[0] for m in sys.modules if m.split(".")[0].startswith("barrage"))
    print(json.dumps({"outputs": outputs, "barrage_modules": loaded}))
""")


def test_the_saved_model_serves_raw_columns_like_barrage_score_with_tensorflow_alone(housing, tmp_path):
    scored = invoke("score", housing, HOUSING / "validation.csv", "-o", tmp_path / "scores.csv")
    assert scored.exit_code == 0, scored.output
    done = invoke("export", housing, tmp_path / "housing")
    assert done.exit_code == 0, done.output
    assert "with preprocessing: takes the records' raw values" in done.output
    described = json.loads((tmp_path / "housing.signature.json").read_text())
    assert described["format"] == "saved_model" and described["preprocessing"] is True
    assert described["signature"] == "serving_default"
    assert described["inputs"] == [
        {"name": key, "dtype": "float64", "shape": [None], "column": key} for key in ("age_years", "area_m2", "rooms")]
    assert described["outputs"] == [{"name": "price", "dtype": "float64", "shape": [None, 1]}]

    served = subprocess.run([sys.executable, "-c", SERVE_WITH_TENSORFLOW_ALONE, str(tmp_path / "housing"),
                             str(HOUSING / "validation.csv")], capture_output=True, text=True, timeout=300)
    assert served.returncode == 0, served.stderr[-3000:]
    result = json.loads(served.stdout.strip().splitlines()[-1])
    assert result["barrage_modules"] == []  # served by TensorFlow alone
    prices = np.array(result["outputs"]["price"])[:, 0]
    expected = pd.read_csv(tmp_path / "scores.csv")["price_0"].to_numpy()
    assert prices == pytest.approx(expected, rel=1e-9)
    assert expected.mean() > 1000  # postprocessed: prices, not standardised values


def test_composed_and_categorical_transformers_serve_text_columns_and_categories(tmp_path):
    config = quick(HOUSING / "config-composed.json")
    config["dataset"]["loader"]["params"]["outputs"] = {"price": "price", "band": "band"}
    steps = config["dataset"]["transformer"]["params"]["steps"]
    steps.append({"import": "CategoricalEncoder", "params": {"outputs": ["band"]}})
    config["model"]["network"] = {"import": "tests_price_and_band"}
    config["model"]["outputs"] = [
        {"name": "price", "loss": {"import": "mse"}, "loss_weight": 1.0},
        {"name": "band", "loss": {"import": "sparse_categorical_crossentropy"}, "loss_weight": 1.0},
    ]
    runtime = Runtime()
    runtime.registry.register("network", "tests_price_and_band", price_and_band)
    model = BarrageModel(tmp_path / "run", runtime)
    model.train(config, str(HOUSING / "train.csv"), str(HOUSING / "validation.csv"), verbose=0)
    done = invoke("export", tmp_path / "run", tmp_path / "served", runtime=runtime)
    assert done.exit_code == 0, done.output
    described = json.loads((tmp_path / "served.signature.json").read_text())
    assert {i["column"]: i["dtype"] for i in described["inputs"]} == {
        "area_m2": "float64", "rooms": "float64", "age_years": "float64", "district": "string"}
    records = pd.read_csv(HOUSING / "validation.csv").iloc[:40]
    records.loc[3, "district"] = "nowhere"  # out of vocabulary
    outputs = serve(tmp_path / "served", described, records)
    scores = model.predict(records)
    assert outputs["price"][:, 0] == pytest.approx([s["price"][0] for s in scores], rel=1e-9)
    assert outputs["band"] == pytest.approx(np.stack([s["band"] for s in scores]), rel=1e-6)
    assert [b.decode() for b in outputs["band_category"]] == [s["band_category"] for s in scores]


def price_and_band(vocab_size_district, vocab_size_band):
    import keras

    numbers = keras.Input((3,), name="numbers")
    district = keras.Input((vocab_size_district,), name="district")
    hidden = keras.layers.Dense(8, activation="relu")(keras.layers.Concatenate()([numbers, district]))
    price = keras.layers.Dense(1)(hidden)
    band = keras.layers.Dense(vocab_size_band, activation="softmax")(hidden)
    return keras.Model({"numbers": numbers, "district": district}, {"price": price, "band": band})


def serve(path, described, records):
    import tensorflow as tf

    function = tf.saved_model.load(str(path)).signatures["serving_default"]
    columns = {i["name"]: tf.constant(records[i["column"]].to_numpy(), dtype=i["dtype"]) for i in described["inputs"]}
    return {name: value.numpy() for name, value in function(**columns).items()}


def test_text_is_tokenised_inside_the_saved_model(tmp_path):
    model = BarrageModel(tmp_path / "run", Runtime())
    model.train(quick(EXAMPLES / "text" / "config.json", epochs=1), str(EXAMPLES / "text" / "train.csv"),
                str(EXAMPLES / "text" / "validation.csv"), verbose=0)
    done = invoke("export", tmp_path / "run", tmp_path / "served")
    assert done.exit_code == 0, done.output
    described = json.loads((tmp_path / "served.signature.json").read_text())
    assert described["inputs"] == [{"name": "review", "dtype": "string", "shape": [None], "column": "review"}]
    records = pd.read_csv(EXAMPLES / "text" / "validation.csv").iloc[:30]
    records.loc[0, "review"] = "Ünknown wörds, PUNCTUATION!!! and\u00a0spaces"
    outputs = serve(tmp_path / "served", described, records)
    expected = np.stack([s["sentiment"] for s in model.predict(records)])
    assert outputs["sentiment"] == pytest.approx(expected, rel=1e-5)


class Doubler(IdentityTransformer):
    """Doubles the inputs, and has no TensorFlow operations (the contract's default)."""

    tensorflow_ops = RecordTransformer.tensorflow_ops

    def transform(self, data_record):
        return ({name: np.asarray(value) * 2 for name, value in data_record[0].items()}, *data_record[1:])


def test_without_tensorflow_operations_the_network_is_exported_alone_and_says_so(tmp_path, config, records):
    config["dataset"]["transformer"] = {"import": "tests_doubler"}
    runtime = Runtime()
    runtime.registry.register("transformer", "tests_doubler", Doubler)
    model = BarrageModel(tmp_path / "run", runtime)
    model.train(config, records(48, seed=1), records(16, seed=2), verbose=0)
    done = invoke("export", tmp_path / "run", tmp_path / "alone", runtime=runtime)
    assert done.exit_code == 0, done.output
    assert ("without preprocessing: the network alone: the transformer Doubler cannot express its transform and "
            "postprocess as TensorFlow operations") in done.output
    described = json.loads((tmp_path / "alone.signature.json").read_text())
    assert described["preprocessing"] is False
    assert described["inputs"] == [{"name": "features", "dtype": "float32", "shape": [None, 3]}]
    features = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    import tensorflow as tf

    function = tf.saved_model.load(str(tmp_path / "alone")).signatures["serving_default"]
    served = function(features=tf.constant(features))["label"].numpy()
    best = model.load().network  # what was exported: the best checkpoint
    assert served == pytest.approx(best.predict({"features": features}, verbose=0)["label"], rel=1e-5)


def test_a_keras_file_holds_the_network(housing, tmp_path):
    import keras

    done = invoke("export", housing, tmp_path / "model.keras")  # the format follows the extension
    assert done.exit_code == 0, done.output
    described = json.loads((tmp_path / "model.signature.json").read_text())
    assert described["format"] == "keras" and described["preprocessing"] is False
    assert described["inputs"] == [{"name": "features", "dtype": "float32", "shape": [None, 3]}]
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    network = BarrageModel(housing, Runtime()).load().network
    features = np.random.default_rng(1).normal(size=(4, 3)).astype(np.float32)
    assert loaded.predict({"features": features}, verbose=0)["price"] == pytest.approx(
        network.predict({"features": features}, verbose=0)["price"], rel=1e-6)
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".barrage-tmp-")]


def test_bad_output_or_format_exits_2_before_any_work(housing, tmp_path):
    unknown = invoke("export", housing, tmp_path / "out", "--format", "onnx")
    assert unknown.exit_code == 2
    assert unknown.output.strip() == "error: --format onnx: unknown export format; use saved_model or keras"
    wrong = invoke("export", housing, tmp_path / "out.zip", "--format", "keras")
    assert wrong.exit_code == 2 and "unsupported Keras model type '.zip'; use .keras" in wrong.output
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "mine.txt").write_text("mine")
    taken = invoke("export", housing, tmp_path / "taken")
    assert taken.exit_code == 2 and "taken: already exists; remove it or pass --overwrite" in taken.output
    assert [p.name for p in (tmp_path / "taken").iterdir()] == ["mine.txt"]
    (tmp_path / "other.signature.json").write_text("{}")
    described = invoke("export", housing, tmp_path / "other")
    assert described.exit_code == 2 and "other.signature.json: already exists" in described.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["other.signature.json", "taken"]
    kept = invoke("export", housing, tmp_path / "taken", "--overwrite")  # a folder of the user's: never replaced
    assert kept.exit_code == 2 and "taken: is a folder that holds no SavedModel (no saved_model.pb)" in kept.output
    assert [p.name for p in (tmp_path / "taken").iterdir()] == ["mine.txt"]
    assert invoke("export", housing, tmp_path / "served").exit_code == 0
    (tmp_path / "served" / "stale.txt").write_text("from before")
    replaced = invoke("export", housing, tmp_path / "served", "--overwrite")  # an earlier export is
    assert replaced.exit_code == 0, replaced.output
    assert (tmp_path / "served" / "saved_model.pb").is_file() and not (tmp_path / "served" / "stale.txt").exists()


def test_names_formats_and_where_the_description_goes():
    assert export_format("m.keras", None) == "keras" and export_format("served", None) == "saved_model"
    assert signature_path("served/", "saved_model") == "served.signature.json"
    assert signature_path("m.keras", "keras") == "m.signature.json"
    assert signature_names(["area m2", "_x", "a", "a"]) == ["area_m2", "c_x", "a", "a_2"]


def test_key_selector_stacks_columns_as_load_does():
    import tensorflow as tf

    loader = KeySelector(RecordMode.SCORE, inputs={"v": ["a", "b"], "s": "c"})
    ops = loader.tensorflow_ops({"v": ServingSpec("float32", (2,)), "s": ServingSpec("string", None)})
    assert dict(ops.columns) == {"a": ServingSpec("float32", ()), "b": ServingSpec("float32", ()),
                                 "c": ServingSpec("string", ())}
    loaded = ops.load({"a": tf.constant([1.0, 2.0]), "b": tf.constant([3.0, 4.0]), "c": tf.constant(["x", "y"])})
    assert loaded["v"].numpy().tolist() == [[1.0, 3.0], [2.0, 4.0]]
    assert loader.tensorflow_ops({"v": ServingSpec("float32", (3,)), "s": ServingSpec("string", ())}) is None
