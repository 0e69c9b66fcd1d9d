"""barrage-tabular's ``ComposedTransformer``: several transformers configured as one."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from barrage import (
    ArtifactError,
    BarrageModel,
    ConfigError,
    KeySelector,
    Policy,
    RecordMode,
    RecordTransformer,
    Runtime,
)
from barrage.records import read_records
from barrage.runtime import default_runtime
from barrage_tabular.composed import ComposedTransformer, StepLoader
from barrage_tabular.transformers import CategoricalEncoder, Standardizer

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "housing"  # the repository's examples
STEPS = [
    {"import": "Standardizer", "params": {"inputs": ["numbers"], "outputs": ["price"]}},
    {"import": "CategoricalEncoder", "params": {"inputs": ["district"], "one_hot": True}},
]


class HalfPerRecord(RecordTransformer):
    """A stateless, per-record (not vectorised) transformer: halves input 'numbers'."""

    def fit(self, records):
        self.network_params = {"halved": True}

    def transform(self, data_record):
        return ({**data_record[0], "numbers": np.asarray(data_record[0]["numbers"]) / 2.0},) + tuple(data_record[1:])

    def postprocess(self, score):
        return score

    def save(self, path):
        """Nothing to save."""

    def load(self, path):
        """Nothing to load."""


HALF = f"{__name__}:HalfPerRecord"  # a Python path: this test module is importable


def housing_records(count=60, seed=0):
    rng = np.random.default_rng(seed)
    districts = ["harbour", "hills", "park"]
    return [
        {"a": float(rng.uniform(40, 160)), "b": float(rng.integers(1, 6)), "c": float(rng.integers(0, 80)),
         "district": districts[i % 3], "price": float(rng.normal(3e5, 5e4))}
        for i in range(count)
    ]


def housing_loader(mode=RecordMode.TRAIN):
    outputs = None if mode is RecordMode.SCORE else {"price": "price"}
    return KeySelector(mode, inputs={"numbers": ["a", "b", "c"], "district": "district"}, outputs=outputs)


def composed(steps=STEPS, mode=RecordMode.TRAIN, records=None):
    transformer = ComposedTransformer(mode, housing_loader(mode), steps=steps)
    if records is not None:
        transformer.fit(read_records(records))
    return transformer


# -- composing ------------------------------------------------------------------------


def test_fit_and_transform_equal_the_steps_applied_one_after_the_other():
    records = housing_records()
    together = composed(records=records)
    loader = housing_loader()
    standardizer = Standardizer(RecordMode.TRAIN, loader, inputs=["numbers"], outputs=["price"])
    standardizer.fit(read_records(records))
    encoder = CategoricalEncoder(RecordMode.TRAIN, loader, inputs=["district"], one_hot=True)
    encoder.fit(read_records(records))

    assert together.vectorized
    assert together.network_params == {"vocab_size_district": 4}
    batched = loader.load_columns(read_records(records))
    expected = encoder.transform(standardizer.transform(batched))
    for got, want in ((together.transform(batched), expected),
                      (together.transform(loader.load(records[7])), encoder.transform(standardizer.transform(
                          loader.load(records[7]))))):
        assert got[0].keys() == want[0].keys() == {"numbers", "district"}
        for part_got, part_want in zip(got, want):
            for name in part_want:
                np.testing.assert_allclose(part_got[name], part_want[name])
    np.testing.assert_allclose(together.transform(batched)[0]["numbers"].mean(axis=0), 0.0, atol=1e-5)
    assert together.transform(batched)[0]["district"].shape == (60, 4)  # one-hot over 3 districts + OOV


def test_a_step_is_fitted_on_the_data_the_steps_before_it_transformed():
    records = housing_records()
    chained = composed(steps=[{"import": HALF}, {"import": "Standardizer", "params": {"inputs": "numbers"}}],
                       records=records)
    raw = np.array([[r["a"], r["b"], r["c"]] for r in records])
    second = chained.steps[1].statistics["inputs"]["numbers"]
    np.testing.assert_allclose(second["mean"], raw.mean(axis=0) / 2.0)  # fitted on halved values
    np.testing.assert_allclose(second["std"], raw.std(axis=0) / 2.0)
    assert not chained.vectorized  # one step works record by record only
    assert chained.network_params == {"halved": True}


def test_postprocess_undoes_the_steps_in_reverse_order():
    records = housing_records()
    steps = [
        {"import": "Standardizer", "params": {"outputs": "price"}},
        {"import": HALF},
        {"import": "CategoricalEncoder", "params": {"outputs": "price", "max_categories": 3}},
    ]
    transformer = ComposedTransformer(RecordMode.TRAIN, housing_loader(), steps=steps)
    calls = []
    for step in transformer.steps:
        original = step.postprocess
        step.postprocess = lambda score, original=original, step=step: calls.append(type(step).__name__) or original(
            score)
    transformer.fit(read_records(records))
    transformer.postprocess({"price": np.array([0.1, 0.2, 0.3, 0.4])})
    assert calls == ["CategoricalEncoder", "HalfPerRecord", "Standardizer"]


def test_postprocess_restores_a_standardised_output_in_its_units():
    records = housing_records()
    transformer = composed(records=records)
    prices = np.array([r["price"] for r in records])
    scaled = transformer.transform(housing_loader().load_columns(read_records(records)))[1]["price"]
    np.testing.assert_allclose(transformer.postprocess({"price": scaled})["price"], prices, rtol=1e-5)


def test_for_mode_makes_a_composed_twin_of_step_twins_sharing_their_state():
    transformer = composed(records=housing_records())
    loader = housing_loader(RecordMode.SCORE)
    twin = transformer.for_mode(RecordMode.SCORE, loader)
    assert isinstance(twin, ComposedTransformer) and twin is not transformer
    assert (twin.mode, twin.loader) == (RecordMode.SCORE, loader)
    assert [type(step) for step in twin.steps] == [Standardizer, CategoricalEncoder]
    assert all(mine is not theirs for mine, theirs in zip(twin.steps, transformer.steps))
    assert all(step.mode is RecordMode.SCORE for step in twin.steps)
    assert all(step.mode is RecordMode.TRAIN for step in transformer.steps)  # the original is untouched
    assert twin.steps[0].statistics is transformer.steps[0].statistics  # fitted state shared, not refitted
    assert isinstance(twin.steps[1].loader, StepLoader) and twin.steps[1].loader.base is loader
    assert twin.steps[1].loader.before == [twin.steps[0]]
    assert twin.network_params == transformer.network_params
    (x,) = twin.transform(loader.load({"a": 100.0, "b": 3.0, "c": 10.0, "district": "park"}))
    assert x["district"].tolist() == [0.0, 0.0, 0.0, 1.0]


# -- state ----------------------------------------------------------------------------


def test_each_step_saves_into_its_own_subfolder_and_loads_back(tmp_path):
    records = housing_records()
    transformer = composed(records=records)
    transformer.save(str(tmp_path))
    assert sorted(os.listdir(tmp_path)) == ["0-Standardizer", "1-CategoricalEncoder"]
    assert (tmp_path / "0-Standardizer" / "standardizer.json").is_file()
    assert (tmp_path / "1-CategoricalEncoder" / "categorical_encoder.json").is_file()

    reloaded = composed(mode=RecordMode.SCORE)
    reloaded.load(str(tmp_path))
    assert reloaded.network_params == transformer.network_params
    record = housing_loader(RecordMode.SCORE).load(records[3])
    for name in ("numbers", "district"):
        np.testing.assert_allclose(reloaded.transform(record)[0][name], transformer.transform(record)[0][name])

    (tmp_path / "1-CategoricalEncoder" / "categorical_encoder.json").unlink()
    (tmp_path / "1-CategoricalEncoder").rmdir()
    with pytest.raises(ArtifactError, match=r"1-CategoricalEncoder: missing, so step 1-CategoricalEncoder"):
        composed(mode=RecordMode.SCORE).load(str(tmp_path))


# -- errors ---------------------------------------------------------------------------


def test_network_params_two_steps_set_are_a_clear_config_error():
    steps = [{"import": "CategoricalEncoder", "params": {"inputs": "district"}},
             {"import": "CategoricalEncoder", "params": {"inputs": "district", "max_categories": 2}}]
    with pytest.raises(ConfigError, match=r"steps\[1\]: 1-CategoricalEncoder sets the network param "
                                          r"'vocab_size_district', which steps\[0\] \(0-CategoricalEncoder\) sets too"):
        composed(steps=steps, records=housing_records())


def test_a_step_problem_is_reported_at_its_own_dotted_path():
    steps = [STEPS[0], {"import": "CategoricalEncoder", "params": {"inputs": ["distrikt"]}}]
    with pytest.raises(ConfigError) as raised:
        composed(steps=steps, records=housing_records())
    assert raised.value.problems[0].startswith("dataset.transformer.params.steps[1].params.inputs: CategoricalEncoder")


@pytest.mark.parametrize("steps, message", [
    ([], r"'steps' must be a non-empty list"),
    ({"import": "Standardizer"}, r"'steps' must be a non-empty list"),
    ([STEPS[0], "Standardizer"], r"steps\[1\] must be an import block"),
    ([{"import": "Standardizer", "parms": {}}], r"steps\[0\] has unknown keys \['parms'\]"),
    ([{"import": "Standardizer", "params": ["numbers"]}], r"steps\[0\].params must be a mapping"),
    ([STEPS[0], {"import": "CategoricalEncodr"}], r"steps\[1\].import: no transformer named 'CategoricalEncodr'.*"
                                                  r"did you mean 'CategoricalEncoder'"),
    ([{"import": "Standardizer", "params": {"inputz": "numbers"}}], r"steps\[0\] \(Standardizer\) refused its params"),
])
def test_bad_steps_are_refused_before_the_artifact_directory_is_written(tmp_path, config, records, steps, message):
    config["dataset"]["transformer"] = {"import": "ComposedTransformer", "params": {"steps": steps}}
    with pytest.raises(ConfigError, match=r"dataset.transformer.params: ComposedTransformer refused them: " + message):
        BarrageModel(str(tmp_path / "run")).train(config, records(32), records(16), verbose=0)
    assert not (tmp_path / "run").exists()


def test_steps_resolve_through_the_runtime_of_the_run_so_strict_mode_applies(tmp_path, config, records):
    config["dataset"]["transformer"] = {"import": "ComposedTransformer", "params": {"steps": [{"import": HALF}]}}
    config["dataset"]["loader"]["params"]["inputs"] = {"numbers": ["f0", "f1", "f2"]}
    config["model"]["network"]["params"]["inputs"] = {"numbers": [3]}
    strict = Runtime(Policy(strict=True, disabled_plugins=default_runtime().policy.disabled_plugins))
    with pytest.raises(ConfigError, match=r"steps\[0\].import: .*strict"):
        BarrageModel(str(tmp_path / "strict"), runtime=strict).train(config, records(32), records(16), verbose=0)
    BarrageModel(str(tmp_path / "lenient")).train(config, records(32), records(16), verbose=0)
    assert os.path.isdir(tmp_path / "lenient" / "dataset" / "0-HalfPerRecord")


# -- the example ----------------------------------------------------------------------


def test_housing_example_composes_standardised_numbers_and_an_encoded_district(tmp_path, example_module):
    with open(EXAMPLE / "config-composed.json", encoding="utf-8") as handle:
        config = json.load(handle)
    assert [step["import"] for step in config["dataset"]["transformer"]["params"]["steps"]] == [
        "Standardizer", "CategoricalEncoder"]
    config["solver"]["epochs"] = 8
    config["services"]["tensorboard"] = None
    artifact_dir = str(tmp_path / "composed")
    BarrageModel(artifact_dir).train(config, str(EXAMPLE / "train.csv"), str(EXAMPLE / "validation.csv"), verbose=0)
    with open(os.path.join(artifact_dir, "network_params.json")) as handle:
        assert json.load(handle) == {"vocab_size_district": len(example_module("housing").DISTRICTS) + 1}
    assert sorted(os.listdir(os.path.join(artifact_dir, "dataset"))) == ["0-Standardizer", "1-CategoricalEncoder"]

    validation = example_module("housing").make(100, seed=5)
    scores = BarrageModel(artifact_dir).predict(validation.drop(columns=["price"]))
    predicted = np.array([float(np.ravel(s["price"])[0]) for s in scores])
    truth = validation["price"].to_numpy()
    # the district premium (up to 160,000) is learnt from the encoded district: far closer
    # than the numbers alone can get (their error is about the premium's spread, ~57,000)
    assert np.mean(np.abs(predicted - truth)) < 25_000, np.mean(np.abs(predicted - truth))
    assert np.corrcoef(predicted, truth)[0, 1] > 0.95
