"""The runtime: one object per command owning plugins, registry and policy; environment
read once; runtimes independent of each other; hook calls traced; monitors learned from
the compiled objective without running the network."""

from __future__ import annotations

import io

import keras
import numpy as np
import pytest

from barrage import BarrageModel, hookimpl
from barrage.dataset import IdentityTransformer, KeySelector, RecordMode
from barrage.errors import ComponentError, DataError, PluginError
from barrage.model import build_objective, logged_quantities
from barrage.plugins import PluginManager
from barrage.runtime import Policy, Runtime, current_runtime, default_runtime


class Doubling(keras.layers.Layer):
    def call(self, inputs):
        return inputs * 2.0


class RegistersDoubling:
    @hookimpl
    def barrage_register_components(self, registry):
        registry.register("layer", "Doubling", Doubling)


def test_the_policy_is_read_from_the_environment_once(monkeypatch):
    monkeypatch.setenv("BARRAGE_STRICT", "yes")
    monkeypatch.setenv("BARRAGE_DISABLE_PLUGINS", " a, b ,")
    monkeypatch.setenv("BARRAGE_TRACE_PLUGINS", "1")
    policy = Policy.from_environment()
    assert policy == Policy(strict=True, disabled_plugins=frozenset({"a", "b"}), trace_plugins=True)
    runtime = Runtime(policy)
    monkeypatch.setenv("BARRAGE_STRICT", "0")  # too late: the runtime has its policy
    assert runtime.registry.strict
    assert Policy.from_environment(strict=True).strict and not Policy.from_environment().strict


def test_runtimes_are_independent():
    plain = Runtime(Policy(autoload_plugins=False))
    extended = Runtime(Policy(autoload_plugins=False))
    extended.register_plugin(RegistersDoubling(), "doubling", "doubling-dist", "1.0")
    assert extended.registry.resolve("layer", "Doubling").obj is Doubling
    assert str(extended.registry.resolve("layer", "Doubling").component.source) == "doubling-dist 1.0"
    with pytest.raises(ComponentError):
        plain.registry.resolve("layer", "Doubling")
    assert "doubling" not in default_runtime().plugins.infos


def test_registering_a_plugin_rebuilds_the_registry_with_its_components():
    runtime = Runtime(Policy(autoload_plugins=False))
    with pytest.raises(ComponentError):
        runtime.registry.resolve("layer", "Doubling")
    runtime.register_plugin(RegistersDoubling(), "doubling")
    assert runtime.registry.resolve("layer", "Doubling").obj is Doubling


def test_a_strict_runtime_shares_plugins_but_not_the_registry():
    runtime = Runtime(Policy(autoload_plugins=False))
    strict = runtime.with_policy(strict=True)
    assert strict.plugins is runtime.plugins and strict.registry is not runtime.registry
    assert strict.registry.strict and not runtime.registry.strict


def test_a_training_run_builds_its_network_with_its_own_runtime(tmp_path, config, records):
    """``sequential_from_config`` resolves layers through the run's runtime, not a global."""
    runtime = Runtime(Policy(autoload_plugins=False))
    runtime.register_plugin(RegistersDoubling(), "doubling")
    config["model"]["network"]["params"]["layers"].insert(0, {"import": "Doubling"})
    config["solver"]["epochs"] = 1
    model = BarrageModel(tmp_path / "run", runtime=runtime)
    network = model.train(config, records(32, seed=1), records(16, seed=2), verbose=0)
    assert any(isinstance(layer, Doubling) for layer in network.layers)
    assert current_runtime() is default_runtime()  # the run's runtime was active only during the build
    with pytest.raises(Exception, match="Doubling"):
        BarrageModel(tmp_path / "other").train(config, records(32, seed=1), records(16, seed=2), verbose=0)
    assert not (tmp_path / "other").exists()


def test_hook_calls_are_traced_with_plugin_and_duration():
    stream = io.StringIO()
    manager = PluginManager(trace=stream)

    class Plugin:
        @hookimpl
        def barrage_pre_fit(self, context):
            return None

    manager.register_plugin(Plugin(), "timed", "timed-dist", "2.1")
    manager.call("barrage_pre_fit", context=None)
    line = stream.getvalue().strip()
    assert line.startswith("barrage: barrage_pre_fit -> plugin 'timed' (timed-dist 2.1): ")
    assert line.endswith(" ms") and float(line.split(": ")[-1][:-3]) >= 0


def test_trace_switch_reaches_standard_error(capsys, monkeypatch):
    monkeypatch.setenv("BARRAGE_TRACE_PLUGINS", "1")
    runtime = Runtime(Policy.from_environment(autoload_plugins=False))
    runtime.register_plugin(RegistersDoubling(), "doubling")
    runtime.registry
    assert "barrage: barrage_register_components -> plugin 'doubling'" in capsys.readouterr().err


def test_hook_wrappers_are_refused():
    class Wrapper:
        @hookimpl(wrapper=True)
        def barrage_pre_fit(self, context):
            return (yield)

    manager = PluginManager()
    with pytest.raises(PluginError, match="plugin 'wrapping' implements barrage_pre_fit as a wrapper"):
        manager.register_plugin(Wrapper(), "wrapping")
    assert not manager.has_plugin("wrapping")


def test_for_mode_shares_the_fitted_state():
    class Shift(IdentityTransformer):
        def fit(self, records):
            self.offset = {"value": 3.0}
            self.network_params = {"units": 2}

    loader = KeySelector(RecordMode.TRAIN, inputs={"x": "x"}, outputs={"y": "y"})
    fitted = Shift(RecordMode.TRAIN, loader)
    fitted.fit([])
    scoring_loader = KeySelector(RecordMode.SCORE, inputs={"x": "x"})
    twin = fitted.for_mode(RecordMode.SCORE, scoring_loader)
    assert (twin.mode, twin.loader, twin.offset) == (RecordMode.SCORE, scoring_loader, {"value": 3.0})
    assert twin.offset is fitted.offset and twin.network_params == fitted.network_params
    assert twin.network_params is not fitted.network_params
    assert (fitted.mode, fitted.loader) == (RecordMode.TRAIN, loader)


# -- what a run logs, known before it runs ---------------------------------------------


def _objective_config(outputs):
    return {"model": {"outputs": outputs}}


@pytest.mark.parametrize("outputs", [
    [{"name": "label", "loss": {"import": "sparse_categorical_crossentropy"},
      "metrics": [{"import": "accuracy"}, {"import": "SparseCategoricalAccuracy", "params": {"name": "sca"}},
                  {"import": "sparse_categorical_crossentropy"}]}],
    [{"name": "label", "loss": {"import": "binary_crossentropy"},
      "metrics": [{"import": "accuracy"}, {"import": "AUC"}]},
     {"name": "level", "loss": {"import": "mse"}, "metrics": [{"import": "mae"}, {"import": "MeanSquaredError"}]}],
])
def test_logged_quantities_are_what_keras_logs(outputs):
    registry = default_runtime().registry
    objective = build_objective(_objective_config(outputs), registry)
    inputs = keras.Input((3,), name="features")
    heads = {"label": keras.layers.Dense(2, activation="softmax", name="label")(inputs)}
    if len(outputs) == 2:  # AUC wants one probability per record
        heads = {"label": keras.layers.Dense(1, activation="sigmoid", name="label")(inputs),
                 "level": keras.layers.Dense(1, name="level")(inputs)}
    network = keras.Model({"features": inputs}, heads)
    network.compile(optimizer="adam", **objective)
    x = {"features": np.random.default_rng(0).normal(size=(8, 3)).astype("float32")}
    y = {"label": np.arange(8) % 2}
    if len(outputs) == 2:
        y["level"] = np.linspace(0, 1, 8).astype("float32")
    logged = network.evaluate(x, y, verbose=0, return_dict=True)
    assert sorted(logged_quantities(objective, list(heads))) == sorted(logged)


def test_an_input_of_the_wrong_shape_is_refused_before_the_directory_exists(tmp_path, config, records):
    config["model"]["network"]["params"]["inputs"] = {"features": [4]}
    with pytest.raises(DataError, match=r"training records: input 'features' has shape \(3,\) per record but the "
                                        r"network expects \(4,\)"):
        BarrageModel(tmp_path / "run").train(config, records(32), records(16), verbose=0)
    assert not (tmp_path / "run").exists()
