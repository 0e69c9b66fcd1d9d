"""barrage-text's ``TextVectorizer``, as installed, and the text example."""

from __future__ import annotations

import json
import os
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from barrage import ArtifactError, BarrageModel, ConfigError, DataError, KeySelector, RecordMode
from barrage.cli import cli
from barrage.sources import make_batch_source
from barrage.records import read_records
from barrage_text.vectorizer import TextVectorizer, tokenize

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "text"  # the repository's examples

CORPUS = [
    {"text": "The cat sat.", "label": 0},
    {"text": "the CAT ran, the dog sat!", "label": 1},
    {"text": "A dog; a cat... a bird?", "label": 0},
]
# counts: a 3, cat 3, the 3, dog 2, sat 2, bird 1, ran 1


def vectorizer(records=CORPUS, mode=RecordMode.TRAIN, **params):
    loader = KeySelector(mode, inputs={"text": "text"}, outputs={"label": "label"})
    transformer = TextVectorizer(mode, loader, **{"max_tokens": 100, "sequence_length": 6, "batch_size": 2, **params})
    transformer.fit(read_records(records))
    return transformer


def test_text_vectorizer_is_listed_as_an_entry_point_of_the_barrage_text_distribution():
    result = CliRunner().invoke(cli, ["components", "list", "--kind", "transformer", "--json"])
    assert result.exit_code == 0, result.output
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["TextVectorizer"]["source"] == f"barrage-text {metadata.version('barrage-text')}"
    assert rows["TextVectorizer"]["target"] == "barrage_text.vectorizer:TextVectorizer"


def test_importing_the_plugin_does_not_import_tensorflow(fresh_python):
    fresh_python(
        "import sys\n"
        "import barrage_text.vectorizer\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'barrage-text imported tensorflow'\n"
    )


def test_tokenize_lowercases_strips_punctuation_and_splits_on_whitespace():
    assert tokenize("Hello, World!  It's\tfine...") == ["hello", "world", "it", "s", "fine"]
    assert tokenize(b"Bytes TOO") == ["bytes", "too"]
    assert tokenize(None) == [] and tokenize(float("nan")) == [] and tokenize("?!") == []
    # digits alone may be read as a number: they are the same words as their text
    assert tokenize(10) == tokenize("10") == ["10"] and tokenize(7.0) == ["7"] and tokenize(np.int64(3)) == ["3"]


def test_vocabulary_keeps_the_most_frequent_words_and_passes_network_params():
    transformer = vectorizer(max_tokens=4)
    # ties broken alphabetically: a, cat, the (3 each) then dog (2) beats sat (2)
    assert transformer.vocabulary == ["a", "cat", "the", "dog"]
    assert transformer.network_params == {"vocab_size": 6, "sequence_length": 6}


def test_padding_truncation_and_out_of_vocabulary_ids():
    transformer = vectorizer(max_tokens=4)  # ids: a 2, cat 3, the 4, dog 5
    np.testing.assert_array_equal(transformer.vectorize("The cat"), [4, 3, 0, 0, 0, 0])
    np.testing.assert_array_equal(transformer.vectorize("the zebra sat"), [4, 1, 1, 0, 0, 0])
    long_text = "dog a cat the dog a cat the"  # 8 words, the first 6 are kept
    np.testing.assert_array_equal(transformer.vectorize(long_text), [5, 2, 3, 4, 5, 2])
    np.testing.assert_array_equal(transformer.vectorize(""), np.zeros(6))
    assert transformer.vectorize("cat").dtype == np.int32


def test_transform_per_record_and_batched_agree_and_leave_outputs_alone():
    transformer = vectorizer()
    single = transformer.transform(({"text": "a dog sat"}, {"label": 1}))
    assert single[1] == {"label": 1} and single[0]["text"].shape == (6,)
    batched = transformer.transform(({"text": np.array(["a dog sat", "the bird"], dtype=object)}, {"label": [1, 0]}))
    assert batched[0]["text"].shape == (2, 6)
    np.testing.assert_array_equal(batched[0]["text"][0], single[0]["text"])
    assert transformer.postprocess({"label": np.array([0.3, 0.7])})["label"].tolist() == [0.3, 0.7]

    table = read_records(CORPUS * 4)
    pipelines = [
        make_batch_source(table, mode=RecordMode.VALIDATION, loader=transformer.loader, transformer=transformer,
                          batch_size=5, per_record=f)
        for f in (False, True)
    ]
    assert [p.name for p in pipelines] == ["columns", "records"]
    for left, right in zip(*(p.numpy_batches() for p in pipelines)):
        np.testing.assert_array_equal(left[0]["text"], right[0]["text"])


def test_vocabulary_round_trips_as_plain_text(tmp_path):
    transformer = vectorizer()
    transformer.save(str(tmp_path))
    lines = (tmp_path / "vocabulary.txt").read_text(encoding="utf-8").splitlines()
    assert lines == transformer.vocabulary and lines[:3] == ["a", "cat", "the"]

    loader = KeySelector(RecordMode.SCORE, inputs={"text": "text"})
    reloaded = TextVectorizer(RecordMode.SCORE, loader, sequence_length=6)
    reloaded.load(str(tmp_path))
    assert reloaded.network_params == transformer.network_params
    np.testing.assert_array_equal(reloaded.vectorize("the bird ran away"), transformer.vectorize("the bird ran away"))

    (tmp_path / "vocabulary.txt").write_text("good\ntwo words\n", encoding="utf-8")
    with pytest.raises(ArtifactError, match="line 2"):
        reloaded.load(str(tmp_path))
    with pytest.raises(ArtifactError, match="missing"):
        reloaded.load(str(tmp_path / "elsewhere"))


def test_bad_params_and_data_give_clear_errors():
    loader = KeySelector(RecordMode.TRAIN, inputs={"text": "text"}, outputs={"label": "label"})
    with pytest.raises(ValueError, match="'sequence_length' must be a positive integer"):
        TextVectorizer(RecordMode.TRAIN, loader, sequence_length=0)
    with pytest.raises(ConfigError, match=r"dataset.transformer.params.input: .*\['review'\].*\['text'\]"):
        TextVectorizer(RecordMode.TRAIN, loader, input="review").fit(read_records(CORPUS))
    with pytest.raises(DataError, match="input 'text': expected text, got bool True"):
        vectorizer([{"text": True, "label": 0}, {"text": "fine", "label": 1}])
    with pytest.raises(DataError, match="no words"):
        vectorizer([{"text": "...", "label": 0}])
    with pytest.raises(ValueError, match="not fitted"):
        TextVectorizer(RecordMode.TRAIN, loader).vectorize("x")


def test_text_example_trains_a_sentiment_classifier_and_scores(tmp_path, example_module):
    data = example_module("text")
    with open(os.path.join(EXAMPLE, "config.json"), encoding="utf-8") as handle:
        config = json.load(handle)
    config["solver"]["epochs"] = 3
    config["services"]["tensorboard"] = None
    train, validation = data.make(200, seed=1), data.make(80, seed=2)
    artifact_dir = str(tmp_path / "sentiment")
    BarrageModel(artifact_dir).train(config, train, validation, verbose=0)

    with open(os.path.join(artifact_dir, "network_params.json")) as handle:
        params = json.load(handle)
    vocabulary = open(os.path.join(artifact_dir, "dataset", "vocabulary.txt"), encoding="utf-8").read().split()
    assert params == {"vocab_size": len(vocabulary) + 2, "sequence_length": 16}
    assert set(data.POSITIVE + data.NEGATIVE) <= set(vocabulary)

    scores = BarrageModel(artifact_dir).predict(validation.drop(columns=["sentiment"]))
    predicted = np.array([np.argmax(score["sentiment"]) for score in scores])
    accuracy = float(np.mean(predicted == validation["sentiment"].to_numpy()))
    assert accuracy > 0.8, accuracy
    unseen = BarrageModel(artifact_dir).predict([{"review": "Zyzzyva quokka!"}, {"review": ""}])
    assert all(np.isclose(float(np.sum(s["sentiment"])), 1.0, atol=1e-4) for s in unseen)


def test_vocabulary_fitted_on_a_streamed_file_matches_the_in_memory_one(tmp_path):
    import pandas as pd

    from barrage.records import RecordStream

    rng = np.random.default_rng(0)
    words = np.array(["alpha", "beta", "gamma", "delta", "eps", "zeta", "eta"])
    texts = [" ".join(rng.choice(words, size=rng.integers(1, 6), p=[.3, .2, .15, .15, .1, .05, .05]))
             for _ in range(300)]
    path = tmp_path / "texts.parquet"
    pd.DataFrame({"text": texts, "label": rng.integers(0, 2, 300)}).to_parquet(path, row_group_size=37)
    loader = KeySelector(RecordMode.TRAIN, inputs={"text": "text"}, outputs={"label": "label"})
    fitted = []
    for records in (read_records(str(path)), RecordStream(str(path))):
        transformer = TextVectorizer(RecordMode.TRAIN, loader, max_tokens=5, sequence_length=4, batch_size=13)
        transformer.fit(records)
        fitted.append(transformer)
    assert fitted[1].vocabulary == fitted[0].vocabulary
    assert len(fitted[0].vocabulary) == 5 and fitted[0].vocabulary[0] == "alpha"
    assert fitted[1].network_params == fitted[0].network_params


# -- as TensorFlow operations (barrage export) ----------------------------------------

TRICKY_TEXTS = [
    "Hello, World!", "  multiple   spaces\tand\nnewlines ", "Ünïcödé ÉCOLE naïve", "snake_case 123 and 4.5",
    "emoji 🙂 here", "nbsp\u00a0split\u2003em", "dash-ed/slash\\back", "", "ÀÉÎ ß ǅ", "日本語 テキスト",
    "a\x1cb\x85c", "²³ ½ Ⅻ", "can't won't", "zero\u200bwidth", "e\u0301",
]


def test_tensorflow_tokens_are_the_documented_tokens():
    import tensorflow as tf

    from barrage_text.vectorizer import tensorflow_tokens

    tokens = tensorflow_tokens(tf.constant(TRICKY_TEXTS)).to_list()
    assert [[t.decode("utf-8") for t in row] for row in tokens] == [tokenize(text) for text in TRICKY_TEXTS]


def test_tensorflow_ops_give_the_ids_vectorize_gives():
    import tensorflow as tf

    score_loader = KeySelector(RecordMode.SCORE, inputs={"text": "text"})
    transformer = vectorizer(max_tokens=4).for_mode(RecordMode.SCORE, score_loader)
    ops = transformer.tensorflow_ops()
    assert dict(ops.inputs) == {"text": ("string", None)} and len(ops.resources) == 1
    texts = ["The cat sat on the dog, the cat!", "bird", "", "A A A A A A A A A"]
    got = ops.transform({"text": tf.constant(texts)})["text"]
    assert got.dtype == tf.int32
    assert got.numpy().tolist() == transformer.transform(({"text": np.array(texts, dtype=object)},))[0][
        "text"].tolist()
    assert ops.postprocess({"sentiment": tf.constant([[0.5]])})["sentiment"].numpy().tolist() == [[0.5]]
