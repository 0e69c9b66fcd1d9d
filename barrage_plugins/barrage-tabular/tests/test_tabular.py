"""barrage-tabular's ``Standardizer`` and ``CategoricalEncoder``, as installed.

``ComposedTransformer`` has its own module, ``test_composed.py``.
"""

from __future__ import annotations

import json
import os
from importlib import metadata
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from barrage import ArtifactError, BarrageModel, ConfigError, DataError, KeySelector, RecordMode
from barrage.cli import cli
from barrage.records import read_records
from barrage_tabular.composed import ComposedTransformer
from barrage_tabular.transformers import CategoricalEncoder, Standardizer

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "housing"  # the repository's examples
SOURCE = f"barrage-tabular {metadata.version('barrage-tabular')}"


def example_config(name: str) -> dict:
    with open(os.path.join(EXAMPLE, name), encoding="utf-8") as handle:
        config = json.load(handle)
    config["solver"]["epochs"] = 3
    config["services"]["tensorboard"] = None  # not what these tests are about; saves time
    return config


def listed_components():
    result = CliRunner().invoke(cli, ["components", "list", "--json"])
    assert result.exit_code == 0, result.output
    return {(row["kind"], row["name"]): row for row in json.loads(result.stdout)}


# -- registration ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ["Standardizer", "CategoricalEncoder", "ComposedTransformer"])
def test_transformers_are_listed_as_entry_points_of_the_barrage_tabular_distribution(name):
    row = listed_components()[("transformer", name)]
    assert row["source"] == SOURCE
    module = "composed" if name == "ComposedTransformer" else "transformers"
    assert row["target"] == f"barrage_tabular.{module}:{name}"


def test_importing_the_plugin_does_not_import_tensorflow(fresh_python):
    fresh_python(
        "import sys\n"
        "import barrage_tabular.transformers, barrage_tabular.composed\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'barrage-tabular imported tensorflow'\n"
    )


# -- Standardizer ---------------------------------------------------------------------


def numeric_records(count=50, seed=0):
    rng = np.random.default_rng(seed)
    return [
        {"a": float(1e6 + rng.normal(0, 3)), "b": float(rng.normal(5, 2)), "c": 7.25, "y": float(rng.normal(-40, 10))}
        for _ in range(count)
    ]


def fitted_standardizer(records, batch_size=7, **params):
    loader = KeySelector(RecordMode.TRAIN, inputs={"features": ["a", "b", "c"]}, outputs={"y": "y"})
    params = {"inputs": ["features"], "outputs": ["y"], **params}
    transformer = Standardizer(RecordMode.TRAIN, loader, batch_size=batch_size, **params)
    transformer.fit(read_records(records))
    return transformer


def test_standardizer_fits_mean_and_std_in_one_streaming_pass_over_uneven_batches():
    records = numeric_records(50)
    transformer = fitted_standardizer(records, batch_size=7)  # 7 batches, the last one short
    features = np.array([[r["a"], r["b"], r["c"]] for r in records])
    targets = np.array([r["y"] for r in records])
    stats = transformer.statistics
    np.testing.assert_allclose(stats["inputs"]["features"]["mean"], features.mean(axis=0), rtol=1e-12)
    # feature "a" sits at 1e6 with a spread of 3: naive sums of squares would lose it
    np.testing.assert_allclose(stats["inputs"]["features"]["std"][:2], features.std(axis=0)[:2], rtol=1e-9)
    assert stats["inputs"]["features"]["std"][2] == 1.0  # constant feature: only centred
    np.testing.assert_allclose(stats["outputs"]["y"]["mean"], targets.mean(), rtol=1e-12)
    np.testing.assert_allclose(stats["outputs"]["y"]["std"], targets.std(), rtol=1e-9)
    assert stats["outputs"]["y"]["count"] == 50
    assert transformer.network_params == {}


def test_standardizer_loops_once_over_the_loaded_batches(monkeypatch):
    calls = []
    original = Standardizer.loaded_batches

    def counting(self, records, batch_size=4096):
        calls.append(batch_size)
        yield from original(self, records, batch_size)

    monkeypatch.setattr(Standardizer, "loaded_batches", counting)
    fitted_standardizer(numeric_records(20), batch_size=6)
    assert calls == [6]


def test_standardizer_transform_works_per_record_and_batched_and_postprocess_undoes_it():
    records = numeric_records(40)
    transformer = fitted_standardizer(records)
    loader = transformer.loader
    batched = transformer.transform(loader.load_columns(read_records(records)))
    x, y = batched[0]["features"], batched[1]["y"]
    assert x.dtype == np.float32 and y.dtype == np.float32
    np.testing.assert_allclose(x[:, :2].mean(axis=0), 0.0, atol=1e-4)
    np.testing.assert_allclose(x[:, :2].std(axis=0), 1.0, atol=1e-4)
    np.testing.assert_array_equal(x[:, 2], 0.0)  # constant feature: no division by zero, no NaN
    single = transformer.transform(loader.load(records[3]))
    np.testing.assert_allclose(single[0]["features"], x[3], rtol=1e-6)
    np.testing.assert_allclose(single[1]["y"], y[3], rtol=1e-6)

    truth = np.array([r["y"] for r in records])
    restored = transformer.postprocess({"y": y[:, None], "other": np.ones(40)})
    np.testing.assert_allclose(restored["y"][:, 0], truth, rtol=1e-5)
    np.testing.assert_array_equal(restored["other"], 1.0)  # outputs it did not scale pass through
    np.testing.assert_allclose(transformer.postprocess({"y": np.float32(0.0)})["y"], truth.mean(), rtol=1e-12)


def test_standardizer_vector_outputs_are_restored_per_feature_and_shape_mismatches_are_refused():
    records = numeric_records(30)
    loader = KeySelector(RecordMode.TRAIN, inputs={"features": ["c"]}, outputs={"pair": ["b", "y"]})
    transformer = Standardizer(RecordMode.TRAIN, loader, outputs="pair")
    transformer.fit(read_records(records))
    pairs = np.array([[r["b"], r["y"]] for r in records])
    scaled = transformer.transform(loader.load_columns(read_records(records)))[1]["pair"]
    np.testing.assert_allclose(transformer.postprocess({"pair": scaled})["pair"], pairs, rtol=1e-5)
    with pytest.raises(ConfigError, match=r"output 'pair' has shape \(30, 1\).*\(2,\)"):
        transformer.postprocess({"pair": np.zeros((30, 1))})  # would otherwise broadcast to (30, 2)


def test_standardizer_scoring_transform_leaves_missing_outputs_and_weights_alone():
    transformer = fitted_standardizer(numeric_records(20))
    scored = transformer.transform(({"features": np.array([1e6, 5.0, 7.25])},))
    assert len(scored) == 1 and scored[0]["features"].shape == (3,)
    weighted = transformer.transform(({"features": np.zeros(3)}, {"y": 1.0}, {"y": 0.5}))
    assert weighted[2] == {"y": 0.5}


def test_standardizer_state_round_trips_through_plain_json(tmp_path):
    records = numeric_records(30)
    transformer = fitted_standardizer(records)
    transformer.save(str(tmp_path))
    state = json.loads((tmp_path / "standardizer.json").read_text())
    assert set(state) == {"inputs", "outputs"} and state["outputs"]["y"]["count"] == 30

    loader = KeySelector(RecordMode.SCORE, inputs={"features": ["a", "b", "c"]})
    reloaded = Standardizer(RecordMode.SCORE, loader, inputs=["features"], outputs=["y"])
    reloaded.load(str(tmp_path))
    record = loader.load(records[5])
    np.testing.assert_allclose(reloaded.transform(record)[0]["features"], transformer.transform(record)[0]["features"])
    np.testing.assert_allclose(reloaded.postprocess({"y": np.array([1.5])})["y"],
                               transformer.postprocess({"y": np.array([1.5])})["y"])

    other = Standardizer(RecordMode.SCORE, loader, inputs=["features"])
    with pytest.raises(ArtifactError, match="configured for"):
        other.load(str(tmp_path))


def test_standardizer_bad_params_and_data_give_clear_errors():
    loader = KeySelector(RecordMode.TRAIN, inputs={"features": ["a", "b", "c"]}, outputs={"y": "y"})
    with pytest.raises(ValueError, match="at least one name"):
        Standardizer(RecordMode.TRAIN, loader)
    with pytest.raises(ConfigError, match=r"dataset.transformer.params.inputs: .*\['nope'\].*\['features'\]"):
        Standardizer(RecordMode.TRAIN, loader, inputs=["nope"]).fit(read_records(numeric_records(5)))
    records = numeric_records(10)
    records[4]["b"] = float("nan")
    with pytest.raises(DataError, match=r"records: record 4, column 'b': NaN \(input 'features'\[1\]\); set the "
                                        r"Standardizer's fill_missing"):
        fitted_standardizer(records)
    records[4]["b"] = float("inf")
    with pytest.raises(DataError, match=r"record 4, column 'b': inf"):
        fitted_standardizer(records, fill_missing=True)
    with pytest.raises(ValueError, match="not fitted"):
        Standardizer(RecordMode.TRAIN, loader, inputs="features").transform(({"features": np.zeros(3)},))


def test_standardizer_config_with_an_unknown_param_is_refused_before_training(tmp_path, config, records):
    config["dataset"]["transformer"] = {"import": "Standardizer", "params": {"inputz": ["features"]}}
    with pytest.raises(ConfigError, match="dataset.transformer.params"):
        BarrageModel(str(tmp_path / "run")).train(config, records(32), records(16), verbose=0)
    assert not (tmp_path / "run").exists()


def test_standardised_regression_target_is_scored_in_its_original_units(tmp_path, config, records):
    def with_value(rows):
        # a large-valued linear target a small network can fit once it is standardised
        for row in rows:
            row["value"] = 50_000.0 + 20_000.0 * (2.0 * row["f0"] - row["f1"] + 0.5 * row["f2"])
        return rows

    train_rows, validation_rows = with_value(records(240, 1)), with_value(records(64, 2))
    scoring_rows = with_value(records(80, 3))
    config["dataset"]["loader"]["params"]["outputs"] = {"value": "value"}
    config["dataset"]["transformer"] = {
        "import": "Standardizer",
        "params": {"inputs": ["features"], "outputs": "value"},
    }
    config["model"]["network"]["params"].update(output="value", layers=[{"import": "Dense", "params": {"units": 1}}])
    config["model"]["outputs"] = [{"name": "value", "loss": {"import": "mse"}}]
    config["solver"].update(epochs=3, optimizer={"import": "Adam", "learning_rate": 0.05})
    config["services"] = {"best_checkpoint": {"monitor": "val_loss", "mode": "min"}}
    BarrageModel(str(tmp_path / "run")).train(config, train_rows, validation_rows, verbose=0)

    scores = BarrageModel(str(tmp_path / "run")).predict(scoring_rows)
    predicted = np.array([float(np.ravel(s["value"])[0]) for s in scores])
    truth = np.array([row["value"] for row in scoring_rows])
    assert abs(predicted.mean() - truth.mean()) < 0.1 * truth.std()
    assert 0.8 < predicted.std() / truth.std() < 1.2
    assert np.mean(np.abs(predicted - truth)) < 0.15 * truth.std()
    assert np.corrcoef(predicted, truth)[0, 1] > 0.97


def test_housing_example_trains_and_scores_prices_in_currency_units(tmp_path, example_module):
    data = example_module("housing")
    train, validation = data.make(200, seed=1), data.make(60, seed=2)
    artifact_dir = str(tmp_path / "housing")
    BarrageModel(artifact_dir).train(example_config("config.json"), train, validation, verbose=0)
    assert os.path.isfile(os.path.join(artifact_dir, "dataset", "standardizer.json"))

    scores = BarrageModel(artifact_dir).predict(validation.drop(columns=["price"]))
    predicted = np.array([float(np.ravel(s["price"])[0]) for s in scores])
    truth = validation["price"].to_numpy()
    assert abs(predicted.mean() - truth.mean()) < 0.25 * truth.std()
    assert np.corrcoef(predicted, truth)[0, 1] > 0.6


# -- CategoricalEncoder ---------------------------------------------------------------


def encoder(records, mode=RecordMode.TRAIN, **params):
    loader = KeySelector(mode, inputs={"colour": "colour", "size": "size"}, outputs={"kind": "kind"})
    params = {"inputs": ["colour", "size"], "outputs": ["kind"], "batch_size": 3, **params}
    transformer = CategoricalEncoder(mode, loader, **params)
    transformer.fit(read_records(records))
    return transformer


CATEGORY_RECORDS = [
    {"colour": "red", "size": 3, "kind": "cat"},
    {"colour": "blue", "size": 1, "kind": "dog"},
    {"colour": "red", "size": 3, "kind": "cat"},
    {"colour": "green", "size": 2, "kind": "dog"},
    {"colour": "red", "size": None, "kind": "bird"},
]


def test_categorical_encoder_vocabulary_ids_oov_and_network_params():
    transformer = encoder(CATEGORY_RECORDS)
    assert transformer.vocabularies["inputs"]["colour"] == ["blue", "green", "red"]
    assert transformer.vocabularies["inputs"]["size"] == [1, 2, 3]  # the missing size is not a category
    assert transformer.network_params == {"vocab_size_colour": 4, "vocab_size_size": 4, "vocab_size_kind": 4}
    x, y = transformer.transform(({"colour": "red", "size": 2.0}, {"kind": "dog"}))
    assert (int(x["colour"]), int(x["size"]), int(y["kind"])) == (3, 2, 3)
    # unseen and missing categories map to the out-of-vocabulary id 0
    x, y = transformer.transform(({"colour": "purple", "size": float("nan")}, {"kind": "fish"}))
    assert (int(x["colour"]), int(x["size"]), int(y["kind"])) == (0, 0, 0)
    batched = transformer.transform(
        ({"colour": np.array(["blue", "mauve", "green"], dtype=object), "size": np.array([3, 9, 1])},)
    )
    assert batched[0]["colour"].tolist() == [1, 0, 2] and batched[0]["size"].tolist() == [3, 0, 1]
    assert batched[0]["colour"].dtype == np.int32


def test_a_code_read_as_the_other_kind_is_still_its_category():
    """Digits are read as a number alone and as text beside text ("7" alone is 7): a
    record's id must not depend on the records scored with it."""
    records = [{"colour": code, "size": 1, "kind": "cat"} for code in ("1", "2", "A", "B", "C", "D")]
    transformer = encoder(records, mode=RecordMode.TRAIN)  # fitted 3 at a time, on the column read whole
    assert transformer.vocabularies["inputs"]["colour"] == ["1", "2", "A", "B", "C", "D"]
    alone = transformer.transform(({"colour": np.array([1]), "size": np.array(["1"], dtype=object)},))
    beside = transformer.transform(({"colour": np.array(["1", "A"], dtype=object), "size": np.array([1, 1])},))
    assert alone[0]["colour"].tolist() == [1] and beside[0]["colour"].tolist() == [1, 3]
    assert alone[0]["size"].tolist() == [1]  # text that is a whole number, in a vocabulary of numbers


def test_categorical_encoder_one_hot_and_max_categories():
    transformer = encoder(CATEGORY_RECORDS, one_hot=["kind"], max_categories=2)
    assert transformer.vocabularies["inputs"]["colour"] == ["blue", "red"]  # red (3) then blue/green tie -> blue
    assert transformer.vocabularies["outputs"]["kind"] == ["cat", "dog"]
    _, y = transformer.transform(({"colour": "red", "size": 1}, {"kind": np.array(["dog", "bird"], dtype=object)}))
    np.testing.assert_array_equal(y["kind"], [[0, 0, 1], [1, 0, 0]])  # bird fell out: OOV row
    assert y["kind"].dtype == np.float32
    everything = encoder(CATEGORY_RECORDS, one_hot=True)
    x, _ = everything.transform(({"colour": "green", "size": 3}, {"kind": "cat"}))
    np.testing.assert_array_equal(x["colour"], [0, 0, 1, 0])
    with pytest.raises(ValueError, match="not in 'inputs' or 'outputs'"):
        encoder(CATEGORY_RECORDS, one_hot=["colour", "weight"])


def test_categorical_encoder_postprocess_names_the_most_probable_known_category():
    transformer = encoder(CATEGORY_RECORDS)  # kind ids: 1 bird, 2 cat, 3 dog
    one = transformer.postprocess({"kind": np.array([0.1, 0.2, 0.6, 0.1])})
    assert one["kind_category"] == "cat"
    np.testing.assert_array_equal(one["kind"], [0.1, 0.2, 0.6, 0.1])  # probabilities kept
    # the OOV id is never the answer, even when it has the highest probability
    batch = transformer.postprocess({"kind": np.array([[0.9, 0.02, 0.03, 0.05], [0.0, 0.7, 0.2, 0.1]])})
    assert batch["kind_category"].tolist() == ["dog", "bird"]
    with pytest.raises(ConfigError, match="vocab_size_kind"):
        transformer.postprocess({"kind": np.array([0.5, 0.5])})


def test_categorical_encoder_state_round_trips_and_refuses_bad_values(tmp_path):
    transformer = encoder(CATEGORY_RECORDS)
    transformer.save(str(tmp_path))
    state = json.loads((tmp_path / "categorical_encoder.json").read_text())
    assert state["inputs"]["size"] == [1, 2, 3] and state["oov_id"] == 0
    loader = KeySelector(RecordMode.SCORE, inputs={"colour": "colour", "size": "size"})
    reloaded = CategoricalEncoder(RecordMode.SCORE, loader, inputs=["colour", "size"], outputs=["kind"])
    reloaded.load(str(tmp_path))
    assert reloaded.network_params == transformer.network_params
    (x,) = reloaded.transform(loader.load({"colour": "blue", "size": 3}))
    assert (int(x["colour"]), int(x["size"])) == (1, 3)
    with pytest.raises(DataError, match="input 'colour'"):
        encoder([{"colour": {"r": 1}, "size": 1, "kind": "cat"}] * 2)


def test_categorical_example_trains_and_scores_unseen_districts(tmp_path, example_module):
    data = example_module("housing")
    train, validation = data.make(200, seed=1), data.make(60, seed=2)
    artifact_dir = str(tmp_path / "districts")
    BarrageModel(artifact_dir).train(example_config("config-categorical.json"), train, validation, verbose=0)
    with open(os.path.join(artifact_dir, "network_params.json")) as handle:
        assert json.load(handle) == {"vocab_size_district": len(data.DISTRICTS) + 1, "vocab_size_band": 4}

    scoring = pd.concat([validation, pd.DataFrame([{**validation.iloc[0].to_dict(), "district": "new quarter"}])])
    scores = BarrageModel(artifact_dir).predict(scoring.drop(columns=["band"]))
    assert len(scores) == len(scoring)
    assert {s["band_category"] for s in scores} <= {"budget", "mid", "premium"}
    assert all(np.isclose(float(np.sum(s["band"])), 1.0, atol=1e-4) for s in scores)
    # the park district is almost always premium: the encoder's ids carry that information
    park = [s["band_category"] for s, d in zip(scores, scoring["district"]) if d == "park"]
    assert park and park.count("premium") == len(park)


@pytest.mark.parametrize("make", ["standardizer", "encoder", "composed"])
def test_columns_and_per_record_pipelines_give_the_same_batches(make):
    from barrage.sources import make_batch_source

    if make == "standardizer":
        records = numeric_records(20)
        fitted = fitted_standardizer(records)
    elif make == "composed":
        records = [dict(CATEGORY_RECORDS[i % 5], size=i % 4) for i in range(20)]
        fitted = ComposedTransformer(RecordMode.TRAIN, KeySelector(RecordMode.TRAIN, inputs={
            "colour": "colour", "size": "size"}, outputs={"kind": "kind"}), steps=[
            {"import": "Standardizer", "params": {"inputs": "size"}},
            {"import": "CategoricalEncoder", "params": {"inputs": "colour", "outputs": "kind", "one_hot": ["kind"]}},
        ])
        fitted.fit(read_records(records))
    else:
        records = [dict(CATEGORY_RECORDS[i % 5], size=i % 4) for i in range(20)]
        fitted = encoder(records, one_hot=["kind"])
    table = read_records(records)
    pipelines = [
        make_batch_source(table, mode=RecordMode.VALIDATION, loader=fitted.loader, transformer=fitted, batch_size=8,
                          per_record=force)
        for force in (False, True)
    ]
    assert [p.name for p in pipelines] == ["columns", "records"]
    columns, per_record = (p.numpy_batches() for p in pipelines)
    assert len(columns) == len(per_record) == 3
    for left, right in zip(columns, per_record):
        for part_left, part_right in zip(left, right):
            assert part_left.keys() == part_right.keys()
            for name in part_left:
                np.testing.assert_allclose(part_left[name], part_right[name], rtol=1e-6)


def test_standardizer_fill_missing_fits_without_the_gaps_and_fills_them_with_the_mean():
    records = numeric_records(30)
    for index in (3, 11, 12):
        records[index]["b"] = float("nan")
    transformer = fitted_standardizer(records, fill_missing=True)
    values = np.asarray([r["b"] for r in records])
    stats = transformer.statistics["inputs"]["features"]
    np.testing.assert_allclose(stats["mean"][1], np.nanmean(values))
    np.testing.assert_allclose(stats["std"][1], np.nanstd(values))
    x, _ = transformer.transform(({"features": np.asarray([[1.0, np.nan, 2.0]])}, {"y": np.asarray([0.0])}))
    assert x["features"][0, 1] == 0.0  # the mean, standardised
    assert np.isfinite(x["features"]).all()
    with pytest.raises(TypeError, match="fill_missing"):
        fitted_standardizer(records, fill_missing="yes")


# -- fitting on a stream ----------------------------------------------------------------


def mixed_records(count=230, seed=4):
    rng = np.random.default_rng(seed)
    colours = np.array(["red", "blue", "green", "teal"])
    return pd.DataFrame({
        "a": 1e6 + rng.normal(0, 3, count), "b": rng.normal(5, 2, count), "c": np.full(count, 7.25),
        "y": rng.normal(-40, 10, count), "colour": colours[rng.integers(0, 4, count)],
        "size": rng.integers(1, 6, count), "kind": np.where(rng.random(count) > 0.3, "cat", "dog"),
    })


def write_records(frame, path):
    if path.suffix == ".parquet":
        frame.to_parquet(path, row_group_size=29)  # uneven row groups: 8 of 29, one of 27
    elif path.suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_json(path, orient="records", lines=True)
    return str(path)


@pytest.mark.parametrize("extension", [".parquet", ".csv", ".jsonl"])
def test_transformers_fitted_on_a_stream_match_those_fitted_in_memory(tmp_path, extension):
    from barrage.records import RecordStream

    path = write_records(mixed_records(), tmp_path / f"train{extension}")
    loader = KeySelector(RecordMode.TRAIN, inputs={"features": ["a", "b", "c"], "colour": "colour", "size": "size"},
                         outputs={"y": "y", "kind": "kind"})

    def fitted(records):
        standardizer = Standardizer(RecordMode.TRAIN, loader, inputs=["features"], outputs=["y"], batch_size=11)
        categories = CategoricalEncoder(RecordMode.TRAIN, loader, inputs=["colour", "size"], outputs=["kind"],
                                        batch_size=11, max_categories=3)
        standardizer.fit(records)
        categories.fit(records)
        return standardizer, categories

    memory_scaler, memory_codes = fitted(read_records(path))
    stream_scaler, stream_codes = fitted(RecordStream(path))
    for group in ("inputs", "outputs"):
        for name, expected in memory_scaler.statistics[group].items():
            got = stream_scaler.statistics[group][name]
            assert got["count"] == expected["count"] == 230
            np.testing.assert_allclose(got["mean"], expected["mean"], rtol=1e-12)
            np.testing.assert_allclose(got["std"], expected["std"], rtol=1e-9)
    assert stream_codes.vocabularies == memory_codes.vocabularies
    assert len(memory_codes.vocabularies["inputs"]["colour"]) == 3  # max_categories cut the rarest


def test_codes_declared_text_train_and_score_alike_in_any_batch(tmp_path):
    """District codes that are mostly digits ("007", "101") with a few "X7": refused
    unless declared text; declared, a scoring file whose codes are all digits reads them
    as the same categories (same scores as beside "X7"), and --keep copies "007" as is."""
    rng = np.random.default_rng(3)
    codes = rng.choice(["007", "101", "102", "X7"], size=240, p=[0.3, 0.3, 0.3, 0.1])
    band = np.where(np.isin(codes, ["007", "X7"]), "premium", "budget")
    pd.DataFrame({"district": codes[:180], "band": band[:180]}).to_csv(tmp_path / "train.csv", index=False)
    pd.DataFrame({"district": codes[180:], "band": band[180:]}).to_csv(tmp_path / "validation.csv", index=False)
    config = example_config("config-categorical.json")
    with open(tmp_path / "plain.json", "w") as handle:
        json.dump(config, handle)
    config["dataset"]["text_keys"] = ["district"]
    with open(tmp_path / "config.json", "w") as handle:
        json.dump(config, handle)

    def barrage(*args):
        return CliRunner().invoke(cli, [str(arg) for arg in args])

    refused = barrage("train", tmp_path / "plain.json", tmp_path / "train.csv", tmp_path / "validation.csv",
                      "-a", tmp_path / "plain")
    assert refused.exit_code == 2 and "declare it in dataset.text_keys" in refused.output
    trained = barrage("train", tmp_path / "config.json", tmp_path / "train.csv", tmp_path / "validation.csv",
                      "-a", tmp_path / "run", "--verbose", "0")
    assert trained.exit_code == 0, trained.output
    with open(tmp_path / "run" / "dataset" / CategoricalEncoder.STATE_FILE) as handle:
        assert json.load(handle)["inputs"]["district"] == ["007", "101", "102", "X7"]

    (tmp_path / "digits.csv").write_text("district\n007\n101\n102\n")
    (tmp_path / "mixed.csv").write_text("district\n007\n101\n102\nX7\n")
    for name in ("digits", "mixed"):
        scored = barrage("score", tmp_path / "run", tmp_path / f"{name}.csv", "-o", tmp_path / f"{name}.jsonl",
                         "--keep", "district")
        assert scored.exit_code == 0, scored.output
    digits, mixed = (pd.read_json(tmp_path / f"{name}.jsonl", lines=True, dtype=False) for name in ("digits", "mixed"))
    assert digits["district"].tolist() == ["007", "101", "102"]
    np.testing.assert_allclose(np.stack(digits["band"]), np.stack(mixed["band"][:3]), rtol=1e-6)
    in_memory = BarrageModel(str(tmp_path / "run")).predict([{"district": 101}, {"district": "101"}])
    np.testing.assert_allclose(in_memory[0]["band"], in_memory[1]["band"])
    np.testing.assert_allclose(in_memory[0]["band"], np.stack(digits["band"])[1], rtol=1e-6)
    evaluated = barrage("evaluate", tmp_path / "run", tmp_path / "validation.csv")
    assert evaluated.exit_code == 0, evaluated.output
