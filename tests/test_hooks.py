"""Hook plugins: every hook can be implemented and is called; loading, disabling and
blocking plugins; errors inside hooks name the plugin; ``barrage plugins list``."""

from __future__ import annotations

import inspect
import json
import os
import sys
from pathlib import Path
from typing import Any, Dict, List

import click
import pytest
from click.testing import CliRunner
from fakedist import unique, write_distribution

import barrage
from barrage import hookimpl, hookspecs
from barrage.cli import cli, main
from barrage.config import ConfigError, prepare_config
from barrage.context import RunContext
from barrage.dataset import RecordMode
from barrage.errors import PluginError
from barrage.plugins import PluginManager
from barrage.runtime import default_runtime

HOOKS = {
    "barrage_register_components",
    "barrage_prepare_config",
    "barrage_callbacks",
    "barrage_pre_fit",
    "barrage_post_fit",
    "barrage_pre_score",
    "barrage_post_score",
    "barrage_score_end",
    "barrage_register_commands",
}


def test_every_hook_of_the_design_is_declared_and_documented():
    declared = {name for name, _ in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("barrage_")}
    assert declared == HOOKS
    for name in HOOKS:
        assert len(inspect.getdoc(getattr(hookspecs, name)) or "") > 80, name
        assert hasattr(PluginManager().hook, name)
    assert barrage.hookimpl is hookspecs.hookimpl


class Recorder:
    """Implements every hook and records each call with its arguments."""

    def __init__(self) -> None:
        import keras

        self.calls: List[tuple] = []
        self.callback = keras.callbacks.Callback()

    @hookimpl
    def barrage_register_components(self, registry):
        self.calls.append(("barrage_register_components", registry))

    @hookimpl
    def barrage_prepare_config(self, config):
        self.calls.append(("barrage_prepare_config", config))

    @hookimpl
    def barrage_callbacks(self, context):
        self.calls.append(("barrage_callbacks", context))
        return [self.callback]

    @hookimpl
    def barrage_pre_fit(self, context):
        self.calls.append(("barrage_pre_fit", context))

    @hookimpl
    def barrage_post_fit(self, context, history):
        self.calls.append(("barrage_post_fit", context, history))

    @hookimpl
    def barrage_pre_score(self, context, records):
        self.calls.append(("barrage_pre_score", context, records))

    @hookimpl
    def barrage_post_score(self, context, scores):
        self.calls.append(("barrage_post_score", context, scores))

    @hookimpl
    def barrage_score_end(self, context, count):
        self.calls.append(("barrage_score_end", context, count))

    @hookimpl
    def barrage_register_commands(self, cli):
        self.calls.append(("barrage_register_commands", cli))


def _context() -> RunContext:
    return RunContext(config={"k": 1}, artifact_dir="/nowhere", mode=RecordMode.TRAIN)


def test_every_hook_is_called_with_its_arguments():
    recorder = Recorder()
    runtime = default_runtime()
    runtime.register_plugin(recorder, "recorder", "rec-dist", "1.0")
    manager = runtime.plugins
    assert set(manager.infos["recorder"].hooks) == HOOKS
    context = _context()
    assert manager.call("barrage_callbacks", context=context) == [[recorder.callback]]
    manager.call("barrage_pre_fit", context=context)
    manager.call("barrage_post_fit", context=context, history="history")
    manager.call("barrage_pre_score", context=context, records=[{"x": 1}])
    assert manager.call_chained("barrage_post_score", "scores", [{"y": 1}], context=context) == [{"y": 1}]
    manager.call("barrage_score_end", context=context, count=1)
    manager.call("barrage_register_commands", cli="group")
    registry = runtime.registry
    assert recorder.calls[:-1] == [
        ("barrage_callbacks", context),
        ("barrage_pre_fit", context),
        ("barrage_post_fit", context, "history"),
        ("barrage_pre_score", context, [{"x": 1}]),
        ("barrage_post_score", context, [{"y": 1}]),
        ("barrage_score_end", context, 1),
        ("barrage_register_commands", "group"),
    ]
    name, registrar = recorder.calls[-1]
    assert name == "barrage_register_components" and registrar.registry is registry
    source = registrar.source
    assert (source.name, source.version, source.via) == ("rec-dist", "1.0", "hook recorder")


def test_prepare_config_calls_its_hook_and_keeps_changes(config):
    class Defaults:
        @hookimpl
        def barrage_prepare_config(self, config):
            config["solver"].setdefault("steps", 7)  # a plugin adding a default

    default_runtime().register_plugin(Defaults(), "defaults")
    config["solver"].pop("steps", None)
    assert prepare_config(config)["solver"]["steps"] == 7
    assert "steps" not in config["solver"]  # the user's dict is left alone


def test_prepare_config_problems_are_merged_into_the_config_error(config):
    class Policy:
        @hookimpl
        def barrage_prepare_config(self, config):
            if config["solver"]["batch_size"] > 8:
                return ["solver.batch_size: this site allows at most 8"]
            return None

    default_runtime().register_plugin(Policy(), "policy")
    config["solver"]["epochs"] = 0
    with pytest.raises(ConfigError) as error:
        prepare_config(config)
    assert error.value.problems == [
        "solver.batch_size: this site allows at most 8",
        "solver.epochs: must be at least 1",
    ]


def test_an_implementation_may_take_only_the_arguments_it_uses():
    seen = []

    class Minimal:
        @hookimpl
        def barrage_post_fit(self, history):
            seen.append(history)

    default_runtime().register_plugin(Minimal(), "minimal")
    default_runtime().plugins.call("barrage_post_fit", context=_context(), history="h")
    assert seen == ["h"]


def test_post_score_is_chained_and_none_keeps_the_scores():
    class Double:
        @hookimpl
        def barrage_post_score(self, scores):
            return [{"y": s["y"] * 2} for s in scores]

    class Keep:
        @hookimpl
        def barrage_post_score(self, scores):
            return None

    class AddOne:
        @hookimpl
        def barrage_post_score(self, scores):
            return [{"y": s["y"] + 1} for s in scores]

    manager = default_runtime().plugins
    for name, plugin in (("double", Double()), ("keep", Keep()), ("add", AddOne())):
        manager.register_plugin(plugin, name)
    # Like every hook, the most recently registered runs first: add, keep, double.
    assert manager.call_chained("barrage_post_score", "scores", [{"y": 3}], context=_context()) == [{"y": 8}]


def test_register_commands_adds_a_cli_sub_command(monkeypatch, capsys):
    command_name = unique("hello")

    class Commands:
        @hookimpl
        def barrage_register_commands(self, cli):
            @click.command(name=command_name)
            def hello():
                click.echo("hello from a plugin")

            cli.add_command(hello)

    default_runtime().register_plugin(Commands(), "commands")
    monkeypatch.setattr(cli, "commands", dict(cli.commands))  # keep the global group clean
    with pytest.raises(SystemExit) as stop:
        main([command_name], default_runtime())
    assert stop.value.code == 0
    assert "hello from a plugin" in capsys.readouterr().out


def test_a_plugin_cannot_replace_a_command(monkeypatch, capsys):
    class Hijack:
        @hookimpl
        def barrage_register_commands(self, cli):
            @cli.command(name="score")
            def score():
                click.echo("not the real score")

    runtime = default_runtime()
    runtime.register_plugin(Hijack(), "hijack", "hijack-dist", "0.1")
    monkeypatch.setattr(cli, "commands", dict(cli.commands))
    real = cli.commands["score"]
    with pytest.raises(SystemExit) as stop:
        main(["score", "--help"], runtime)
    assert stop.value.code == 0 and cli.commands["score"] is real
    out, err = capsys.readouterr()
    assert "Score DATA with the model" in out and "not the real score" not in out
    assert ("warning: plugin 'hijack' (hijack-dist 0.1) raised in barrage_register_commands: PluginError: the command "
            "'score' exists already") in err


# -- errors inside hooks --------------------------------------------------------------


class Exploding:
    @hookimpl
    def barrage_pre_fit(self, context):
        raise ValueError("pre-fit went wrong")

    @hookimpl
    def barrage_post_score(self, scores):
        raise KeyError("missing")

    @hookimpl
    def barrage_prepare_config(self, config):
        raise RuntimeError("cannot prepare")


class Innocent:
    @hookimpl
    def barrage_pre_fit(self, context):
        return None


def test_an_exception_inside_a_hook_names_the_plugin(config):
    manager = default_runtime().plugins
    manager.register_plugin(Innocent(), "innocent", "innocent-dist", "1.0")
    manager.register_plugin(Exploding(), "exploding", "exploding-dist", "0.9")
    with pytest.raises(PluginError) as error:
        manager.call("barrage_pre_fit", context=_context())
    assert str(error.value) == (
        "plugin 'exploding' (exploding-dist 0.9) raised in barrage_pre_fit: ValueError: pre-fit went wrong"
    )
    with pytest.raises(PluginError, match=r"'exploding' \(exploding-dist 0.9\) raised in barrage_post_score"):
        manager.call_chained("barrage_post_score", "scores", [], context=_context())
    with pytest.raises(PluginError, match="raised in barrage_prepare_config: RuntimeError: cannot prepare"):
        prepare_config(config)


def test_an_exception_in_register_components_names_the_plugin():
    class Broken:
        @hookimpl
        def barrage_register_components(self, registry):
            raise TypeError("bad registration")

    default_runtime().register_plugin(Broken(), "broken-reg", "broken-dist", "3.1")
    with pytest.raises(PluginError) as error:
        default_runtime().registry
    assert "'broken-reg' (broken-dist 3.1) raised in barrage_register_components: TypeError" in str(error.value)


def test_an_invalid_hook_implementation_is_refused():
    class WrongArgument:
        @hookimpl
        def barrage_pre_fit(self, contxt):
            pass

    class Typo:
        @hookimpl
        def barrage_pre_fitt(self, context):
            pass

    manager = default_runtime().plugins
    with pytest.raises(PluginError, match="plugin 'wrong' has an invalid hook"):
        manager.register_plugin(WrongArgument(), "wrong")
    with pytest.raises(PluginError, match=r"plugin 'typo' implements unknown hook\(s\): barrage_pre_fitt"):
        manager.register_plugin(Typo(), "typo")
    assert not manager.has_plugin("wrong") and not manager.has_plugin("typo")
    assert manager.call("barrage_pre_fit", context=_context()) == []


# -- entry-point plugins --------------------------------------------------------------

PLUGIN_SOURCE = """
from barrage import hookimpl
from barrage.dataset import KeySelector


class {cls}(KeySelector):
    pass


@hookimpl
def barrage_register_components(registry):
    registry.register("loader", "{cls}", {cls})


@hookimpl
def barrage_pre_fit(context):
    context.extras["{name}"] = True
"""


@pytest.fixture
def plugin_dist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Dict[str, Any]:
    """A distribution 'hooks-dist 1.4' with plugins alpha, beta (good) and gamma (raises)."""
    modules = {name: unique(f"plugin_{name}") for name in ("alpha", "beta", "gamma")}
    sources = {
        modules["alpha"]: PLUGIN_SOURCE.format(cls="AlphaLoader", name="alpha"),
        modules["beta"]: PLUGIN_SOURCE.format(cls="BetaLoader", name="beta"),
        modules["gamma"]: "raise ImportError('gamma cannot start')\n",
    }
    write_distribution(tmp_path, "hooks-dist", "1.4", {"barrage": modules}, sources)
    monkeypatch.syspath_prepend(str(tmp_path))
    return modules


def test_entry_point_plugins_load_and_a_broken_one_is_reported_and_skipped(plugin_dist):
    manager = default_runtime().plugins
    assert {"alpha", "beta"} <= set(manager.infos)
    info = manager.infos["alpha"]
    assert (info.distribution, info.version, info.module) == ("hooks-dist", "1.4", plugin_dist["alpha"])
    assert info.hooks == ("barrage_pre_fit", "barrage_register_components")
    failure = next(f for f in manager.failures if f.name == "gamma")
    assert (failure.distribution, failure.version) == ("hooks-dist", "1.4")
    assert failure.error == "ImportError: gamma cannot start"
    context = _context()
    manager.call("barrage_pre_fit", context=context)
    assert context.extras == {"alpha": True, "beta": True}
    source = default_runtime().registry.resolve("loader", "AlphaLoader").component.source
    assert (source.name, source.version, source.via) == ("hooks-dist", "1.4", "hook alpha")


def test_a_plugin_name_two_distributions_declare_is_loaded_once_and_the_other_reported(
        plugin_dist, tmp_path, monkeypatch):
    """'alpha' of hooks-dist is on the path first; another distribution's 'alpha' is
    not loaded behind its back: it is reported (and fatal in strict mode)."""
    other = tmp_path / "other"
    module = unique("plugin_other_alpha")
    write_distribution(other, "other-dist", "2.0", {"barrage": {"alpha": module}},
                       {module: PLUGIN_SOURCE.format(cls="OtherLoader", name="other")})
    monkeypatch.setattr(sys, "path", [*sys.path, str(other)])  # after hooks-dist
    manager = default_runtime().plugins
    assert manager.infos["alpha"].distribution == "hooks-dist"
    failure = next(f for f in manager.failures if f.name == "alpha")
    assert (failure.distribution, failure.version) == ("other-dist", "2.0")
    assert failure.error.startswith("the plugin name 'alpha' is already taken by hooks-dist 1.4; not loaded")
    monkeypatch.setenv("BARRAGE_STRICT_PLUGINS", "1")
    monkeypatch.setenv("BARRAGE_DISABLE_PLUGINS", f"gamma, {os.environ['BARRAGE_DISABLE_PLUGINS']}")  # the broken one
    from barrage.runtime import reset_default_runtime

    reset_default_runtime()
    with pytest.raises(PluginError, match=r"plugin 'alpha' \(other-dist 2\.0\): the plugin name 'alpha' is already"):
        default_runtime().plugins


def test_strict_plugins_make_a_broken_plugin_fatal(plugin_dist, monkeypatch):
    monkeypatch.setenv("BARRAGE_STRICT_PLUGINS", "1")
    with pytest.raises(PluginError) as error:
        default_runtime().plugins
    assert str(error.value) == "plugin 'gamma' (hooks-dist 1.4) failed to load: ImportError: gamma cannot start"


def test_strict_plugins_through_the_cli_exit_2(plugin_dist, monkeypatch, capsys):
    monkeypatch.setenv("BARRAGE_STRICT_PLUGINS", "1")
    with pytest.raises(SystemExit) as stop:
        main(["components", "list"])
    assert stop.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: plugin 'gamma' (hooks-dist 1.4) failed to load")
    assert "Traceback" not in err


def test_disabled_plugins_are_not_loaded_and_their_components_vanish(plugin_dist, monkeypatch):
    quiet = os.environ["BARRAGE_DISABLE_PLUGINS"]  # installed plugins the suite keeps off (conftest.py)
    monkeypatch.setenv("BARRAGE_DISABLE_PLUGINS", f"alpha, gamma, {quiet}")
    manager = default_runtime().plugins
    assert "alpha" not in manager.infos and "beta" in manager.infos
    assert not any(f.name == "gamma" for f in manager.failures)
    assert plugin_dist["alpha"] not in sys.modules
    context = _context()
    manager.call("barrage_pre_fit", context=context)
    assert context.extras == {"beta": True}
    names = {c.name for c in default_runtime().registry.components("loader")}
    assert "BetaLoader" in names and "AlphaLoader" not in names


def test_autoload_can_be_switched_off(plugin_dist, monkeypatch):
    monkeypatch.setenv("BARRAGE_DISABLE_PLUGIN_AUTOLOAD", "1")
    manager = default_runtime().plugins
    assert manager.infos == {} and manager.failures == []
    assert not set(plugin_dist.values()) & set(sys.modules)
    # Explicit registration still works without autoload.
    manager.register_plugin(Innocent(), "innocent")
    assert "innocent" in manager.infos


def test_a_plugin_with_an_invalid_hook_is_reported_and_skipped(tmp_path, monkeypatch):
    good, bad = unique("good_plugin"), unique("bad_plugin")
    sources = {
        good: "from barrage import hookimpl\n\n@hookimpl\ndef barrage_pre_fit(context):\n    pass\n",
        bad: "from barrage import hookimpl\n\n@hookimpl\ndef barrage_pre_fit(ctx):\n    pass\n",
    }
    write_distribution(tmp_path, "mixed-dist", "0.2", {"barrage": {"good": good, "bad": bad}}, sources)
    monkeypatch.syspath_prepend(str(tmp_path))
    manager = default_runtime().plugins
    assert "good" in manager.infos and not manager.has_plugin("bad")
    failure = next(f for f in manager.failures if f.name == "bad")
    assert failure.error.startswith("PluginError: plugin 'bad' has an invalid hook")
    manager.call("barrage_pre_fit", context=_context())


# -- barrage plugins list -------------------------------------------------------------


def test_plugins_list_shows_loaded_and_failed_plugins(plugin_dist):
    result = CliRunner().invoke(cli, ["plugins", "list"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "alpha  hooks-dist 1.4  hooks: barrage_pre_fit, barrage_register_components" in lines
    assert "gamma  hooks-dist 1.4  FAILED: ImportError: gamma cannot start" in lines


def test_plugins_list_json(plugin_dist):
    result = CliRunner().invoke(cli, ["plugins", "list", "--json"])
    assert result.exit_code == 0, result.output
    listing = json.loads(result.stdout)
    loaded = {p["name"]: p for p in listing["loaded"]}
    assert loaded["beta"] == {
        "name": "beta", "distribution": "hooks-dist", "version": "1.4",
        "hooks": ["barrage_pre_fit", "barrage_register_components"],
    }
    assert [f["name"] for f in listing["failed"] if f["distribution"] == "hooks-dist"] == ["gamma"]


def test_plugins_list_without_plugins(monkeypatch):
    monkeypatch.setenv("BARRAGE_DISABLE_PLUGIN_AUTOLOAD", "1")
    result = CliRunner().invoke(cli, ["plugins", "list"])
    assert result.exit_code == 0
    assert result.stdout.strip() == "(no plugins)"


def test_components_list_warns_about_a_broken_plugin_and_keeps_working(plugin_dist):
    result = CliRunner().invoke(cli, ["components", "list", "--kind", "loader"])
    assert result.exit_code == 0
    assert "AlphaLoader" in result.stdout and "KeySelector" in result.stdout
    assert "warning: plugin 'gamma' (hooks-dist 1.4) failed to load and was skipped" in result.stderr
