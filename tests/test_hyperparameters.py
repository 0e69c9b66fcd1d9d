"""The hyperparameters of a training run in TensorBoard's HParams view."""

from __future__ import annotations

import glob
import os

import pytest

from barrage import BarrageModel, prepare_config
from barrage.services.hyperparameters import MAX_TEXT, hyperparameters


def logged_hparams(tensorboard_dir: str) -> dict:
    """The hparams of the session-start summaries in the TensorBoard folder (not below)."""
    import tensorflow as tf
    from tensorboard.plugins.hparams import metadata

    found = {}
    for path in glob.glob(os.path.join(tensorboard_dir, "events.out.tfevents.*")):
        for record in tf.data.TFRecordDataset(path):
            event = tf.compat.v1.Event.FromString(record.numpy())
            for value in event.summary.value:
                if value.metadata.plugin_data.plugin_name != metadata.PLUGIN_NAME:
                    continue
                data = metadata.parse_session_start_info_plugin_data(value.metadata.plugin_data.content) \
                    if value.tag == metadata.SESSION_START_INFO_TAG else None
                if data is not None:
                    found.update({key: getattr(v, v.WhichOneof("kind")) for key, v in data.hparams.items()})
    return found


def test_a_training_run_logs_its_hyperparameters_for_tensorboard(tmp_path, config, records):
    config["solver"]["optimizer"] = {"import": "Adam", "learning_rate": 0.02, "params": {"beta_1": 0.8}}
    config["solver"]["batch_size"] = 8
    config["solver"]["epochs"] = 1
    BarrageModel(tmp_path / "run").train(config, records(32, seed=1), records(16, seed=2), verbose=0)
    logged = logged_hparams(str(tmp_path / "run" / "TensorBoard"))
    assert logged["optimizer"] == "Adam" and logged["optimizer.beta_1"] == pytest.approx(0.8)
    assert logged["learning_rate"] == pytest.approx(0.02)
    assert logged["batch_size"] == 8 and logged["epochs"] == 1
    assert logged["network"] == "sequential_from_config"
    assert logged["network.output"] == "label" and logged["network.inputs"] == '{"features":[3]}'


def test_schedules_network_params_and_long_values(config):
    config["solver"]["optimizer"]["learning_rate"] = {
        "import": "ExponentialDecay", "params": {"initial_learning_rate": 0.1, "decay_steps": 10, "decay_rate": 0.5}}
    config["model"]["network"]["params"]["layers"] *= 20
    values = hyperparameters(prepare_config(config), {"vocab_size": 12})
    assert values["learning_rate"] == "ExponentialDecay" and values["learning_rate.decay_steps"] == 10
    assert values["network_params.vocab_size"] == 12
    assert len(values["network.layers"]) == MAX_TEXT and values["network.layers"].endswith("...")
    assert "steps" not in values  # null values are left out
    assert all(isinstance(v, (bool, int, float, str)) for v in values.values())


def test_without_tensorboard_nothing_is_logged(tmp_path, config, records):
    config["solver"]["epochs"] = 1
    config["services"] = {"tensorboard": None}
    BarrageModel(tmp_path / "run").train(config, records(32, seed=1), records(16, seed=2), verbose=0)
    assert not (tmp_path / "run" / "TensorBoard").exists()
