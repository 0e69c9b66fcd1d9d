"""Batch sources: batches per mode, transformer fit, augmentation, sampling, seeds, the
two strategies (columns and per-record) and bad records. barrage/sources/."""

from __future__ import annotations

import collections
import json
import os
import textwrap
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import pytest

from barrage.dataset import DataRecord, IdentityTransformer, KeySelector, RecordMode, RecordTransformer
from barrage.engine import BarrageModel
from barrage.errors import ConfigError, DataError
from barrage.components import build_augmentors, build_loader, build_transformer
from barrage.sources import BatchSource, make_batch_source
from barrage.records import read_records
from barrage.runtime import default_runtime

TRAIN, VALIDATION, SCORE = RecordMode.TRAIN, RecordMode.VALIDATION, RecordMode.SCORE
INPUTS = {"features": ["f0", "f1"], "id": "id", "text": "text", "flag": "flag"}


def make_rows(count: int = 10) -> List[Dict[str, Any]]:
    """Records whose ``id`` says which one a batch row came from."""
    return [
        {
            "id": i,
            "f0": float(i),
            "f1": i / 2.0,
            "text": f"t{i}",
            "flag": i % 2 == 0,
            "label": i % 3,
            "weight": 1 + i % 2,  # integers: weights still become float32
            "count": i % 4,
        }
        for i in range(count)
    ]


class PlainTransformer(IdentityTransformer):
    """The identity, but not vectorised: it sends a pipeline down the per-record path."""

    vectorized = False


def make_pipeline(
    rows: Sequence[Dict[str, Any]],
    mode: RecordMode,
    *,
    weights: bool = False,
    augmentors: Sequence[Any] = (),
    batch_size: int = 4,
    seed: Optional[int] = 1,
    sample_count: Optional[str] = None,
    workers: Optional[int] = None,
    force_per_record: bool = False,
    inputs: Dict[str, Any] = INPUTS,
    transformer: type = IdentityTransformer,
) -> BatchSource:
    scoring = mode is SCORE
    loader = KeySelector(
        mode,
        inputs=inputs,
        outputs=None if scoring else {"label": "label"},
        sample_weights={"label": "weight"} if weights and not scoring else None,
    )
    return make_batch_source(
        read_records(rows, "test records"), mode=mode, loader=loader, transformer=transformer(mode, loader),
        augmentors=augmentors, batch_size=batch_size, seed=seed, sample_count=sample_count, workers=workers,
        per_record=force_per_record,
    )


def ids(batches: Sequence[DataRecord]) -> List[int]:
    return [int(i) for batch in batches for i in batch[0]["id"]]


def assert_same_batches(first: Sequence[DataRecord], second: Sequence[DataRecord]) -> None:
    assert len(first) == len(second)
    for a, b in zip(first, second):
        assert len(a) == len(b)
        for part_a, part_b in zip(a, b):
            assert sorted(part_a) == sorted(part_b)
            for name in part_a:
                assert part_a[name].dtype == part_b[name].dtype, name
                np.testing.assert_array_equal(part_a[name], part_b[name])


# -- augmentors (registered per test; the registry is reset between tests) --------------


def shift(data_record: DataRecord, amount: float) -> DataRecord:
    x = dict(data_record[0])
    x["features"] = x["features"] + amount
    return (x, *data_record[1:])


def scale(data_record: DataRecord, factor: float) -> DataRecord:
    x = dict(data_record[0])
    x["features"] = x["features"] * factor
    return (x, *data_record[1:])


def jitter(data_record: DataRecord, rng: np.random.Generator, std: float = 0.5) -> DataRecord:
    x = dict(data_record[0])
    x["features"] = x["features"] + rng.normal(0.0, std, size=np.shape(x["features"]))
    return (x, *data_record[1:])


def summarise(data_record: DataRecord) -> DataRecord:
    """Changes shapes and dtypes: features (2,) -> (1,), integer labels -> soft floats."""
    x, y = dict(data_record[0]), dict(data_record[1])
    x["features"] = np.asarray([x["features"].sum()])
    y["label"] = y["label"] * 0.9 + 0.05
    return (x, y, *data_record[2:])


def chain(*blocks: Dict[str, Any]) -> List[Any]:
    registry = default_runtime().registry
    for name, function in (("shift", shift), ("scale", scale), ("jitter", jitter), ("summarise", summarise)):
        registry.register("augmentor", name, function)
    return build_augmentors({"dataset": {"augmentor": list(blocks)}}, registry)


# -- batches per mode -----------------------------------------------------------------


@pytest.mark.parametrize("force_per_record", [False, True], ids=["columns", "records"])
@pytest.mark.parametrize("mode", [TRAIN, VALIDATION, SCORE], ids=lambda m: m.value)
def test_batch_structure_and_dtypes(mode: RecordMode, force_per_record: bool) -> None:
    import tensorflow as tf

    pipeline = make_pipeline(make_rows(10), mode, weights=True, force_per_record=force_per_record)
    assert pipeline.name == ("records" if force_per_record else "columns")
    batches = pipeline.numpy_batches()
    assert [len(batch[0]["id"]) for batch in batches] == [4, 4, 2]
    first = batches[0]
    assert len(first) == (1 if mode is SCORE else 3)
    x = first[0]
    assert sorted(x) == ["features", "flag", "id", "text"]
    assert x["features"].dtype == np.float32 and x["features"].shape == (4, 2)
    assert x["flag"].dtype == np.float32  # booleans become float32
    assert x["id"].dtype.kind == "i"  # integers stay integers
    assert x["text"].dtype == object and isinstance(x["text"][0], bytes)  # tf.string
    rows = make_rows(10)
    for position, record_id in enumerate(x["id"]):
        row = rows[record_id]
        np.testing.assert_allclose(x["features"][position], [row["f0"], row["f1"]])
        assert x["text"][position] == row["text"].encode()
        assert x["flag"][position] == float(row["flag"])
    spec = pipeline.dataset().element_spec
    assert spec[0]["features"].dtype == tf.float32
    assert spec[0]["text"].dtype == tf.string
    assert spec[0]["id"].dtype == tf.int64
    if mode is not SCORE:
        y, w = first[1], first[2]
        assert list(y) == ["label"] and list(w) == ["label"]
        assert y["label"].dtype.kind == "i"  # integer labels for sparse losses
        assert w["label"].dtype == np.float32  # integer weights become float32
        assert y["label"].tolist() == [rows[i]["label"] for i in x["id"]]
        assert w["label"].tolist() == [float(rows[i]["weight"]) for i in x["id"]]


@pytest.mark.parametrize("mode", [TRAIN, VALIDATION])
def test_without_sample_weights_batches_are_pairs(mode: RecordMode) -> None:
    batch = make_pipeline(make_rows(4), mode).numpy_batches()[0]
    assert len(batch) == 2 and list(batch[1]) == ["label"]


def test_validation_and_score_datasets_know_their_length() -> None:
    for mode in (VALIDATION, SCORE):
        for force in (False, True):
            pipeline = make_pipeline(make_rows(10), mode, force_per_record=force)
            assert int(pipeline.dataset().cardinality()) == 3


# -- construction contract ------------------------------------------------------------


class ParamTransformer(IdentityTransformer):
    """A transformer with a required parameter, to check how the engine constructs it."""

    def __init__(self, mode: RecordMode, loader: Any, bias: float):
        super().__init__(mode, loader)
        self.bias = bias


def test_components_are_built_per_the_construction_contract(config: Dict[str, Any]) -> None:
    default_runtime().registry.register("transformer", "ParamTransformer", ParamTransformer)
    config["dataset"]["transformer"] = {"import": "ParamTransformer", "params": {"bias": 2.5}}
    loader = build_loader(config, SCORE, default_runtime().registry)
    assert isinstance(loader, KeySelector) and loader.mode is SCORE
    assert loader.inputs == {"features": ["f0", "f1", "f2"]}
    transformer = build_transformer(config, SCORE, loader, default_runtime().registry)
    assert isinstance(transformer, ParamTransformer)
    assert transformer.mode is SCORE and transformer.loader is loader and transformer.bias == 2.5
    config["dataset"]["transformer"]["params"] = {"scale": 2.5}
    with pytest.raises(ConfigError, match=r"dataset\.transformer\.params: ParamTransformer refused them"):
        build_transformer(config, SCORE, loader, default_runtime().registry)


# -- transformer fit, state and network params, through the engine --------------------


class CountingTransformer(RecordTransformer):
    """Records every call in ``events``; subtracts the training mean of ``f0``."""

    events: List[str] = []

    def fit(self, records: Any) -> None:
        values = [record["f0"] for record in records]
        CountingTransformer.events.append(f"fit {self.mode.value} {len(values)}")
        self.mean = float(np.mean(values))
        self.network_params = {"units": 2}

    def transform(self, data_record: DataRecord) -> DataRecord:
        CountingTransformer.events.append(f"transform {self.mode.value}")
        x = dict(data_record[0])
        x["features"] = np.asarray(x["features"]) - np.asarray([self.mean, 0.0, 0.0])
        return (x, *data_record[1:])

    def postprocess(self, score: Dict[str, Any]) -> Dict[str, Any]:
        CountingTransformer.events.append("postprocess")
        return {name: value * 1.0 for name, value in score.items()}

    def save(self, path: str) -> None:
        with open(os.path.join(path, "counting.json"), "w", encoding="utf-8") as handle:
            json.dump({"mean": self.mean}, handle)

    def load(self, path: str) -> None:
        CountingTransformer.events.append(f"load {self.mode.value}")
        with open(os.path.join(path, "counting.json"), encoding="utf-8") as handle:
            self.mean = json.load(handle)["mean"]


def test_transformer_fits_once_on_training_records_before_any_batch(
    config: Dict[str, Any], records: Any, tmp_path: Any
) -> None:
    default_runtime().registry.register("transformer", "CountingTransformer", CountingTransformer)
    CountingTransformer.events = []
    config["dataset"]["transformer"] = {"import": "CountingTransformer"}
    config["model"]["network"]["params"]["layers"][-1]["params"]["units"] = "{{units}}"
    train, validation = records(48, seed=1), records(16, seed=2)
    directory = tmp_path / "run"
    network = BarrageModel(directory).train(config, train, validation, verbose=0)

    events = CountingTransformer.events
    assert events[0] == "fit train 48"  # the training records, before anything else
    assert sum(event.startswith("fit") for event in events) == 1
    assert "transform validation" in events
    assert not any(event.startswith("load") for event in events)  # the validation twin shares the fitted state
    assert network.output["label"].shape[-1] == 2  # network_params reached the builder
    assert json.loads((directory / "network_params.json").read_text()) == {"units": 2}
    saved = json.loads((directory / "dataset" / "counting.json").read_text())
    assert saved["mean"] == pytest.approx(np.mean([r["f0"] for r in train]))

    CountingTransformer.events = []
    scores = BarrageModel(directory).predict(validation)
    assert CountingTransformer.events[0] == "load score"
    assert "fit" not in " ".join(CountingTransformer.events)
    assert CountingTransformer.events.count("postprocess") == 16
    assert len(scores) == 16 and scores[0]["label"].shape == (2,)


# -- augmentation ---------------------------------------------------------------------


def test_augmentors_apply_in_train_only_in_config_order_with_params() -> None:
    augmentors = chain(
        {"import": "shift", "params": {"amount": 1.0}},
        {"import": "scale", "params": {"factor": 10.0}},
    )
    assert [a.name for a in augmentors] == ["shift", "scale"]
    rows = make_rows(8)
    for force in (False, True):
        train = make_pipeline(rows, TRAIN, augmentors=augmentors, batch_size=8, force_per_record=force)
        batch = train.numpy_batches()[0][0]
        for record_id, features in zip(batch["id"], batch["features"]):
            # shift then scale: (f + 1) * 10, not f * 10 + 1
            np.testing.assert_allclose(features, [(rows[record_id]["f0"] + 1) * 10, (rows[record_id]["f1"] + 1) * 10])
        for mode in (VALIDATION, SCORE):
            plain = make_pipeline(rows, mode, augmentors=augmentors, batch_size=8, force_per_record=force)
            np.testing.assert_allclose(plain.numpy_batches()[0][0]["features"], [[r["f0"], r["f1"]] for r in rows])


def test_augmentor_by_python_path(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "pipeline_test_augmentors.py").write_text(
        textwrap.dedent(
            """
            def negate(data_record, sign=-1.0):
                x = dict(data_record[0])
                x["features"] = x["features"] * sign
                return (x,) + tuple(data_record[1:])
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    augmentors = build_augmentors(
        {"dataset": {"augmentor": [{"import": "pipeline_test_augmentors.negate", "params": {"sign": -2.0}}]}},
        default_runtime().registry,
    )
    batch = make_pipeline(make_rows(4), TRAIN, augmentors=augmentors).numpy_batches()[0][0]
    np.testing.assert_allclose(batch["features"][:, 0], -2.0 * batch["id"])


def test_augmentor_rng_is_seeded() -> None:
    augmentors = chain({"import": "jitter", "params": {"std": 1.0}})
    assert augmentors[0].wants_rng
    rows = make_rows(8)

    def features(seed: int) -> np.ndarray:
        batches = make_pipeline(rows, TRAIN, augmentors=augmentors, seed=seed, batch_size=8).numpy_batches(2)
        return np.concatenate([b[0]["features"][np.argsort(b[0]["id"])] for b in batches])

    clean = np.asarray([[r["f0"], r["f1"]] for r in rows] * 2, dtype=np.float32)
    noise = features(5) - clean
    assert np.all(np.abs(noise) > 0)
    assert not np.allclose(noise[:8], noise[8:])  # fresh noise every pass
    np.testing.assert_array_equal(features(5), features(5))
    assert not np.allclose(features(5), features(6))


# -- sample_count ---------------------------------------------------------------------


@pytest.mark.parametrize("force_per_record", [False, True], ids=["columns", "records"])
def test_sample_count_repeats_records_per_pass(force_per_record: bool) -> None:
    rows = make_rows(10)  # counts 0, 1, 2, 3, 0, 1, ...
    pipeline = make_pipeline(rows, TRAIN, sample_count="count", batch_size=3, force_per_record=force_per_record)
    per_pass = sum(row["count"] for row in rows)
    assert len(pipeline.order.indices) == per_pass == 13
    seen = ids(pipeline.numpy_batches(2 * pipeline.batches_per_pass))
    assert len(seen) == 2 * per_pass
    expected = {row["id"]: row["count"] for row in rows if row["count"]}
    for one_pass in (seen[:per_pass], seen[per_pass:]):
        assert collections.Counter(one_pass) == expected  # record 0 (count 0) never appears
    for mode in (VALIDATION, SCORE):  # sampling is a training matter
        assert len(make_pipeline(rows, mode, sample_count="count").order.indices) == 10


def test_sample_count_accepts_whole_floats() -> None:
    rows = [dict(row, count=float(row["count"])) for row in make_rows(6)]
    assert collections.Counter(make_pipeline(rows, TRAIN, sample_count="count").order.indices.tolist()) == {
        1: 1, 2: 2, 3: 3, 5: 1
    }


@pytest.mark.parametrize(
    "value, message",
    [
        (None, r"test records: record 3: missing key 'count'"),
        (1.5, r"test records: record 3: sample_count 'count' is 1\.5, not an integer"),
        (-1, r"test records: record 3: sample_count 'count' is negative \(-1\)"),
        ("two", r"test records: column 'count', record 3: 'two' cannot become a number"),
    ],
)
def test_bad_sample_counts_name_the_record(value: Any, message: str) -> None:
    rows = make_rows(8)
    if value is None:
        del rows[3]["count"]
    else:
        rows[3]["count"] = value
    with pytest.raises(DataError, match=message):
        make_pipeline(rows, TRAIN, sample_count="count")


def test_all_zero_sample_counts_are_an_error() -> None:
    rows = [dict(row, count=0) for row in make_rows(4)]
    with pytest.raises(DataError, match="every record has sample_count 0"):
        make_pipeline(rows, TRAIN, sample_count="count")


# -- order, seeds and determinism -----------------------------------------------------


@pytest.mark.parametrize("force_per_record", [False, True], ids=["columns", "records"])
def test_train_reshuffles_every_pass_and_other_modes_keep_order(force_per_record: bool) -> None:
    rows = make_rows(20)
    train = make_pipeline(rows, TRAIN, batch_size=6, force_per_record=force_per_record)
    seen = ids(train.numpy_batches(3 * train.batches_per_pass))
    passes = [seen[0:20], seen[20:40], seen[40:60]]
    for one_pass in passes:
        assert sorted(one_pass) == list(range(20))
    assert passes[0] != passes[1] != passes[2] and passes[0] != list(range(20))
    for mode in (VALIDATION, SCORE):
        pipeline = make_pipeline(rows, mode, batch_size=6, force_per_record=force_per_record)
        assert ids(pipeline.numpy_batches()) == list(range(20))
        assert ids(pipeline.numpy_batches()) == list(range(20))  # and again on the next pass


@pytest.mark.parametrize("force_per_record", [False, True], ids=["columns", "records"])
def test_same_seed_same_batches_other_seed_other_order(force_per_record: bool) -> None:
    rows = make_rows(24)

    def run(seed: int) -> List[DataRecord]:
        pipeline = make_pipeline(rows, TRAIN, seed=seed, batch_size=5, force_per_record=force_per_record)
        return pipeline.numpy_batches(2 * pipeline.batches_per_pass)

    assert_same_batches(run(11), run(11))
    assert ids(run(11)) != ids(run(12))


@pytest.mark.parametrize("force_per_record", [False, True], ids=["columns", "records"])
def test_resuming_mid_run_continues_the_same_sequence(force_per_record: bool) -> None:
    pipeline = make_pipeline(make_rows(10), TRAIN, batch_size=4, force_per_record=force_per_record)
    batches = pipeline.numpy_batches(9)  # three passes of three batches
    for start in (2, 4):
        resumed = [
            tuple({n: t.numpy() for n, t in part.items()} for part in batch)
            for batch in pipeline.dataset(start_batch=start).take(9 - start)
        ]
        assert_same_batches(resumed, batches[start:])
    # each pass is the documented order, cut into batches
    for number in range(3):
        order = pipeline.order.pass_order(number).tolist()
        assert ids(batches[3 * number:3 * number + 3]) == order


# -- the two paths --------------------------------------------------------------------


@pytest.mark.parametrize("mode", [TRAIN, VALIDATION, SCORE], ids=lambda m: m.value)
def test_columns_and_per_record_paths_give_identical_batches(mode: RecordMode) -> None:
    rows = make_rows(13)
    kwargs: Dict[str, Any] = {"weights": True, "batch_size": 4}
    if mode is TRAIN:
        kwargs["sample_count"] = "count"
    fast = make_pipeline(rows, mode, **kwargs)
    slow = make_pipeline(rows, mode, force_per_record=True, **kwargs)
    plain = make_pipeline(rows, mode, transformer=PlainTransformer, **kwargs)
    assert (fast.name, slow.name, plain.name) == ("columns", "records", "records")
    count = 2 * fast.batches_per_pass if mode is TRAIN else None
    assert_same_batches(fast.numpy_batches(count), slow.numpy_batches(count))
    assert_same_batches(fast.numpy_batches(count), plain.numpy_batches(count))


def test_paths_agree_with_augmentors_rng_and_sample_count() -> None:
    augmentors = chain({"import": "jitter", "params": {"std": 0.3}}, {"import": "scale", "params": {"factor": 2.0}})
    rows = make_rows(13)

    def batches(force: bool) -> List[DataRecord]:
        pipeline = make_pipeline(
            rows, TRAIN, weights=True, augmentors=augmentors, sample_count="count", force_per_record=force
        )
        return pipeline.numpy_batches(2 * pipeline.batches_per_pass)

    assert_same_batches(batches(False), batches(True))


def test_augmentors_may_change_shapes_and_dtypes_on_both_paths() -> None:
    augmentors = chain({"import": "summarise"})
    rows = make_rows(9)
    for force in (False, True):
        batches = make_pipeline(rows, TRAIN, augmentors=augmentors, force_per_record=force).numpy_batches(3)
        for batch in batches:
            x, y = batch[0], batch[1]
            assert x["features"].shape[1:] == (1,) and y["label"].dtype == np.float32
            np.testing.assert_allclose(x["features"][:, 0], [rows[i]["f0"] + rows[i]["f1"] for i in x["id"]])
            np.testing.assert_allclose(y["label"], [rows[i]["label"] * 0.9 + 0.05 for i in x["id"]], rtol=1e-6)


def test_parallel_workers_give_the_same_batches_as_one() -> None:
    augmentors = chain({"import": "jitter", "params": {"std": 0.3}})
    rows = make_rows(30)

    def batches(workers: int, mode: RecordMode = TRAIN) -> List[DataRecord]:
        pipeline = make_pipeline(
            rows, mode, augmentors=augmentors, batch_size=4, workers=workers, force_per_record=True
        )
        return pipeline.numpy_batches(2 * pipeline.batches_per_pass if mode is TRAIN else None)

    assert_same_batches(batches(1), batches(3))
    assert_same_batches(batches(1, VALIDATION), batches(3, VALIDATION))


# -- bad records ----------------------------------------------------------------------


@pytest.mark.parametrize("force_per_record", [False, True], ids=["columns", "records"])
def test_missing_key_names_record_and_key(force_per_record: bool) -> None:
    rows = make_rows(10)
    del rows[6]["f1"]
    with pytest.raises(DataError, match=r"test records: record 6: missing key 'f1'"):
        make_pipeline(rows, VALIDATION, force_per_record=force_per_record).numpy_batches()


def test_bad_first_record_fails_construction_on_the_per_record_path() -> None:
    rows = make_rows(6)
    del rows[0]["text"]
    with pytest.raises(DataError, match=r"test records: record 0: missing key 'text'"):
        make_pipeline(rows, SCORE, force_per_record=True)


@pytest.mark.parametrize("force_per_record", [False, True], ids=["columns", "records"])
def test_value_that_cannot_become_a_number_names_the_record(force_per_record: bool) -> None:
    rows = make_rows(10)
    rows[5]["f0"] = "abc"
    with pytest.raises(DataError, match=r"test records: .*record 5.*'abc'"):
        make_pipeline(rows, SCORE, force_per_record=force_per_record).numpy_batches()


@pytest.mark.parametrize("force_per_record", [False, True], ids=["columns", "records"])
def test_inputs_of_different_lengths_name_input_and_record(force_per_record: bool) -> None:
    rows = [dict(row, vector=[1.0, 2.0]) for row in make_rows(10)]
    rows[7]["vector"] = [1.0, 2.0, 3.0]
    pipeline_inputs = {"vector": "vector", "id": "id"}
    with pytest.raises(DataError, match=r"test records: .*'vector'.*record 7|record 7.*'vector'"):
        make_pipeline(rows, SCORE, inputs=pipeline_inputs, force_per_record=force_per_record).numpy_batches()


def test_per_record_values_must_agree_with_record_0() -> None:
    rows = make_rows(10)
    rows[6]["label"] = 0.5  # record 0 made the labels integers
    with pytest.raises(DataError, match=r"test records: record 6: y 'label' holds float.* but record 0 gave int64"):
        make_pipeline(rows, VALIDATION, force_per_record=True).numpy_batches()


def test_failing_loader_names_the_record() -> None:
    class Picky(KeySelector):
        vectorized = False

        def load(self, record: Dict[str, Any]) -> DataRecord:
            if record["id"] == 4:
                raise RuntimeError("cannot open t4.png")
            return super().load(record)

    loader = Picky(SCORE, inputs={"id": "id"})
    table = read_records(make_rows(8), "test records")
    pipeline = make_batch_source(table, mode=SCORE, loader=loader, transformer=IdentityTransformer(SCORE, loader))
    with pytest.raises(DataError, match=r"record 4: loader Picky failed: RuntimeError: cannot open t4\.png"):
        pipeline.numpy_batches()


def test_bad_record_during_training_is_a_data_error_and_leaves_nothing(
    config: Dict[str, Any], records: Any, tmp_path: Any
) -> None:
    default_runtime().registry.register("transformer", "PlainTransformer", PlainTransformer)
    config["dataset"]["transformer"] = {"import": "PlainTransformer"}
    train = records(64, seed=1)
    del train[40]["f2"]  # not in the first batches: found while fitting, on the per-record path
    directory = tmp_path / "run"
    with pytest.raises(DataError, match=r"training records: record 40: missing key 'f2'"):
        BarrageModel(directory).train(config, train, records(16, seed=2), verbose=0)
    assert not directory.exists()


def test_an_input_neither_numbers_nor_text_names_its_odd_record() -> None:
    """A column mostly text is kept as text; fed to a numeric input beside numbers it
    cannot become either: the first value of the rarer kind is named by its record."""
    import pandas as pd

    from barrage.records import RecordTable
    from barrage.sources import load_columns

    frame = pd.DataFrame({"x": np.array(["a", "b", 2.5, "c", "d"], dtype=object), "y": [0, 1, 0, 1, 0]})
    table = RecordTable.from_frame(frame, "train.csv", offset=100).slice(1, 5)
    loader = KeySelector(RecordMode.TRAIN, inputs={"x": "x"}, outputs={"y": "y"})
    transformer = IdentityTransformer(RecordMode.TRAIN, loader)
    with pytest.raises(DataError, match=r"train\.csv: x 'x': record 102: 2\.5 is a number among text"):
        load_columns(table, loader, transformer)
