"""Config preparation: defaults, "all or none" blocks, monitor correction, callback
keywords, params binding, provenance, and a catalogue of broken configs run through the
CLI (exit 2, the dotted path, no traceback, nothing on disk)."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import warnings
from importlib import metadata
from pathlib import Path
from typing import Any, Callable, Dict, List

import pytest
from click.testing import CliRunner

from barrage.artifacts import ArtifactLayout
from barrage.cli import cli
from barrage.config import BarrageConfigWarning, ConfigError, prepare_config

BARRAGE_VERSION = metadata.version("barrage")
KERAS_VERSION = metadata.version("keras")
BARRAGE_SCRIPT = str(Path(sys.executable).with_name("barrage"))

# The defaults as DESIGN.md section 3 states them (written out here, not read from the code).
DESIGN_SERVICES = {
    "best_checkpoint": {"monitor": "val_loss", "mode": "min"},
    "tensorboard": {},
    "train_early_stopping": {"monitor": "loss", "mode": "min", "patience": 10, "min_delta": 1e-5, "verbose": 1},
    "validation_early_stopping": {"monitor": "val_loss", "mode": "min", "patience": 10, "min_delta": 1e-5,
                                  "verbose": 1},
}


def _strip_provenance(block: Dict[str, Any]) -> Dict[str, Any]:
    return {k: v for k, v in block.items() if k not in ("source", "target")}


def _problems(config: Dict[str, Any]) -> List[str]:
    with pytest.raises(ConfigError) as error:
        prepare_config(config)
    return error.value.problems


# -- defaults -------------------------------------------------------------------------


def test_defaults_are_merged(config):
    del config["solver"]
    resolved = prepare_config(config)
    assert _strip_provenance(resolved["dataset"]["transformer"]) == {"import": "IdentityTransformer", "params": {}}
    assert resolved["dataset"]["augmentor"] == []
    assert resolved["dataset"]["sample_count"] is None
    assert resolved["dataset"]["seed"] == 3
    solver = resolved["solver"]
    assert _strip_provenance(solver["optimizer"]) == {"import": "Adam", "learning_rate": 1e-3, "params": {}}
    assert (solver["batch_size"], solver["epochs"], solver["steps"]) == (32, 50, None)
    assert solver["learning_rate_reducer"] is None
    assert resolved["services"] == DESIGN_SERVICES
    assert "solver" not in config  # the caller's dict is not touched


def test_a_given_optimizer_block_replaces_the_default_whole(config):
    config["solver"]["optimizer"] = {"import": "SGD", "learning_rate": 0.1}
    optimizer = prepare_config(config)["solver"]["optimizer"]
    assert _strip_provenance(optimizer) == {"import": "SGD", "learning_rate": 0.1, "params": {}}
    assert optimizer["target"] == "keras.optimizers.SGD"
    # ... so a block without learning_rate is not completed from the default.
    config["solver"]["optimizer"] = {"import": "SGD"}
    assert _problems(config) == ["solver.optimizer.learning_rate: is required"]


def test_a_given_service_block_replaces_the_default_whole_and_others_keep_theirs(config):
    config["services"] = {"train_early_stopping": {"monitor": "loss", "mode": "min"}}
    assert _problems(config) == [
        "services.train_early_stopping.min_delta: is required",
        "services.train_early_stopping.patience: is required",
    ]
    config["services"] = {"train_early_stopping": {"monitor": "loss", "mode": "min", "patience": 2, "min_delta": 0}}
    services = prepare_config(config)["services"]
    assert services["train_early_stopping"] == {"monitor": "loss", "mode": "min", "patience": 2, "min_delta": 0}
    assert services["best_checkpoint"] == DESIGN_SERVICES["best_checkpoint"]
    assert services["validation_early_stopping"] == DESIGN_SERVICES["validation_early_stopping"]


def test_null_service_blocks_switch_services_off(config, tmp_path):
    import keras

    from barrage.services import ServiceRun, build_services

    config["services"] = {name: None for name in DESIGN_SERVICES}
    resolved = prepare_config(config)
    assert resolved["services"] == {name: None for name in DESIGN_SERVICES}
    kinds = {type(c) for c in build_services(ServiceRun(resolved, ArtifactLayout(str(tmp_path / "run"))))}
    assert not kinds & {keras.callbacks.ModelCheckpoint, keras.callbacks.TensorBoard, keras.callbacks.EarlyStopping}
    assert not (tmp_path / "run").exists()


def test_the_resolved_config_is_stable_and_plain_json(config):
    resolved = prepare_config(config)
    assert json.loads(json.dumps(resolved)) == resolved
    assert prepare_config(resolved) == resolved


# -- monitors -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "service, block, corrected",
    [
        ("best_checkpoint", {"monitor": "loss", "mode": "min"}, "val_loss"),
        ("best_checkpoint", {"monitor": "accuracy", "mode": "max"}, "val_accuracy"),
        ("validation_early_stopping", {"monitor": "loss", "mode": "min", "patience": 1, "min_delta": 0}, "val_loss"),
        ("train_early_stopping", {"monitor": "val_loss", "mode": "min", "patience": 1, "min_delta": 0}, "loss"),
        ("train_early_stopping", {"monitor": "val_accuracy", "mode": "max", "patience": 1, "min_delta": 0},
         "accuracy"),
    ],
)
def test_a_monitor_on_the_wrong_side_is_corrected_with_a_warning(config, service, block, corrected):
    config["services"] = {service: block}
    with pytest.warns(BarrageConfigWarning, match=f"services.{service}.monitor: '{block['monitor']}' is not"):
        resolved = prepare_config(config)
    assert resolved["services"][service]["monitor"] == corrected
    assert config["services"][service]["monitor"] == block["monitor"]


def test_monitors_on_the_right_side_pass_without_warning(config):
    config["services"] = {
        "best_checkpoint": {"monitor": "val_accuracy", "mode": "max"},
        "train_early_stopping": {"monitor": "accuracy", "mode": "max", "patience": 1, "min_delta": 0},
    }
    config["solver"]["learning_rate_reducer"] = {"monitor": "loss", "mode": "min", "patience": 1, "factor": 0.5}
    with warnings.catch_warnings():
        warnings.simplefilter("error", BarrageConfigWarning)
        resolved = prepare_config(config)
    assert resolved["solver"]["learning_rate_reducer"]["monitor"] == "loss"


def test_the_cli_prints_the_monitor_correction(config, tmp_path):
    config["services"] = {"best_checkpoint": {"monitor": "loss", "mode": "min"}}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exit_code == 0
    assert "warning: services.best_checkpoint.monitor: 'loss' is not a validation quantity; using 'val_loss'" in (
        result.stderr
    )


# -- callback keywords ----------------------------------------------------------------


@pytest.mark.parametrize(
    "section, name, block",
    [
        ("services", "best_checkpoint", {"monitor": "val_loss", "mode": "min", "verbose": 1}),
        ("services", "validation_early_stopping",
         {"monitor": "val_loss", "mode": "min", "patience": 3, "min_delta": 0, "verbose": 0,
          "start_from_epoch": 2, "restore_best_weights": True, "baseline": 0.9}),
        ("services", "tensorboard", {"histogram_freq": 1, "update_freq": "epoch", "write_graph": False}),
        ("solver", "learning_rate_reducer",
         {"monitor": "val_loss", "mode": "min", "patience": 2, "factor": 0.5, "min_lr": 1e-5, "cooldown": 1}),
    ],
)
def test_callback_blocks_accept_keras_keyword_arguments(config, section, name, block):
    config.setdefault(section, {})[name] = block
    assert prepare_config(config)[section][name] == block


@pytest.mark.parametrize(
    "section, name, block, problem",
    [
        ("services", "validation_early_stopping",
         {"monitor": "val_loss", "mode": "min", "patience": 3, "min_delta": 0, "start_from_epochs": 2},
         "services.validation_early_stopping.start_from_epochs: is not an argument of "
         "keras.callbacks.EarlyStopping (did you mean 'start_from_epoch'?)"),
        ("services", "best_checkpoint", {"monitor": "val_loss", "mode": "min", "verbos": 1},
         "services.best_checkpoint.verbos: is not an argument of keras.callbacks.ModelCheckpoint "
         "(did you mean 'verbose'?)"),
        ("services", "tensorboard", {"histogram_frequency": 1},
         "services.tensorboard.histogram_frequency: is not an argument of keras.callbacks.TensorBoard "
         "(did you mean 'histogram_freq'?)"),
        ("solver", "learning_rate_reducer",
         {"monitor": "val_loss", "mode": "min", "patience": 2, "factor": 0.5, "min_lrr": 0.1},
         "solver.learning_rate_reducer.min_lrr: is not an argument of keras.callbacks.ReduceLROnPlateau "
         "(did you mean 'min_lr'?)"),
        ("services", "best_checkpoint", {"monitor": "val_loss", "mode": "min", "save_best_only": False},
         "services.best_checkpoint.save_best_only: is set by Barrage and cannot be configured"),
        ("services", "tensorboard", {"log_dir": "elsewhere"},
         "services.tensorboard.log_dir: is set by Barrage and cannot be configured"),
    ],
)
def test_callback_blocks_refuse_misspelled_and_reserved_keywords(config, section, name, block, problem):
    config.setdefault(section, {})[name] = block
    assert _problems(config) == [problem]


# -- params binding -------------------------------------------------------------------

USER_SOURCE = """
def noise(data_record, std=0.1, rng=None):
    return data_record


def build(units, inputs=None):
    return None
"""


@pytest.fixture
def user_code(user_module) -> str:
    return user_module(USER_SOURCE, "config_user")


@pytest.mark.parametrize(
    "change, problem",
    [
        (lambda c, m: c["dataset"]["loader"]["params"].update(input={"x": "f0"}),
         "dataset.loader.params: do not fit KeySelector: got an unexpected keyword argument 'input'"),
        (lambda c, m: c["dataset"]["loader"]["params"].pop("inputs"),
         "dataset.loader.params: do not fit KeySelector: missing a required argument: 'inputs'"),
        (lambda c, m: c["dataset"].update(transformer={"import": "IdentityTransformer", "params": {"scale": 2}}),
         "dataset.transformer.params: do not fit IdentityTransformer: got an unexpected keyword argument 'scale'"),
        (lambda c, m: c["dataset"].update(augmentor=[{"import": f"{m}.noise", "params": {"sd": 1}}]),
         "dataset.augmentor[0].params: do not fit noise: got an unexpected keyword argument 'sd'"),
        (lambda c, m: c["model"].update(network={"import": f"{m}.build", "params": {"unit": 3}}),
         "model.network.params: do not fit build: got an unexpected keyword argument 'unit'"),
        (lambda c, m: c["model"]["outputs"][0]["loss"].update(params={"from_logit": True}),
         "model.outputs[0].loss.params: do not fit sparse_categorical_crossentropy: "
         "got an unexpected keyword argument 'from_logit'"),
        (lambda c, m: c["model"]["outputs"][0]["metrics"].append({"import": "AUC", "params": {"num_threshold": 9}}),
         "model.outputs[0].metrics[1].params: do not fit AUC: got an unexpected keyword argument 'num_threshold'"),
        (lambda c, m: c["model"]["outputs"][0]["metrics"][0].update(params={"k": 1}),
         "model.outputs[0].metrics[0].params: do not fit accuracy: takes no params"),
        (lambda c, m: c["solver"]["optimizer"].update(params={"beta_one": 0.8}),
         "solver.optimizer.params: do not fit Adam: got an unexpected keyword argument 'beta_one'"),
        (lambda c, m: c["solver"]["optimizer"].update(params={"learning_rate": 0.5}),
         "solver.optimizer.params: do not fit Adam: 'learning_rate' is set by solver.optimizer.learning_rate"),
        (lambda c, m: c["solver"]["optimizer"].update(
            learning_rate={"import": "ExponentialDecay", "params": {"initial_learning_rate": 0.1}}),
         "solver.optimizer.learning_rate.params: do not fit ExponentialDecay: missing a required argument: "
         "'decay_steps'"),
    ],
)
def test_params_that_do_not_fit_their_component_are_reported(config, user_code, change, problem):
    change(config, user_code)
    problems = _problems(config)
    assert len(problems) == 1
    assert problems[0].startswith(problem)


def test_params_that_fit_are_accepted(config, user_code):
    config["dataset"]["augmentor"] = [{"import": f"{user_code}.noise", "params": {"std": 0.5}}]
    config["model"]["outputs"][0]["metrics"].append({"import": "AUC", "params": {"num_thresholds": 50}})
    config["model"]["outputs"][0]["loss"] = {
        "import": "SparseCategoricalCrossentropy", "params": {"from_logits": False}
    }
    config["solver"]["optimizer"] = {
        "import": "adam",
        "learning_rate": {"import": "ExponentialDecay",
                          "params": {"initial_learning_rate": 0.1, "decay_steps": 10, "decay_rate": 0.9}},
        "params": {"beta_1": 0.8, "clipnorm": 1.0},
    }
    prepare_config(config)
    config["solver"]["optimizer"] = {"import": "Muon", "learning_rate": 0.01, "params": {"rms_rate": None}}
    prepare_config(config)  # a numeric param that None switches off


def test_the_resolved_config_says_where_every_component_came_from(config, user_code):
    config["dataset"]["augmentor"] = [{"import": f"{user_code}.noise"}]
    config["solver"]["optimizer"]["learning_rate"] = {
        "import": "tensorflow.keras.optimizers.schedules.CosineDecay",
        "params": {"initial_learning_rate": 0.1, "decay_steps": 10},
    }
    resolved = prepare_config(config)
    barrage_source, keras_source = f"barrage {BARRAGE_VERSION}", f"keras {KERAS_VERSION}"
    dataset, model, optimizer = resolved["dataset"], resolved["model"], resolved["solver"]["optimizer"]
    output = model["outputs"][0]
    expected = [
        (dataset["loader"], barrage_source, "barrage.dataset:KeySelector"),
        (dataset["transformer"], barrage_source, "barrage.dataset:IdentityTransformer"),
        (dataset["augmentor"][0], "python path", f"{user_code}:noise"),
        (model["network"], barrage_source, "barrage.model:sequential_from_config"),
        (output["loss"], keras_source, "keras.losses.sparse_categorical_crossentropy"),
        (output["metrics"][0], keras_source, "keras compile alias 'accuracy'"),
        (optimizer, keras_source, "keras.optimizers.Adam"),
        (optimizer["learning_rate"], keras_source, "keras.optimizers.schedules.CosineDecay"),
    ]
    for block, source, target in expected:
        assert (block["source"], block["target"]) == (source, target), block["import"]


def test_a_stale_source_in_a_config_is_recomputed(config):
    config["dataset"]["loader"]["source"] = "somewhere else"
    assert prepare_config(config)["dataset"]["loader"]["source"] == f"barrage {BARRAGE_VERSION}"


# -- the catalogue of broken configs --------------------------------------------------

Change = Callable[[Dict[str, Any]], Any]


def _set(*path: Any, value: Any) -> Change:
    def change(config: Dict[str, Any]) -> None:
        target = config
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


def _delete(*path: Any) -> Change:
    def change(config: Dict[str, Any]) -> None:
        target = config
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    return change


def _schedule_and_reducer(config: Dict[str, Any]) -> None:
    """Keras refuses to set the rate of a schedule: the reducer would fail mid-training."""
    config["solver"]["optimizer"]["learning_rate"] = {
        "import": "ExponentialDecay", "params": {"initial_learning_rate": 0.1, "decay_steps": 10, "decay_rate": 0.9}}
    config["solver"]["learning_rate_reducer"] = {"monitor": "val_loss", "mode": "min", "patience": 1, "factor": 0.5}


def _counted_and_text(config: Dict[str, Any]) -> None:
    config["dataset"]["sample_count"] = "repeat"
    config["dataset"]["text_keys"] = ["code", "repeat"]


def _two_outputs(weights: bool, same_name: bool) -> Change:
    def change(config: Dict[str, Any]) -> None:
        first = config["model"]["outputs"][0]
        second = copy.deepcopy(first)
        second["name"] = first["name"] if same_name else "other"
        if weights:
            first["loss_weight"] = second["loss_weight"] = 0.5
        config["model"]["outputs"].append(second)

    return change


def _services(**blocks: Any) -> Change:
    return _set("services", value=blocks)


ES = {"monitor": "val_loss", "mode": "min", "patience": 2, "min_delta": 0.0}

# (id, change, the problem line must start with this)
CATALOGUE = [
    ("dataset-missing", _delete("dataset"), "dataset: is required"),
    ("dataset-null", _set("dataset", value=None), "dataset: must not be null"),
    ("dataset-unknown-key", _set("dataset", "shufle", value=True), "dataset.shufle: is not a known key"),
    ("dataset-streaming", _set("dataset", "streaming", value="yes"),
     'dataset.streaming: must be one of "auto", true, false, got "yes"'),
    ("dataset-shuffle-buffer", _set("dataset", "shuffle_buffer", value=-1),
     "dataset.shuffle_buffer: must be at least 0"),
    ("loader-missing", _delete("dataset", "loader"), "dataset.loader: is required"),
    ("loader-string", _set("dataset", "loader", value="KeySelector"), "dataset.loader: must be of type dict"),
    ("loader-import-missing", _delete("dataset", "loader", "import"), "dataset.loader.import: is required"),
    ("loader-import-empty", _set("dataset", "loader", "import", value=""), "dataset.loader.import: must not be empty"),
    ("loader-import-number", _set("dataset", "loader", "import", value=3),
     "dataset.loader.import: must be of type string"),
    ("loader-misspelled", _set("dataset", "loader", "import", value="KeySelecter"),
     "dataset.loader.import: no loader named 'KeySelecter'"),
    ("loader-key-typo", _set("dataset", "loader", "prams", value={}), "dataset.loader.prams: is not a known key"),
    ("loader-params-list", _set("dataset", "loader", "params", value=[]),
     "dataset.loader.params: must be of type dict"),
    ("loader-unknown-param", _set("dataset", "loader", "params", "input", value={}),
     "dataset.loader.params: do not fit KeySelector"),
    ("transformer-is-a-loader", _set("dataset", "transformer", value={"import": "KeySelector"}),
     "dataset.transformer.import: no transformer named 'KeySelector'"),
    ("transformer-wrong-class", _set("dataset", "transformer", value={"import": "barrage.dataset.KeySelector"}),
     "dataset.transformer.import: transformer 'barrage.dataset.KeySelector'"),
    ("augmentor-not-a-list", _set("dataset", "augmentor", value={"import": "x.y"}),
     "dataset.augmentor: must be of type list"),
    ("augmentor-missing-module", _set("dataset", "augmentor", value=[{"import": "no_such_module_xyz.noise"}]),
     "dataset.augmentor[0].import: no augmentor named 'no_such_module_xyz.noise'"),
    ("seed-negative", _set("dataset", "seed", value=-1), "dataset.seed: must be at least 0"),
    ("seed-boolean", _set("dataset", "seed", value=True), "dataset.seed: must be of type integer"),
    ("sample-count-empty", _set("dataset", "sample_count", value=""), "dataset.sample_count: must not be empty"),
    ("workers-zero", _set("dataset", "workers", value=0), "dataset.workers: must be at least 1"),
    ("top-level-unknown", _set("dataset_v2", value={}), "dataset_v2: is not a known key"),
    ("model-missing", _delete("model"), "model: is required"),
    ("model-string", _set("model", value="mlp"), "model: must be of type dict"),
    ("network-missing", _delete("model", "network"), "model.network: is required"),
    ("network-is-a-class", _set("model", "network", "import", value="barrage.dataset.KeySelector"),
     "model.network.import: network 'barrage.dataset.KeySelector'"),
    ("outputs-empty", _set("model", "outputs", value=[]), "model.outputs: must have at least 1 item"),
    ("outputs-missing", _delete("model", "outputs"), "model.outputs: is required"),
    ("output-not-a-dict", _set("model", "outputs", value=["label"]), "model.outputs[0]: must be of type dict"),
    ("output-name-missing", _delete("model", "outputs", 0, "name"), "model.outputs[0].name: is required"),
    ("output-loss-missing", _delete("model", "outputs", 0, "loss"), "model.outputs[0].loss: is required"),
    ("outputs-same-name", _two_outputs(weights=True, same_name=True),
     "model.outputs[1].name: 'label' is already used by model.outputs[0]"),
    ("outputs-without-weights", _two_outputs(weights=False, same_name=False),
     "model.outputs[0].loss_weight: is required when there are several outputs"),
    ("loss-weight-negative", _set("model", "outputs", 0, "loss_weight", value=-1.0),
     "model.outputs[0].loss_weight: must be at least 0"),
    ("loss-misspelled", _set("model", "outputs", 0, "loss", "import", value="sparse_categorical_crossentropyy"),
     "model.outputs[0].loss.import: no loss named"),
    ("loss-is-an-optimizer", _set("model", "outputs", 0, "loss", "import", value="keras.optimizers.Adam"),
     "model.outputs[0].loss.import: loss 'keras.optimizers.Adam'"),
    ("metric-misspelled", _set("model", "outputs", 0, "metrics", 0, "import", value="acuracy"),
     "model.outputs[0].metrics[0].import: no metric named 'acuracy'"),
    ("metrics-not-a-list", _set("model", "outputs", 0, "metrics", value="accuracy"),
     "model.outputs[0].metrics: must be of type list"),
    ("solver-list", _set("solver", value=[]), "solver: must be of type dict"),
    ("optimizer-import-missing", _delete("solver", "optimizer", "import"), "solver.optimizer.import: is required"),
    ("optimizer-misspelled", _set("solver", "optimizer", "import", value="Adamm"),
     "solver.optimizer.import: no optimizer named 'Adamm'"),
    ("optimizer-unknown-key", _set("solver", "optimizer", "momentum", value=0.9),
     "solver.optimizer.momentum: is not a known key"),
    ("optimizer-unknown-param", _set("solver", "optimizer", "params", value={"beta": 0.9}),
     "solver.optimizer.params: do not fit Adam"),
    ("optimizer-param-text", _set("solver", "optimizer", "params", value={"beta_1": "high"}),
     "solver.optimizer.params: do not fit Adam: 'beta_1' must be a number (its default is 0.9), got the text 'high'"),
    ("optimizer-param-yaml-exponent", _set("solver", "optimizer", "params", value={"epsilon": "1e-7"}),
     "solver.optimizer.params: do not fit Adam: 'epsilon' must be a number (its default is 1e-07), got the text "
     "'1e-7' (in YAML, write 1.0e-2"),
    ("import-blank", _set("solver", "optimizer", "import", value="  "),
     "solver.optimizer.import: optimizer name must be a non-empty string"),
    ("optimizer-param-bool", _set("solver", "optimizer", "params", value={"epsilon": True}),
     "solver.optimizer.params: do not fit Adam: 'epsilon' must be a number"),
    ("learning-rate-missing", _delete("solver", "optimizer", "learning_rate"),
     "solver.optimizer.learning_rate: is required"),
    ("learning-rate-string", _set("solver", "optimizer", "learning_rate", value="fast"),
     "solver.optimizer.learning_rate: must be a number or an import block"),
    ("learning-rate-zero", _set("solver", "optimizer", "learning_rate", value=0),
     "solver.optimizer.learning_rate: must be greater than 0"),
    ("layer-param-misspelt", _set("model", "network", "params", "layers", 0, "params", value={"unit": 4}),
     "model.network.params.layers[0].params: do not fit Dense: got an unexpected keyword argument 'unit'"),
    ("layer-activation-misspelt", _set("model", "network", "params", "layers", 0, "params", "activation",
                                       value="relux"),
     "model.network.params.layers[0].params: do not fit Dense: Could not interpret activation function identifier: "
     "relux"),
    ("layer-units-text", _set("model", "network", "params", "layers", 0, "params", "units", value="four"),
     "model.network.params.layers[0].params: do not fit Dense: Received an invalid value for `units`"),
    ("layer-import-empty", _set("model", "network", "params", "layers", 0, "import", value=""),
     "model.network.params.layers[0].import: must not be empty"),
    ("layer-import-missing", _delete("model", "network", "params", "layers", 0, "import"),
     "model.network.params.layers[0].import: is required"),
    ("layer-import-number", _set("model", "network", "params", "layers", 0, "import", value=5),
     "model.network.params.layers[0].import: must be of type string"),
    ("layer-not-a-block", _set("model", "network", "params", "layers", 0, value="Dense"),
     "model.network.params.layers[0]: must be an import block"),
    ("layers-not-a-list", _set("model", "network", "params", "layers", value="Dense"),
     "model.network.params.layers: must be a list of import blocks, got str"),
    ("layers-placeholder", _set("model", "network", "params", "layers", value="{{layers}}"),
     "model.network.params.layers: must be a list of import blocks, got str"),
    ("layers-one-block", _set("model", "network", "params", "layers", value={"import": "Dense"}),
     "model.network.params.layers: must be a list of import blocks, got one block (put it in a list)"),
    ("learning-rate-yaml-exponent", _set("solver", "optimizer", "learning_rate", value="1e-2"),
     "solver.optimizer.learning_rate: must be a number or an import block, got the text '1e-2' (in YAML, write "
     "1.0e-2"),
    ("schedule-with-reducer", _schedule_and_reducer, "solver.learning_rate_reducer: cannot lower a learning-rate "
     "schedule (solver.optimizer.learning_rate is one)"),
    ("schedule-misspelled", _set("solver", "optimizer", "learning_rate", value={"import": "ExponentialDecai"}),
     "solver.optimizer.learning_rate.import: no schedule named 'ExponentialDecai'"),
    ("schedule-without-import", _set("solver", "optimizer", "learning_rate", value={"params": {}}),
     "solver.optimizer.learning_rate.import: is required"),
    ("batch-size-zero", _set("solver", "batch_size", value=0), "solver.batch_size: must be at least 1"),
    ("epochs-string", _set("solver", "epochs", value="10"), "solver.epochs: must be of type integer"),
    ("steps-zero", _set("solver", "steps", value=0), "solver.steps: must be at least 1"),
    ("reducer-factor", _set("solver", "learning_rate_reducer",
                            value={"monitor": "val_loss", "mode": "min", "patience": 1, "factor": 2}),
     "solver.learning_rate_reducer.factor: must be at most 1"),
    ("sample-count-declared-text", _counted_and_text, "dataset.text_keys: 'repeat' is dataset.sample_count's key, "
     "whose values are numbers"),
    ("reducer-factor-one", _set("solver", "learning_rate_reducer",
                                value={"monitor": "val_loss", "mode": "min", "patience": 1, "factor": 1}),
     "solver.learning_rate_reducer.factor: must be below 1"),
    ("services-list", _set("services", value=[]), "services: must be of type dict"),
    ("services-unknown-block", _services(best_checkpointt={"monitor": "val_loss", "mode": "min"}),
     "services.best_checkpointt: is not a known key"),
    ("checkpoint-mode-auto", _services(best_checkpoint={"monitor": "val_loss", "mode": "auto"}),
     'services.best_checkpoint.mode: must be one of "min", "max", got "auto"'),
    ("checkpoint-monitor-missing", _services(best_checkpoint={"mode": "min"}),
     "services.best_checkpoint.monitor: is required"),
    ("early-stopping-patience-negative", _services(validation_early_stopping=dict(ES, patience=-1)),
     "services.validation_early_stopping.patience: must be at least 0"),
    ("early-stopping-typo", _services(validation_early_stopping=dict(ES, patiense=3)),
     "services.validation_early_stopping.patiense: is not an argument of keras.callbacks.EarlyStopping"),
    ("tensorboard-list", _services(tensorboard=[]), "services.tensorboard: must be of type dict"),
]


def _listing(root: Path) -> List[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BARRAGE_DISABLE_PLUGIN_AUTOLOAD", "1")
    return tmp_path


def _validate(workdir: Path, content: str, *options: str):
    (workdir / "config.json").write_text(content)
    before = _listing(workdir)
    result = CliRunner().invoke(cli, ["validate", *options, "config.json"])
    assert _listing(workdir) == before, "validate wrote to disk"
    return result


def test_the_catalogue_is_large_and_distinct():
    ids = [case[0] for case in CATALOGUE]
    assert len(ids) >= 30 and len(set(ids)) == len(ids)


@pytest.mark.parametrize("change, expected", [case[1:] for case in CATALOGUE], ids=[case[0] for case in CATALOGUE])
def test_broken_config_exits_2_naming_the_place(config, workdir, change, expected):
    change(config)
    result = _validate(workdir, json.dumps(config))
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    assert result.stdout == ""
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert lines[0].startswith("error: config has ")
    assert any(line.startswith(f"  {expected}") for line in lines[1:]), result.stderr


def test_several_faults_are_reported_at_once(config, workdir):
    config["dataset"]["seed"] = -5
    config["model"]["outputs"][0]["loss"]["import"] = "no_such_loss"
    config["solver"]["batch_size"] = 0
    config["solver"]["optimizer"]["learning_rate"] = "fast"
    config["services"] = {"best_checkpoint": {"monitor": "val_loss", "mode": "auto"}}
    result = _validate(workdir, json.dumps(config))
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    assert lines[0] == "error: config has 5 problems:"
    places = [line.strip().split(": ", 1)[0] for line in lines[1:]]
    assert places == [
        "dataset.seed",
        "model.outputs[0].loss.import",
        "solver.batch_size",
        "solver.optimizer.learning_rate",
        "services.best_checkpoint.mode",
    ]


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "config.json: no such file"),
        ('{"dataset": {', "config.json: invalid JSON at line 1, column 14"),
        ("[1, 2]", "config: must be a JSON object, got list"),
        ('"a string"', "config: must be a JSON object, got str"),
    ],
    ids=["missing", "invalid-json", "list", "string"],
)
def test_unreadable_configs_exit_2_with_a_clear_message(workdir, content, message):
    if content is not None:
        (workdir / "config.json").write_text(content)
    before = _listing(workdir)
    result = CliRunner().invoke(cli, ["validate", "config.json"])
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert _listing(workdir) == before


def test_a_good_config_exits_0_and_show_prints_the_resolved_config(config, workdir):
    result = _validate(workdir, json.dumps(config))
    assert result.exit_code == 0
    assert result.stdout.strip() == "config.json: ok"
    shown = _validate(workdir, json.dumps(config), "--show")
    assert shown.exit_code == 0
    assert json.loads(shown.stdout) == prepare_config(config)


# -- the same through the real console script -----------------------------------------


def _run_barrage(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, BARRAGE_DISABLE_PLUGIN_AUTOLOAD="1", TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([BARRAGE_SCRIPT, *args], cwd=workdir, env=env, capture_output=True, text=True, timeout=120)


def test_console_script_reports_every_fault_with_exit_2(config, workdir):
    config["dataset"]["loader"]["import"] = "KeySelectr"
    config["model"]["outputs"][0]["metrics"] = [{"import": "acuracy"}]
    config["solver"]["epochs"] = "many"
    config["services"] = {"validation_early_stopping": dict(ES, patiense=3)}
    (workdir / "config.json").write_text(json.dumps(config))
    before = _listing(workdir)
    done = _run_barrage(workdir, "validate", "config.json")
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stdout == ""
    assert "error: config has 4 problems:" in done.stderr
    for expected in (
        "  dataset.loader.import: no loader named 'KeySelectr' (searched: entry points 'barrage.loaders'",
        "did you mean 'KeySelector'?",
        "  model.outputs[0].metrics[0].import: no metric named 'acuracy'",
        "  solver.epochs: must be of type integer",
        "  services.validation_early_stopping.patiense: is not an argument of keras.callbacks.EarlyStopping "
        "(did you mean 'patience'?)",
    ):
        assert expected in done.stderr
    assert _listing(workdir) == before


@pytest.mark.parametrize(
    "content, message",
    [(None, "error: config has 1 problem:\n  config.json: no such file"),
     ("{,}", "config.json: invalid JSON at line 1, column 2"),
     ("3", "config: must be a JSON object, got int")],
    ids=["missing", "invalid-json", "number"],
)
def test_console_script_on_unreadable_configs(workdir, content, message):
    if content is not None:
        (workdir / "config.json").write_text(content)
    done = _run_barrage(workdir, "validate", "config.json")
    assert done.returncode == 2
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_console_script_on_a_good_config(config, workdir):
    (workdir / "config.json").write_text(json.dumps(config))
    before = _listing(workdir)
    done = _run_barrage(workdir, "validate", "--show", "config.json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["solver"]["optimizer"]["target"] == "keras.optimizers.Adam"
    assert _listing(workdir) == before
