"""The component registry: every source for every kind, type checks, misses, conflicts,
strict mode, and listing without importing components."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import metadata
from typing import Dict

import keras
import pytest
from click.testing import CliRunner
from fakedist import unique, write_distribution, write_module

import barrage.model
from barrage import hookimpl
from barrage.cli import cli
from barrage.dataset import IdentityTransformer, KeySelector
from barrage.errors import ComponentError, PluginError
from barrage.registry import KINDS
from barrage.runtime import default_runtime

BARRAGE_VERSION = metadata.version("barrage")
KERAS_VERSION = metadata.version("keras")

# One valid component of every kind; the attribute names are what the tests look up.
COMPONENTS_SOURCE = """
import keras
from barrage.dataset import RecordLoader, RecordTransformer


class Loader(RecordLoader):
    def load(self, record):
        return ({"x": record["x"]}, {"y": record["y"]})


class Transformer(RecordTransformer):
    def fit(self, records):
        self.network_params = {"count": len(records)}

    def transform(self, data_record):
        return data_record

    def postprocess(self, score):
        return score

    def save(self, path):
        pass

    def load(self, path):
        pass


class NotALoader:
    def load(self, record):
        return record


def augment(data_record, scale=1.0):
    return data_record


def network(units=4, **network_params):
    return None


def loss(y_true, y_pred):
    return keras.ops.mean(keras.ops.square(y_true - y_pred))


def metric(y_true, y_pred):
    return keras.ops.mean(keras.ops.abs(y_true - y_pred))


class Optimizer(keras.optimizers.SGD):
    pass


class Schedule(keras.optimizers.schedules.LearningRateSchedule):
    def __call__(self, step):
        return 0.1


class Layer(keras.layers.Layer):
    def call(self, inputs):
        return inputs
"""

ATTRIBUTE_OF_KIND = {
    "loader": "Loader",
    "transformer": "Transformer",
    "augmentor": "augment",
    "network": "network",
    "loss": "loss",
    "metric": "metric",
    "optimizer": "Optimizer",
    "schedule": "Schedule",
    "layer": "Layer",
}


@pytest.fixture
def user_module(user_module):
    """The shared factory, writing the components module by default."""
    return lambda source=COMPONENTS_SOURCE, prefix="user_code": user_module(source, prefix)


def _import(name: str):
    __import__(name)
    return sys.modules[name]


# -- entry points ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind, name, expected, target",
    [
        ("loader", "KeySelector", KeySelector, "barrage.dataset:KeySelector"),
        ("transformer", "IdentityTransformer", IdentityTransformer, "barrage.dataset:IdentityTransformer"),
        ("network", "sequential_from_config", barrage.model.sequential_from_config,
         "barrage.model:sequential_from_config"),
    ],
)
def test_builtins_resolve_through_their_entry_points(kind, name, expected, target):
    resolved = default_runtime().registry.resolve(kind, name)
    assert resolved.obj is expected
    assert resolved.component.target == target
    assert str(resolved.component.source) == f"barrage {BARRAGE_VERSION}"
    assert resolved.component.source.via == "entry point"


def test_entry_points_of_every_kind_resolve_with_their_distribution(tmp_path, monkeypatch):
    module = unique("fake_components")
    write_distribution(
        tmp_path,
        "fake-components",
        "0.3",
        {KINDS[kind].group: {f"Fake{kind.title()}": f"{module}:{attr}"} for kind, attr in ATTRIBUTE_OF_KIND.items()},
        {module: COMPONENTS_SOURCE},
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = default_runtime().registry
    for kind, attr in ATTRIBUTE_OF_KIND.items():
        resolved = registry.resolve(kind, f"Fake{kind.title()}")
        assert resolved.obj is getattr(sys.modules[module], attr), kind
        assert str(resolved.component.source) == "fake-components 0.3"
        assert resolved.component.target == f"{module}:{attr}"
    assert set(KINDS) == set(ATTRIBUTE_OF_KIND)


def test_an_entry_point_of_the_wrong_type_is_refused_naming_its_source(tmp_path, monkeypatch):
    module = unique("wrong_type")
    write_distribution(
        tmp_path, "wrong-dist", "1.0", {"barrage.transformers": {"Wrong": f"{module}:Loader"}},
        {module: COMPONENTS_SOURCE},
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ComponentError) as error:
        default_runtime().registry.resolve("transformer", "Wrong")
    message = str(error.value)
    assert "wrong-dist 1.0" in message
    assert "is not a subclass of barrage.dataset.RecordTransformer" in message


# -- hook-registered components -------------------------------------------------------


class _RegisteringPlugin:
    def __init__(self, module):
        self.module = module

    @hookimpl
    def barrage_register_components(self, registry):
        for kind, attr in ATTRIBUTE_OF_KIND.items():
            registry.register(kind, f"Hooked{kind.title()}", getattr(self.module, attr))


def test_hook_registered_components_of_every_kind_resolve(user_module):
    module = _import(user_module())
    default_runtime().register_plugin(_RegisteringPlugin(module), "hooker", "hook-dist", "2.0")
    registry = default_runtime().registry
    for kind, attr in ATTRIBUTE_OF_KIND.items():
        resolved = registry.resolve(kind, f"Hooked{kind.title()}")
        assert resolved.obj is getattr(module, attr)
        assert str(resolved.component.source) == "hook-dist 2.0"
        assert resolved.component.source.via == "hook hooker"
    listed = {(c.kind, c.name) for c in registry.components()}
    assert ("loader", "HookedLoader") in listed and ("layer", "HookedLayer") in listed


def test_registering_an_unknown_kind_names_the_plugin(user_module):
    module = _import(user_module())

    class Plugin:
        @hookimpl
        def barrage_register_components(self, registry):
            registry.register("loaders", "X", module.Loader)

    default_runtime().register_plugin(Plugin(), "typo-plugin", "typo-dist", "0.1")
    with pytest.raises(PluginError) as error:
        default_runtime().registry
    assert "'typo-plugin' (typo-dist 0.1)" in str(error.value)
    assert "unknown component kind 'loaders'" in str(error.value)


# -- Keras namespaces, aliases and legacy paths ---------------------------------------


@pytest.mark.parametrize(
    "kind, name, expected",
    [
        ("loss", "mse", lambda: keras.losses.get("mse")),
        ("loss", "categorical_crossentropy", lambda: keras.losses.categorical_crossentropy),
        ("loss", "CategoricalCrossentropy", lambda: keras.losses.CategoricalCrossentropy),
        ("metric", "AUC", lambda: keras.metrics.AUC),
        ("metric", "binary_accuracy", lambda: keras.metrics.binary_accuracy),
        ("optimizer", "Adam", lambda: keras.optimizers.Adam),
        ("optimizer", "adam", lambda: keras.optimizers.Adam),
        ("optimizer", "ADAM", lambda: keras.optimizers.Adam),
        ("optimizer", "rmsprop", lambda: keras.optimizers.RMSprop),
        ("schedule", "ExponentialDecay", lambda: keras.optimizers.schedules.ExponentialDecay),
        ("schedule", "CosineDecay", lambda: keras.optimizers.schedules.CosineDecay),
        ("layer", "Dense", lambda: keras.layers.Dense),
        ("layer", "Dropout", lambda: keras.layers.Dropout),
        # Legacy and long paths resolve to the Keras 3 objects, never to tf.python.keras.
        ("optimizer", "tensorflow.python.keras.optimizer_v2.adam.Adam", lambda: keras.optimizers.Adam),
        ("optimizer", "tensorflow.keras.optimizers.Adam", lambda: keras.optimizers.Adam),
        ("loss", "tensorflow.keras.losses.MeanSquaredError", lambda: keras.losses.MeanSquaredError),
        ("layer", "tf.keras.layers.Dense", lambda: keras.layers.Dense),
        ("metric", "keras.metrics.AUC", lambda: keras.metrics.AUC),
    ],
)
def test_keras_names_resolve_to_keras_3_objects(kind, name, expected):
    resolved = default_runtime().registry.resolve(kind, name)
    assert resolved.obj is expected()
    assert resolved.obj.__module__.startswith("keras.")
    assert str(resolved.component.source) == f"keras {KERAS_VERSION}"
    assert resolved.component.source.registered


def test_accuracy_stays_the_compile_alias():
    # Keras's compile picks the accuracy variant from the shapes; a class would lose that.
    resolved = default_runtime().registry.resolve("metric", "accuracy")
    assert resolved.obj == "accuracy"
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2, activation="softmax")])
    model.compile(loss="sparse_categorical_crossentropy", metrics=[resolved.obj])


def test_metric_mse_alias_is_the_metric_class_keras_means():
    # keras.metrics.get("mse") builds an instance; the registry hands out its class.
    resolved = default_runtime().registry.resolve("metric", "mse")
    assert resolved.obj is type(keras.metrics.get("mse"))
    assert issubclass(resolved.obj, keras.metrics.Metric)


def test_a_legacy_path_without_keras_3_equivalent_says_so():
    with pytest.raises(ComponentError) as error:
        default_runtime().registry.resolve("optimizer", "tensorflow.keras.optimizers.Adamm")
    assert "no Keras 3 equivalent" in str(error.value)
    assert "did you mean 'Adam'" in str(error.value)


# -- Python paths to user code --------------------------------------------------------


@pytest.mark.parametrize("separator", [".", ":"])
def test_python_paths_resolve_for_every_kind(user_module, separator):
    name = user_module()
    module = _import(name)
    registry = default_runtime().registry
    for kind, attr in ATTRIBUTE_OF_KIND.items():
        resolved = registry.resolve(kind, f"{name}{separator}{attr}")
        assert resolved.obj is getattr(module, attr), kind
        assert str(resolved.component.source) == "python path"
        assert not resolved.component.source.registered
        assert resolved.component.target == f"{name}:{attr}"


def test_python_path_inside_a_package(tmp_path, monkeypatch):
    package = unique("user_pkg")
    write_module(tmp_path, f"{package}.models.nets", "def build_net(units=3):\n    return units\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    resolved = default_runtime().registry.resolve("network", f"{package}.models.nets.build_net")
    assert resolved.obj() == 3
    assert resolved.component.target == f"{package}.models.nets:build_net"


def test_an_error_inside_user_code_is_reported_not_treated_as_a_miss(user_module):
    broken = user_module("value = 1 / 0\n", prefix="broken_user")
    with pytest.raises(ComponentError) as error:
        default_runtime().registry.resolve("network", f"{broken}.build")
    assert f"importing network '{broken}.build' failed" in str(error.value)
    assert "ZeroDivisionError" in str(error.value)
    missing_dependency = user_module("import not_an_installed_package_xyz\n", prefix="needs_dep")
    with pytest.raises(ComponentError) as error:
        default_runtime().registry.resolve("network", f"{missing_dependency}.build")
    assert "No module named 'not_an_installed_package_xyz'" in str(error.value)


def test_a_missing_attribute_of_an_existing_module_is_a_miss(user_module):
    name = user_module()
    with pytest.raises(ComponentError) as error:
        default_runtime().registry.resolve("network", f"{name}.netwrk")
    assert f"no network named '{name}.netwrk'" in str(error.value)


# -- type checks ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind, path, problem",
    [
        ("loader", "{mod}.NotALoader", "is not a subclass of barrage.dataset.RecordLoader"),
        ("loader", "barrage.dataset.IdentityTransformer", "is not a subclass of barrage.dataset.RecordLoader"),
        ("transformer", "barrage.dataset.KeySelector", "is not a subclass of barrage.dataset.RecordTransformer"),
        ("augmentor", "{mod}.Loader", "is not a function"),
        ("network", "barrage.dataset.KeySelector", "is not a function"),
        ("network", "{mod}.ATTRIBUTE", "is not a function"),
        ("loss", "keras.metrics.AUC", "is neither a keras.losses.Loss subclass nor a loss function"),
        ("metric", "keras.layers.Dense", "is neither a keras.metrics.Metric subclass nor a metric function"),
        ("optimizer", "keras.losses.MeanSquaredError", "is not a subclass of keras.optimizers.Optimizer"),
        ("schedule", "keras.optimizers.Adam",
         "is not a subclass of keras.optimizers.schedules.LearningRateSchedule"),
        ("layer", "{mod}.augment", "is not a subclass of keras.layers.Layer"),
    ],
)
def test_every_kind_is_type_checked(user_module, kind, path, problem):
    name = user_module(COMPONENTS_SOURCE + "\nATTRIBUTE = 42\n")
    path = path.format(mod=name)
    with pytest.raises(ComponentError) as error:
        default_runtime().registry.resolve(kind, path)
    message = str(error.value)
    assert message.startswith(f"{kind} '{path}'")
    assert problem in message
    assert "python path" in message


# -- misses ---------------------------------------------------------------------------


def test_a_miss_names_kind_name_sources_and_closest_names():
    with pytest.raises(ComponentError) as error:
        default_runtime().registry.resolve("loader", "KeySelectr")
    message = str(error.value)
    assert "no loader named 'KeySelectr'" in message
    assert "entry points 'barrage.loaders'" in message
    assert "hook-registered components" in message
    assert "python path" in message
    assert "did you mean 'KeySelector'?" in message


def test_a_framework_miss_also_searches_keras():
    with pytest.raises(ComponentError) as error:
        default_runtime().registry.resolve("optimizer", "Adamm")
    message = str(error.value)
    assert "no optimizer named 'Adamm'" in message
    assert "entry points 'barrage.optimizers'" in message
    assert "keras.optimizers" in message
    assert "'Adam'" in message.split("did you mean", 1)[1]


def test_a_name_registered_for_another_kind_is_pointed_out():
    with pytest.raises(ComponentError) as error:
        default_runtime().registry.resolve("transformer", "KeySelector")
    assert "'KeySelector' is registered as a loader, not a transformer" in str(error.value)


@pytest.mark.parametrize("kind, name, fragment", [
    ("loader", "", "loader name must be a non-empty string"),
    ("loader", 3, "loader name must be a non-empty string"),
    ("loaders", "KeySelector", "unknown component kind 'loaders'"),
])
def test_bad_requests_are_component_errors(kind, name, fragment):
    with pytest.raises(ComponentError, match=fragment):
        default_runtime().registry.resolve(kind, name)


# -- the same name from two sources ---------------------------------------------------


@pytest.fixture
def twins(tmp_path, monkeypatch):
    """Two distributions that both register loader 'Twin' (and nothing is imported yet)."""
    modules = {}
    for dist, version in (("twin-a", "1.0"), ("twin-b", "2.0")):
        module = unique(dist.replace("-", "_"))
        modules[dist] = module
        write_distribution(
            tmp_path / dist, dist, version, {"barrage.loaders": {"Twin": f"{module}:Loader"}},
            {module: COMPONENTS_SOURCE},
        )
        monkeypatch.syspath_prepend(str(tmp_path / dist))
    return modules


def test_the_same_name_from_two_distributions_is_never_resolved_silently(twins):
    registry = default_runtime().registry
    with pytest.raises(ComponentError) as error:
        registry.resolve("loader", "Twin")
    message = str(error.value)
    assert "more than one source" in message
    assert f"{twins['twin-a']}:Loader from twin-a 1.0" in message
    assert f"{twins['twin-b']}:Loader from twin-b 2.0" in message
    assert not any(module in sys.modules for module in twins.values())
    conflicts = [entries for entries in registry.conflicts() if entries[0].name == "Twin"]
    assert len(conflicts) == 1
    assert {str(e.source) for e in conflicts[0]} == {"twin-a 1.0", "twin-b 2.0"}
    # The full path of one of them is unambiguous and counts as that registered component.
    resolved = registry.resolve("loader", f"{twins['twin-b']}.Loader")
    assert str(resolved.component.source) == "twin-b 2.0"


def test_an_entry_point_and_a_hook_with_the_same_name_conflict(twins, user_module):
    module = _import(user_module())

    class Plugin:
        @hookimpl
        def barrage_register_components(self, registry):
            registry.register("loader", "Twin", module.Loader)

    default_runtime().register_plugin(Plugin(), "hooked", "hook-dist", "0.5")
    with pytest.raises(ComponentError) as error:
        default_runtime().registry.resolve("loader", "Twin")
    assert "hook-dist 0.5" in str(error.value) and "twin-a 1.0" in str(error.value)


def test_components_list_warns_about_conflicts(twins, monkeypatch):
    monkeypatch.setenv("BARRAGE_DISABLE_PLUGIN_AUTOLOAD", "1")
    result = CliRunner().invoke(cli, ["components", "list", "--kind", "loader"])
    assert result.exit_code == 0, result.output
    assert "loader 'Twin' is registered twice" in result.stderr
    assert "twin-a 1.0" in result.stderr and "twin-b 2.0" in result.stderr


# -- strict mode ----------------------------------------------------------------------


def test_strict_mode_refuses_python_paths_only(user_module):
    name = user_module(COMPONENTS_SOURCE + "\n\ndef unregistered(data_record):\n    return data_record\n")
    module = _import(name)
    runtime = default_runtime()
    runtime.register_plugin(_RegisteringPlugin(module), "hooker", "hook-dist", "2.0")
    assert runtime.registry.resolve("augmentor", f"{name}.unregistered").obj is module.unregistered
    strict = runtime.with_policy(strict=True)  # the same plugins, a strict registry
    registry = strict.registry
    with pytest.raises(ComponentError) as error:
        registry.resolve("augmentor", f"{name}.unregistered")
    message = str(error.value)
    assert "strict mode refuses Python paths" in message
    assert "searched: entry points 'barrage.augmentors', hook-registered components)" in message
    # Registered names, hook components, Keras names and registered targets still resolve.
    assert registry.resolve("loader", "KeySelector").obj is KeySelector
    assert registry.resolve("augmentor", "HookedAugmentor").obj is module.augment
    assert registry.resolve("augmentor", f"{name}.augment").component.name == "HookedAugmentor"
    assert registry.resolve("optimizer", "adam").obj is keras.optimizers.Adam
    assert registry.resolve("optimizer", "tensorflow.python.keras.optimizer_v2.adam.Adam").obj is keras.optimizers.Adam
    for path in ("barrage.dataset.KeySelector", "barrage.dataset:KeySelector"):
        resolved = registry.resolve("loader", path)
        assert resolved.obj is KeySelector
        assert str(resolved.component.source) == f"barrage {BARRAGE_VERSION}"


def _config_with_augmentor(config: Dict, path: str) -> Dict:
    config["dataset"]["augmentor"] = [{"import": path}]
    return config


@pytest.mark.parametrize("how", ["flag", "env"])
def test_strict_cli_refuses_a_config_importing_user_code(user_module, config, tmp_path, monkeypatch, how):
    monkeypatch.setenv("BARRAGE_STRICT", "0")
    name = user_module()
    path = tmp_path / "config.json"
    path.write_text(json.dumps(_config_with_augmentor(config, f"{name}.augment")))
    runner = CliRunner()
    assert runner.invoke(cli, ["validate", str(path)]).exit_code == 0
    args, env = (["--strict"], {}) if how == "flag" else ([], {"BARRAGE_STRICT": "1"})
    result = runner.invoke(cli, args + ["validate", str(path)], env=env)
    assert result.exit_code == 2
    assert f"dataset.augmentor[0].import: augmentor '{name}.augment' is not registered and strict mode" in result.stderr
    assert "Traceback" not in result.output


def test_strict_cli_accepts_registered_full_paths(config, tmp_path, monkeypatch):
    monkeypatch.setenv("BARRAGE_STRICT", "0")
    config["dataset"]["loader"]["import"] = "barrage.dataset.KeySelector"
    config["solver"]["optimizer"]["import"] = "tensorflow.keras.optimizers.Adam"
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    result = CliRunner().invoke(cli, ["--strict", "validate", "--show", str(path)])
    assert result.exit_code == 0, result.output
    resolved = json.loads(result.stdout)
    assert resolved["dataset"]["loader"]["source"] == f"barrage {BARRAGE_VERSION}"
    assert resolved["solver"]["optimizer"]["target"] == "keras.optimizers.Adam"


# -- listing imports nothing; a broken component module -------------------------------

LISTING_SCRIPT = """
import json, sys
from barrage.cli import cli
cli.main(args=["components", "list", "--json"], standalone_mode=False)
watched = ["tensorflow", "keras", "barrage.model", sys.argv[1], sys.argv[2]]
print("MODULES " + json.dumps(sorted(m for m in watched if m in sys.modules)))
"""


def test_listing_imports_no_component_module(tmp_path, monkeypatch):
    lazy, broken = unique("lazy_components"), unique("broken_components")
    write_distribution(
        tmp_path,
        "lazy-dist",
        "0.1",
        {
            "barrage.loaders": {"LazyLoader": f"{lazy}:Loader", "BrokenLoader": f"{broken}:Loader"},
            "barrage.layers": {"LazyLayer": f"{lazy}:Layer"},
        },
        {lazy: COMPONENTS_SOURCE, broken: "raise RuntimeError('boom at import')\n"},
    )
    env = dict(os.environ, PYTHONPATH=str(tmp_path), BARRAGE_DISABLE_PLUGIN_AUTOLOAD="1")
    done = subprocess.run(
        [sys.executable, "-c", LISTING_SCRIPT, lazy, broken], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    listing, _, modules = done.stdout.rpartition("MODULES ")
    assert json.loads(modules) == []
    rows = {(row["kind"], row["name"]): row for row in json.loads(listing)}
    assert rows[("loader", "BrokenLoader")]["source"] == "lazy-dist 0.1"
    assert rows[("layer", "LazyLayer")]["target"] == f"{lazy}:Layer"
    assert rows[("loader", "KeySelector")]["source"] == f"barrage {BARRAGE_VERSION}"

    # In-process: resolving the broken one names distribution, entry point and error;
    # everything else keeps working.
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = default_runtime().registry
    with pytest.raises(ComponentError) as error:
        registry.resolve("loader", "BrokenLoader")
    message = str(error.value)
    assert "lazy-dist 0.1" in message
    assert f"entry point 'BrokenLoader = {broken}:Loader'" in message
    assert "RuntimeError: boom at import" in message
    assert registry.failures[-1].distribution == "lazy-dist"
    assert registry.failures[-1].entry_point == f"BrokenLoader = {broken}:Loader"
    assert registry.resolve("loader", "LazyLoader").obj.__name__ == "Loader"
    assert registry.resolve("loader", "KeySelector").obj is KeySelector
