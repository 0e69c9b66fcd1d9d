"""barrage-tabular's transformers as TensorFlow operations (``tensorflow_ops``, what
``barrage export`` puts into a SavedModel): the same values as the NumPy path."""

from __future__ import annotations

import numpy as np
import pytest

from barrage import KeySelector, RecordMode
from barrage.records import read_records
from barrage.runtime import default_runtime
from barrage_tabular.composed import ComposedTransformer
from barrage_tabular.transformers import CategoricalEncoder, Standardizer

tf = pytest.importorskip("tensorflow")


def fitted(cls, records, keys, **params):
    """``cls`` fitted on ``records`` loaded by ``keys`` (input name -> record keys; the
    output ``y`` is key ``y``), as its SCORE twin."""
    loader = KeySelector(RecordMode.TRAIN, inputs=keys, outputs={"y": "y"})
    transformer = cls(RecordMode.TRAIN, loader, **params)
    transformer.fit(read_records(records))
    return transformer.for_mode(RecordMode.SCORE, KeySelector(RecordMode.SCORE, inputs=keys))


def tensors(batch):
    return {name: tf.constant(value) for name, value in batch.items()}


def test_standardizer_scales_inputs_and_restores_outputs_like_numpy():
    rng = np.random.default_rng(0)
    records = [{"a": float(v), "b": float(w), "y": float(t)} for v, w, t in rng.normal(5, 3, size=(40, 3))]
    transformer = fitted(Standardizer, records, {"v": ["a", "b"]}, inputs=["v"], outputs=["y"], fill_missing=True)
    ops = transformer.tensorflow_ops()
    assert dict(ops.inputs) == {"v": ("float64", (2,))}
    batch = {"v": np.array([[1.0, np.nan], [7.5, 2.0]])}
    expected = transformer.transform((batch,))[0]["v"]
    got = ops.transform(tensors(batch))["v"]
    assert got.dtype == tf.float32 and got.numpy() == pytest.approx(expected)  # the missing value filled
    scores = {"y": np.array([[0.5], [-1.0]], dtype=np.float32)}
    assert ops.postprocess(tensors(scores))["y"].numpy() == pytest.approx(transformer.postprocess(scores)["y"])


@pytest.mark.parametrize("values, one_hot", [
    (["red", "blue", "red", "green", "blue", "red"], False),
    (["red", "blue", "red", "green", "blue", "red"], True),
    ([3.0, 1.0, 3.0, 2.5, 1.0, 3.0], True),
    ([3, 1, 3, 7, 1, 3], False),
])
def test_categorical_encoder_gives_the_same_ids_and_categories(values, one_hot):
    records = [{"c": value, "y": ["lo", "hi"][i % 2]} for i, value in enumerate(values)]
    transformer = fitted(CategoricalEncoder, records, {"c": "c"}, inputs=["c"], outputs=["y"], one_hot=one_hot)
    ops = transformer.tensorflow_ops()
    text = isinstance(values[0], str)
    assert ops.inputs["c"] == ("string" if text else "float64", None)
    unseen = ["purple", "red", ""] if text else [99.0, 3.0, float("nan")]
    column = np.array(values[:3] + unseen, dtype=object if text else np.float64)
    expected = transformer.transform(({"c": column},))[0]["c"]
    got = ops.transform({"c": tf.constant(column.tolist() if text else column)})["c"]
    assert got.dtype == (tf.float32 if one_hot else tf.int32)
    assert got.numpy().tolist() == expected.tolist()
    probabilities = np.array([[0.1, 0.2, 0.7], [0.2, 0.5, 0.3]], dtype=np.float32)
    categories = ops.postprocess({"y": tf.constant(probabilities)})["y_category"].numpy()
    assert [c.decode() for c in categories] == transformer.postprocess({"y": probabilities})["y_category"].tolist()


def test_a_vocabulary_mixing_text_and_numbers_has_no_tensorflow_form():
    records = [{"c": value, "y": 0} for value in ["a", 1, "b", 2]]
    loader = KeySelector(RecordMode.TRAIN, inputs={"c": "c"}, outputs={"y": "y"})
    transformer = CategoricalEncoder(RecordMode.TRAIN, loader, inputs=["c"])
    transformer.fit(read_records(records))
    assert transformer.vocabularies["inputs"]["c"] == [1, 2, "a", "b"]
    assert transformer.tensorflow_ops() is None


def test_composed_steps_chain_and_a_step_without_operations_leaves_none(monkeypatch):
    rng = np.random.default_rng(1)
    records = [{"a": float(rng.normal(50, 9)), "d": ["x", "y", "z"][i % 3], "y": float(i)} for i in range(30)]
    steps = [{"import": "Standardizer", "params": {"inputs": ["n"], "outputs": ["y"]}},
             {"import": "CategoricalEncoder", "params": {"inputs": ["d"], "one_hot": True}}]
    inputs = {"n": ["a"], "d": "d"}
    with default_runtime().activate():
        loader = KeySelector(RecordMode.TRAIN, inputs=inputs, outputs={"y": "y"})
        transformer = ComposedTransformer(RecordMode.TRAIN, loader, steps=steps)
        transformer.fit(read_records(records))
    ops = transformer.tensorflow_ops()
    assert dict(ops.inputs) == {"n": ("float64", (1,)), "d": ("string", None)} and len(ops.resources) == 1
    batch = {"n": np.array([[40.0], [60.0]]), "d": np.array(["y", "q"], dtype=object)}
    expected = transformer.transform((batch,))[0]
    got = ops.transform({"n": tf.constant(batch["n"]), "d": tf.constant(["y", "q"])})
    assert got["n"].numpy() == pytest.approx(expected["n"]) and got["d"].numpy().tolist() == expected["d"].tolist()
    scores = {"y": np.array([[1.0]], dtype=np.float32)}
    assert ops.postprocess(tensors(scores))["y"].numpy() == pytest.approx(transformer.postprocess(scores)["y"])
    monkeypatch.setattr(Standardizer, "tensorflow_ops", lambda self: None)
    assert transformer.tensorflow_ops() is None
