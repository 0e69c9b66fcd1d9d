"""End-to-end training and scoring through ``BarrageModel``."""

from __future__ import annotations

import copy
import csv
import json
import os
from typing import Any, Dict, List

import numpy as np
import pytest

from barrage import ArtifactError, BarrageModel, ConfigError, DataError, hookimpl
from barrage.model import compile_network
from barrage.runtime import default_runtime

EXAMPLES = os.path.join(os.path.dirname(__file__), "..", "examples")


def report_rows(artifact_dir: str) -> List[Dict[str, str]]:
    with open(os.path.join(artifact_dir, "training_report.csv"), newline="") as handle:
        return list(csv.DictReader(handle))


def train(tmp_path, config, records, name="run", **kwargs):
    artifact_dir = str(tmp_path / name)
    model = BarrageModel(artifact_dir)
    model.train(config, records(96, seed=1), records(32, seed=2), verbose=0, **kwargs)
    return model, artifact_dir


def test_single_output_run_writes_every_artifact_and_scores_like_the_trained_network(tmp_path, config, records):
    artifact_dir = str(tmp_path / "run")
    network = BarrageModel(artifact_dir).train(config, records(96, seed=1), records(32, seed=2), verbose=0)

    for name in ("config.json", "network_params.json", "environment.json", "training_report.csv"):
        assert os.path.isfile(os.path.join(artifact_dir, name)), name
    assert os.path.isfile(os.path.join(artifact_dir, "best_checkpoint", "model.weights.h5"))
    assert os.listdir(os.path.join(artifact_dir, "TensorBoard"))
    assert os.path.isdir(os.path.join(artifact_dir, "dataset"))
    assert not os.path.exists(os.path.join(artifact_dir, "resume_checkpoints"))  # removed after success
    assert [row["epoch"] for row in report_rows(artifact_dir)] == ["0", "1"]

    saved = json.load(open(os.path.join(artifact_dir, "config.json")))
    assert saved["dataset"]["loader"]["source"].startswith("barrage ")
    assert saved["solver"]["optimizer"]["source"].startswith("keras ")
    assert saved["services"]["best_checkpoint"] == {"monitor": "val_loss", "mode": "min"}
    environment = json.load(open(os.path.join(artifact_dir, "environment.json")))
    assert environment["keras"].startswith("3.") and environment["barrage"]
    for path, _, files in os.walk(artifact_dir):
        assert not any(f.endswith((".pkl", ".pickle")) for f in files)

    scoring = records(20, seed=9)
    scores = BarrageModel(artifact_dir).predict(scoring)
    assert len(scores) == 20 and set(scores[0]) == {"label"}
    # the best checkpoint is the epoch with the lowest val_loss; with two epochs and a
    # decreasing loss it is the last, i.e. the in-memory network
    best_epoch = min(report_rows(artifact_dir), key=lambda row: float(row["val_loss"]))["epoch"]
    if best_epoch == "1":
        x = {"features": np.array([[r["f0"], r["f1"], r["f2"]] for r in scoring], dtype=np.float32)}
        expected = network.predict(x, verbose=0)["label"]
        np.testing.assert_allclose(np.stack([s["label"] for s in scores]), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose([s["label"].sum() for s in scores], 1.0, rtol=1e-5)
    for bad in (0, -1, 2.5, True):  # refused as the CLI refuses it, before TensorFlow's own errors
        with pytest.raises(ValueError, match=rf"batch_size: must be a whole number of at least 1, got {bad!r}"):
            BarrageModel(artifact_dir).predict(scoring, batch_size=bad)
        with pytest.raises(ValueError, match="batch_size: must be"):
            BarrageModel(artifact_dir).evaluate(scoring, batch_size=bad)
    with pytest.raises(ArtifactError, match="no such artifact directory"):
        BarrageModel(tmp_path / "nowhere").summary()  # not "trained 0 epoch(s)"


def test_load_restores_the_best_checkpoint_not_the_last_epoch(tmp_path, config, records):
    config["solver"]["epochs"] = 3
    config["services"] = {"best_checkpoint": {"monitor": "val_loss", "mode": "max"}}  # keeps the worst epoch
    model, artifact_dir = train(tmp_path, config, records)
    rows = report_rows(artifact_dir)
    best = max(range(len(rows)), key=lambda i: float(rows[i]["val_loss"]))
    loaded = BarrageModel(artifact_dir)
    loaded.load()
    validation = records(32, seed=2)
    x = {"features": np.array([[r["f0"], r["f1"], r["f2"]] for r in validation], dtype=np.float32)}
    y = np.array([r["label"] for r in validation])
    compile_network(loaded.network, loaded.config, loaded.runtime.registry)
    loss = loaded.network.evaluate(x, {"label": y}, batch_size=32, verbose=0, return_dict=True)["loss"]
    # the reloaded weights reproduce the best (here: highest) val_loss, not the last one
    assert float(loss) == pytest.approx(float(rows[best]["val_loss"]), rel=1e-3)
    # and so does the object that trained (the last epoch's weights are only in what train returned)
    assert best != len(rows) - 1
    by_trainer = model.predict(validation)
    np.testing.assert_array_equal([s["label"] for s in by_trainer], [s["label"] for s in loaded.predict(validation)])
    trained_loss = model.evaluate(validation)["keras"]["loss"]
    assert trained_loss == pytest.approx(float(rows[best]["val_loss"]), rel=1e-3)


def multi_io_config() -> Dict[str, Any]:
    with open(os.path.join(EXAMPLES, "multi_io", "config.json")) as handle:
        config = json.load(handle)
    config["solver"]["epochs"] = 2
    return config


def test_multi_input_multi_output_example_trains_with_weights_counts_augmentor_and_schedule(
    tmp_path, monkeypatch
):
    monkeypatch.syspath_prepend(os.path.join(EXAMPLES, "multi_io"))
    from make_data import make

    model = BarrageModel(str(tmp_path / "run"))
    network = model.train(multi_io_config(), make(120, seed=1), make(40, seed=2), verbose=0)
    assert sorted(network.output) == ["kind", "size"]
    rows = report_rows(str(tmp_path / "run"))
    assert {"kind_accuracy", "size_mae", "val_size_mae", "val_kind_accuracy", "learning_rate"} <= set(rows[0])
    # the ExponentialDecay schedule lowers the learning rate as steps go by
    assert float(rows[1]["learning_rate"]) < float(rows[0]["learning_rate"]) < 0.01
    scores = BarrageModel(str(tmp_path / "run")).predict(make(5, seed=3))
    assert [sorted(s) for s in scores] == [["kind", "size"]] * 5
    assert scores[0]["kind"].shape == (3,) and scores[0]["size"].shape == (1,)


def test_output_name_mismatch_lists_both_sets(tmp_path, config, records):
    config["model"]["outputs"][0]["name"] = "labels"
    config["dataset"]["loader"]["params"]["outputs"] = {"labels": "label"}
    with pytest.raises(ConfigError) as caught:
        train(tmp_path, config, records)
    message = str(caught.value)
    assert "['labels']" in message and "['label']" in message and "model.outputs" in message
    assert not os.path.exists(tmp_path / "run")


def test_layers_whose_shapes_cannot_meet_are_a_config_error(tmp_path, config, records):
    layers = config["model"]["network"]["params"]["layers"]
    layers.insert(0, {"import": "Normalization", "params": {"mean": [0.0] * 4, "variance": [1.0] * 4}})
    with pytest.raises(ConfigError, match=r"model.network: sequential_from_config failed with these params: "
                                          r"Incompatible shapes: \[1,4\] vs. \[1,3\]"):
        train(tmp_path, config, records)
    assert not os.path.exists(tmp_path / "run")


def test_text_for_a_numeric_network_input_is_named_before_training(tmp_path, config, records):
    """It used to reach TensorFlow, which failed with an internal UnimplementedError."""
    config["dataset"]["text_keys"] = ["f0", "f1", "f2"]
    with pytest.raises(DataError, match=r"^training records: input 'features' holds text but the network expects "
                                        r"float32 numbers; .* such as CategoricalEncoder"):
        train(tmp_path, config, records)
    assert not os.path.exists(tmp_path / "run")


def test_text_labels_for_a_sparse_loss_say_what_turns_them_into_ids(tmp_path, config, records):
    rows = [dict(row, label="yes" if row["label"] else "no") for row in records(40)]
    with pytest.raises(DataError, match=r"^training records: record 0, column 'label': text where class ids 0\.\.1 "
                                        r"are expected \(CategoricalEncoder, from barrage-tabular, turns labels"):
        BarrageModel(str(tmp_path / "run")).train(config, rows, rows[:10], verbose=0)
    assert not os.path.exists(tmp_path / "run")


def test_existing_artifact_directory_is_refused_and_left_untouched(tmp_path, config, records):
    existing = tmp_path / "run"
    existing.mkdir()
    (existing / "precious.txt").write_text("keep me")
    with pytest.raises(ArtifactError, match="already exists"):
        train(tmp_path, config, records)
    assert os.listdir(existing) == ["precious.txt"]
    assert (existing / "precious.txt").read_text() == "keep me"


def test_bad_records_leave_nothing_on_disk(tmp_path, config, records):
    broken = records(40)
    del broken[7]["f1"]
    with pytest.raises(DataError, match=r"record 7: missing key 'f1'"):
        BarrageModel(str(tmp_path / "run")).train(config, broken, records(10), verbose=0)
    assert not os.path.exists(tmp_path / "run")


def test_bad_records_found_mid_training_on_the_per_record_path_remove_the_new_directory(
    tmp_path, config, records, monkeypatch
):
    module = tmp_path / "fragile_loader.py"
    module.write_text(
        "import numpy as np\n"
        "from barrage.dataset import KeySelector\n"
        "class Fragile(KeySelector):\n"
        "    vectorized = False\n"
        "    def load(self, record):\n"
        "        if record['f0'] == 99.0:\n"
        "            raise ValueError('cannot read this one')\n"
        "        return super().load(record)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    config["dataset"]["loader"]["import"] = "fragile_loader.Fragile"
    broken = records(64)
    broken[50]["f0"] = 99.0
    with pytest.raises(DataError, match=r"record 50: loader Fragile failed: ValueError: cannot read this one"):
        BarrageModel(str(tmp_path / "run")).train(config, broken, records(10), verbose=0)
    assert not os.path.exists(tmp_path / "run")


def test_steps_sets_the_number_of_batches_per_epoch(tmp_path, config, records):
    import keras

    counted: List[int] = []

    class CountBatches(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            counted.append(0)

        def on_train_batch_end(self, batch, logs=None):
            counted[-1] += 1

    class Plugin:
        @hookimpl
        def barrage_callbacks(self, context):
            return [CountBatches()]

    default_runtime().register_plugin(Plugin(), "count-batches")
    config["solver"]["steps"] = 9  # 96 records / 16 = 6 batches a pass: a longer epoch
    train(tmp_path, config, records)
    assert counted == [9, 9]


def test_train_early_stopping_really_stops(tmp_path, config, records):
    config["solver"]["epochs"] = 20
    config["services"] = {
        "train_early_stopping": {"monitor": "loss", "mode": "min", "patience": 0, "min_delta": 1e9},
        "validation_early_stopping": None,
    }
    _, artifact_dir = train(tmp_path, config, records)
    assert len(report_rows(artifact_dir)) == 2


def test_learning_rate_reducer_lowers_the_rate(tmp_path, config, records):
    config["solver"]["epochs"] = 3
    config["solver"]["learning_rate_reducer"] = {
        "monitor": "loss", "mode": "min", "patience": 0, "factor": 0.5, "min_delta": 1e9,
    }
    _, artifact_dir = train(tmp_path, config, records)
    rates = [float(row["learning_rate"]) for row in report_rows(artifact_dir)]
    # epoch 0 sets the plateau's reference; epoch 1 cannot beat it by min_delta, so the
    # rate halves after epoch 1 and epoch 2 runs at 0.005 (the report logs each epoch's rate)
    assert rates == pytest.approx([0.01, 0.01, 0.005])


def test_sample_weights_change_the_loss(tmp_path, config, records):
    config["dataset"]["loader"]["params"]["sample_weights"] = {"label": "weight"}
    weighted = records(96, seed=1)
    for record in weighted:
        record["weight"] = 0.0 if record["label"] == 0 else 1.0
    model = BarrageModel(str(tmp_path / "run"))
    model.train(config, weighted, records(32, seed=2), verbose=0)
    zero = records(96, seed=1)
    for record in zero:
        record["weight"] = 0.0
    config["solver"]["epochs"] = 1
    model = BarrageModel(str(tmp_path / "zero"))
    model.train(config, zero, records(32, seed=2), verbose=0)
    assert float(report_rows(str(tmp_path / "zero"))[0]["loss"]) == 0.0
    assert float(report_rows(str(tmp_path / "run"))[0]["loss"]) > 0.0


def test_same_seed_gives_the_same_training_report(tmp_path, config, records):
    _, first = train(tmp_path, config, records, name="first")
    _, second = train(tmp_path, config, records, name="second")
    assert open(os.path.join(first, "training_report.csv")).read() == open(
        os.path.join(second, "training_report.csv")
    ).read()


def test_lifecycle_hooks_fire_with_the_run_context(tmp_path, config, records):
    calls: List[Any] = []

    class Plugin:
        @hookimpl
        def barrage_pre_fit(self, context):
            calls.append(("pre_fit", context.mode.value, context.artifact_dir, context.network is not None))
            assert os.path.isfile(os.path.join(context.artifact_dir, "config.json"))

        @hookimpl
        def barrage_post_fit(self, context, history):
            calls.append(("post_fit", len(history.history["loss"])))

        @hookimpl
        def barrage_pre_score(self, context, records):
            calls.append(("pre_score", context.mode.value, len(records)))

        @hookimpl
        def barrage_post_score(self, context, scores):
            calls.append(("post_score", len(scores)))
            return [dict(score, extra=1) for score in scores]

    default_runtime().register_plugin(Plugin(), "recorder")
    _, artifact_dir = train(tmp_path, config, records)
    scores = BarrageModel(artifact_dir).predict(records(4))
    assert calls == [
        ("pre_fit", "train", artifact_dir, True),
        ("post_fit", 2),
        ("pre_score", "score", 4),
        ("post_score", 4),
    ]
    assert all(score["extra"] == 1 for score in scores)


def test_sample_weight_mode_is_accepted_with_a_warning(tmp_path, config, records):
    config["model"]["outputs"][0]["sample_weight_mode"] = "temporal"
    config["solver"]["epochs"] = 1
    with pytest.warns(UserWarning, match="sample_weight_mode is ignored"):
        train(tmp_path, config, records)


def test_resume_of_a_finished_run_is_refused(tmp_path, config, records):
    config["solver"]["epochs"] = 1
    _, artifact_dir = train(tmp_path, config, records)
    with pytest.raises(ArtifactError, match="already finished"):
        BarrageModel(artifact_dir).train(config, records(96, seed=1), records(32, seed=2), resume=True, verbose=0)


def test_resume_with_a_different_config_is_refused(tmp_path, config, records):
    config["solver"]["epochs"] = 1
    _, artifact_dir = train(tmp_path, config, records)
    changed = copy.deepcopy(config)
    changed["solver"]["batch_size"] = 8
    changed["model"]["network"]["params"]["layers"][0]["params"]["units"] = 5
    with pytest.raises(ArtifactError, match=r"config differs from the one this run started with at "
                                            r"model\.network\.params\.layers\[0\]\.params\.units, solver\.batch_size;"):
        BarrageModel(artifact_dir).train(changed, records(96, seed=1), records(32, seed=2), resume=True, verbose=0)


def test_old_sequential_from_config_path_still_resolves_to_the_registered_builder(tmp_path, config, records):
    config["model"]["network"]["import"] = "barrage.model.sequential_from_config"
    config["solver"]["epochs"] = 1
    _, artifact_dir = train(tmp_path, config, records)
    saved = json.load(open(os.path.join(artifact_dir, "config.json")))
    assert saved["model"]["network"]["target"] == "barrage.model:sequential_from_config"
    assert saved["model"]["network"]["source"].startswith("barrage ")


def test_scoring_does_not_need_the_augmentors_training_used(tmp_path, config, records, user_module):
    """Augmentors only run in training: a run trained with one from user code scores,
    evaluates and loads under --strict (which resolves no Python path), and without the
    module at all."""
    import sys

    from barrage.runtime import Policy, Runtime

    name = user_module("def jitter(record):\n    return record\n", "augment")
    config["dataset"]["augmentor"] = [{"import": f"{name}.jitter"}]
    config["solver"]["epochs"] = 1
    BarrageModel(str(tmp_path / "run")).train(config, records(48, seed=1), records(16, seed=2), verbose=0)
    sys.modules.pop(name)
    sys.path.remove(str(tmp_path))
    strict = BarrageModel(str(tmp_path / "run"), Runtime(Policy(strict=True, autoload_plugins=False)))
    assert len(strict.predict(records(5, seed=3))) == 5
    assert strict.evaluate(records(16, seed=4))["records"] == 16
    assert name not in sys.modules


def test_a_callback_failing_on_a_config_value_is_blamed_on_the_config_not_the_data(tmp_path, config, records):
    """A baseline that is not a number passes the callback's constructor and fails when
    the first epoch ends: the config is named, not the training records."""
    config["services"] = {"validation_early_stopping": {"monitor": "val_loss", "mode": "min", "patience": 1,
                                                        "min_delta": 0.0, "baseline": "high"}}
    with pytest.raises(ConfigError) as caught:
        train(tmp_path, config, records)
    assert caught.value.problems[0].startswith(
        "services.validation_early_stopping: the Keras callback EarlyStopping failed during training")
    # the epoch it ended is of a config no run can go on with (resuming takes the same config): nothing kept
    assert not os.path.exists(tmp_path / "run")
