"""The third-party plugin contract, proven with real pip-installed distributions.

``tests/plugins/barrage-example-plugin`` adds a loader by entry point, an augmentor
through ``barrage_register_components``, every lifecycle hook and a CLI command;
``tests/plugins/barrage-broken-plugin`` has modules that raise on import. Both are
pip-installed once per session (see ``plugins_fixture.py``) and every check runs the
real ``barrage`` command line in a subprocess that sees them as installed.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any, Dict, List

import numpy as np
import pytest

from plugins_fixture import BROKEN, EXAMPLE, LOG_VARIABLE, project_metadata

pytest_plugins = ["plugins_fixture"]  # the session fixture `installed_plugins`

EXAMPLE_META = project_metadata(EXAMPLE)
BROKEN_META = project_metadata(BROKEN)
EXAMPLE_SOURCE = f"{EXAMPLE_META['name']} {EXAMPLE_META['version']}"
BROKEN_SOURCE = f"{BROKEN_META['name']} {BROKEN_META['version']}"
# Entry-point names, as the distributions' pyproject.toml files declare them.
EXAMPLE_PLUGIN = "example"
BROKEN_PLUGIN = "broken"
# The hooks the example plugin implements (all of them), in the order a run fires them.
EXAMPLE_HOOKS = [
    "barrage_callbacks",
    "barrage_post_fit",
    "barrage_post_score",
    "barrage_pre_fit",
    "barrage_pre_score",
    "barrage_prepare_config",
    "barrage_register_commands",
    "barrage_register_components",
]
TRAIN_ORDER = [
    "barrage_register_commands",  # the CLI starts
    "barrage_register_components",  # the registry is built, before any config is resolved
    "barrage_prepare_config",
    "barrage_callbacks",
    "barrage_pre_fit",
    "epoch_end",  # the callback returned by barrage_callbacks, once per epoch
    "epoch_end",
    "barrage_post_fit",
]
SCORE_ORDER = [
    "barrage_register_commands",
    "barrage_register_components",
    "barrage_prepare_config",  # loading the artifact's config.json
    "barrage_pre_score",
    "barrage_post_score",
]
RESOLVED_SECTIONS = ["dataset", "model", "services", "solver"]
TRAIN_RECORDS, VALIDATION_RECORDS = 96, 40


def plugin_config(augmentor: str = "example_jitter") -> Dict[str, Any]:
    """A config using the example plugin's loader (entry point) and an augmentor."""
    return {
        "dataset": {
            "loader": {"import": "ExampleValuesLoader", "params": {"size": 3}},
            "augmentor": [{"import": augmentor, "params": {"std": 0.05}}],
            "seed": 7,
        },
        "model": {
            "network": {
                "import": "sequential_from_config",
                "params": {
                    "inputs": {"values": [3]},
                    "output": "label",
                    "layers": [
                        {"import": "Dense", "params": {"units": 8, "activation": "relu"}},
                        {"import": "Dense", "params": {"units": 2, "activation": "softmax"}},
                    ],
                },
            },
            "outputs": [
                {"name": "label", "loss": {"import": "sparse_categorical_crossentropy"},
                 "metrics": [{"import": "accuracy"}]}
            ],
        },
        "solver": {"optimizer": {"import": "Adam", "learning_rate": 0.01}, "batch_size": 16, "epochs": 2},
    }


def value_records(count: int, seed: int) -> List[Dict[str, Any]]:
    """Records ``{"values": [3 floats], "label": 1 if they sum above 0 else 0}``."""
    values = np.random.default_rng(seed).normal(size=(count, 3)).round(4)
    return [{"values": row.tolist(), "label": int(row.sum() > 0)} for row in values]


def write_json(path: Path, value: Any) -> str:
    path.write_text(json.dumps(value), encoding="utf-8")
    return str(path)


def read_log(path: Path) -> List[Dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def components(installed, *args: str, **kwargs: Any) -> Dict[tuple, Dict[str, str]]:
    """``barrage components list --json`` as ``{(kind, name): row}``."""
    result = installed.run("components", "list", "--json", *args, **kwargs)
    assert result.returncode == 0, result.stderr
    return {(row["kind"], row["name"]): row for row in json.loads(result.stdout)}


def plugins(installed, **kwargs: Any) -> Dict[str, Any]:
    result = installed.run("plugins", "list", "--json", **kwargs)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def trained_run(installed_plugins, tmp_path_factory) -> Dict[str, Any]:
    """Train on a CSV of delimited strings, validate and score on JSONL lists, with hook logs."""
    workdir = tmp_path_factory.mktemp("plugin-run")
    train_path = workdir / "train.csv"
    with open(train_path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["values", "label"])
        for record in value_records(TRAIN_RECORDS, seed=1):
            writer.writerow([";".join(str(v) for v in record["values"]), record["label"]])
    validation = value_records(VALIDATION_RECORDS, seed=2)
    validation_path = workdir / "validation.jsonl"
    validation_path.write_text("".join(json.dumps(r) + "\n" for r in validation), encoding="utf-8")
    config_path = write_json(workdir / "config.json", plugin_config())
    artifact_dir = str(workdir / "run")
    train_log, score_log = workdir / "train-hooks.jsonl", workdir / "score-hooks.jsonl"
    trained = installed_plugins.run(
        "train", config_path, str(train_path), str(validation_path), "-a", artifact_dir, "--verbose", "0",
        env={LOG_VARIABLE: str(train_log)},
    )
    assert trained.returncode == 0, trained.stderr
    scores_path = workdir / "scores.jsonl"
    scored = installed_plugins.run(
        "score", artifact_dir, str(validation_path), "-o", str(scores_path), env={LOG_VARIABLE: str(score_log)}
    )
    assert scored.returncode == 0, scored.stderr
    return {
        "artifact_dir": artifact_dir,
        "validation": validation,
        "scores": [json.loads(line) for line in scores_path.read_text(encoding="utf-8").splitlines()],
        "train_log": read_log(train_log),
        "score_log": read_log(score_log),
    }


# -- listing --------------------------------------------------------------------------


def test_components_list_shows_entry_point_and_hook_components_with_distribution(installed_plugins):
    listed = components(installed_plugins)
    loader = listed[("loader", "ExampleValuesLoader")]
    assert loader["source"] == EXAMPLE_SOURCE
    assert loader["target"] == "barrage_example_plugin.loaders:ValuesLoader"
    augmentor = listed[("augmentor", "example_jitter")]
    assert augmentor["source"] == EXAMPLE_SOURCE
    assert augmentor["target"] == "barrage_example_plugin.augmentors:jitter"
    # Barrage's own built-ins come through the same kind of entry points.
    assert listed[("loader", "KeySelector")]["source"].startswith("barrage ")

    only_plugin = components(installed_plugins, "--source", EXAMPLE_META["name"])
    assert set(only_plugin) == {("loader", "ExampleValuesLoader"), ("augmentor", "example_jitter")}

    table = installed_plugins.run("components", "list", "--kind", "augmentor")
    assert table.returncode == 0, table.stderr
    row = next(line for line in table.stdout.splitlines() if "example_jitter" in line)
    assert row.split()[:4] == ["augmentor", "example_jitter", EXAMPLE_META["name"], EXAMPLE_META["version"]]


def test_listing_imports_no_component_module_and_no_tensorflow(installed_plugins):
    code = (
        "import json, sys\n"
        "from barrage.cli import main\n"
        "try:\n"
        "    main(['components', 'list'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('MODULES', json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('tensorflow', 'keras', 'barrage_example_plugin'))))\n"
    )
    result = installed_plugins.python(code)
    assert result.returncode == 0, result.stderr
    modules = json.loads(result.stdout.split("MODULES", 1)[1])
    assert "barrage_example_plugin.hooks" in modules  # the hook plugin was loaded
    assert "barrage_example_plugin.loaders" not in modules  # entry points are read as metadata
    assert not [m for m in modules if m.split(".")[0] in ("tensorflow", "keras")]


def test_plugins_list_shows_distribution_version_and_hooks(installed_plugins):
    listed = plugins(installed_plugins)
    example = next(p for p in listed["loaded"] if p["name"] == EXAMPLE_PLUGIN)
    assert (example["distribution"], example["version"]) == (EXAMPLE_META["name"], EXAMPLE_META["version"])
    assert sorted(example["hooks"]) == EXAMPLE_HOOKS
    assert listed["failed"] == []

    table = installed_plugins.run("plugins", "list")
    line = next(line for line in table.stdout.splitlines() if line.startswith(EXAMPLE_PLUGIN + " "))
    assert EXAMPLE_SOURCE in line and "barrage_pre_fit" in line and "barrage_post_score" in line


# -- a run with the plugin's components and hooks -------------------------------------


def test_config_with_plugin_loader_and_augmentor_trains_and_scores(trained_run):
    with open(Path(trained_run["artifact_dir"]) / "config.json", encoding="utf-8") as handle:
        resolved = json.load(handle)
    assert resolved["dataset"]["loader"]["source"] == EXAMPLE_SOURCE
    assert resolved["dataset"]["augmentor"][0]["source"] == EXAMPLE_SOURCE
    with open(Path(trained_run["artifact_dir"]) / "training_report.csv", newline="", encoding="utf-8") as handle:
        assert len(list(csv.DictReader(handle))) == 2

    scores = trained_run["scores"]
    assert len(scores) == VALIDATION_RECORDS
    probabilities = np.array([score["label"] for score in scores])
    assert probabilities.shape == (VALIDATION_RECORDS, 2)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    # barrage_post_score returned a new list: its extra field reached the scores file.
    assert [score["label_argmax"] for score in scores] == probabilities.argmax(axis=1).tolist()


def test_hooks_fire_in_order_with_the_documented_context(trained_run):
    train_log, score_log = trained_run["train_log"], trained_run["score_log"]
    assert [event["hook"] for event in train_log] == TRAIN_ORDER
    assert [event["hook"] for event in score_log] == SCORE_ORDER
    events = {event["hook"]: event for event in train_log + score_log}

    for hook, mode in (("barrage_callbacks", "train"), ("barrage_pre_fit", "train"), ("barrage_post_fit", "train"),
                       ("barrage_pre_score", "score"), ("barrage_post_score", "score")):
        event = events[hook]
        assert event["mode"] == mode, hook
        assert event["artifact_dir"] == trained_run["artifact_dir"], hook
        assert event["config_sections"] == RESOLVED_SECTIONS, hook  # the resolved config
        assert event["loader"] == "ExampleValuesLoader", hook
        assert event["config_json_exists"], hook
        assert event["network_class"] == "Functional" and event["network_inputs"] == ["values"], hook
    assert events["barrage_pre_fit"]["network_compiled"]
    assert events["barrage_post_fit"]["epochs"] == [0, 1]
    assert events["barrage_post_fit"]["best_checkpoint_exists"]
    assert events["barrage_pre_score"]["records"] == VALIDATION_RECORDS
    assert events["barrage_post_score"]["scores"] == VALIDATION_RECORDS
    assert events["barrage_callbacks"]["network_compiled"]
    assert [e["epoch"] for e in train_log if e["hook"] == "epoch_end"] == [0, 1]
    # barrage_prepare_config sees the user's config before defaults are merged (train)
    # and the artifact's resolved config.json (score).
    assert train_log[2]["sections"] == ["dataset", "model", "solver"]
    assert score_log[2]["sections"] == RESOLVED_SECTIONS


# -- disabling ------------------------------------------------------------------------


def test_disabling_the_plugin_removes_its_hooks_and_hook_components(installed_plugins, tmp_path):
    log = tmp_path / "hooks.jsonl"
    env = {"BARRAGE_DISABLE_PLUGINS": f"some-other-plugin, {EXAMPLE_PLUGIN}", LOG_VARIABLE: str(log)}
    listed = components(installed_plugins, env=env)
    assert ("augmentor", "example_jitter") not in listed
    assert listed[("loader", "ExampleValuesLoader")]["source"] == EXAMPLE_SOURCE  # entry points stay
    listing = plugins(installed_plugins, env=env)
    assert EXAMPLE_PLUGIN not in [p["name"] for p in listing["loaded"]]
    assert listing["disabled"] == [EXAMPLE_PLUGIN]  # the name no plugin has is not listed as disabled

    config_path = write_json(tmp_path / "config.json", plugin_config())
    result = installed_plugins.run("validate", config_path, env=env)
    assert result.returncode == 2
    problems = [line for line in result.stderr.splitlines() if line.strip().startswith("dataset")]
    assert len(problems) == 1, result.stderr  # the entry-point loader still resolves
    assert "dataset.augmentor[0].import" in problems[0] and "example_jitter" in problems[0]
    assert "Traceback" not in result.stderr

    assert "warning: BARRAGE_DISABLE_PLUGINS names 'some-other-plugin', which no installed plugin is called" \
        in result.stderr  # a misspelt name would leave its plugin on: said on every command
    assert f"'{EXAMPLE_PLUGIN}', which" not in result.stderr

    command = installed_plugins.run("example-hello", env=env)
    assert command.returncode == 2 and "No such command" in command.stderr
    assert read_log(log) == []  # no hook of the disabled plugin ran


def test_disabling_autoload_loads_no_hook_plugin(installed_plugins):
    env = {"BARRAGE_DISABLE_PLUGIN_AUTOLOAD": "1"}
    listed = components(installed_plugins, env=env)
    assert ("augmentor", "example_jitter") not in listed
    assert ("loader", "ExampleValuesLoader") in listed
    assert plugins(installed_plugins, env=env) == {"loaded": [], "failed": [], "disabled": []}


# -- a broken distribution ------------------------------------------------------------


def test_broken_plugin_is_reported_by_name_and_breaks_nothing_else(installed_plugins):
    both = (EXAMPLE, BROKEN)
    result = installed_plugins.run("components", "list", distributions=both)
    assert result.returncode == 0
    assert "Traceback" not in result.stderr
    warning = next(line for line in result.stderr.splitlines() if f"'{BROKEN_PLUGIN}'" in line)
    assert BROKEN_SOURCE in warning and "RuntimeError" in warning and "broken on purpose" in warning
    assert "example_jitter" in result.stdout and "ExampleValuesLoader" in result.stdout

    listed = plugins(installed_plugins, distributions=both)
    assert [p["name"] for p in listed["loaded"] if p["name"] == EXAMPLE_PLUGIN] == [EXAMPLE_PLUGIN]
    failure = next(f for f in listed["failed"] if f["name"] == BROKEN_PLUGIN)
    assert (failure["distribution"], failure["version"]) == (BROKEN_META["name"], BROKEN_META["version"])

    hello = installed_plugins.run("example-hello", distributions=both)
    assert hello.returncode == 0, hello.stderr


def test_broken_component_fails_only_the_config_that_uses_it(installed_plugins, tmp_path):
    both = (EXAMPLE, BROKEN)
    good = installed_plugins.run("validate", write_json(tmp_path / "good.json", plugin_config()), distributions=both)
    assert good.returncode == 0, good.stderr

    bad_path = write_json(tmp_path / "bad.json", plugin_config(augmentor="broken_shift"))
    bad = installed_plugins.run("validate", bad_path, distributions=both)
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr
    problem = next(line for line in bad.stderr.splitlines() if "dataset.augmentor[0].import" in line)
    assert BROKEN_SOURCE in problem and "failed to import" in problem and "ImportError" in problem


def test_strict_plugins_makes_a_broken_plugin_fatal(installed_plugins):
    env = {"BARRAGE_STRICT_PLUGINS": "1"}
    result = installed_plugins.run("components", "list", distributions=(EXAMPLE, BROKEN), env=env)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    error = next(line for line in result.stderr.splitlines() if line.startswith("error:"))
    assert f"'{BROKEN_PLUGIN}'" in error and BROKEN_SOURCE in error
    assert installed_plugins.run("components", "list", env=env).returncode == 0  # only failures are fatal


def test_strict_mode_accepts_components_of_installed_distributions(installed_plugins, tmp_path):
    result = installed_plugins.run("--strict", "validate", write_json(tmp_path / "config.json", plugin_config()))
    assert result.returncode == 0, result.stderr


# -- the plugin's CLI command ---------------------------------------------------------


def test_plugin_cli_command_runs(installed_plugins):
    result = installed_plugins.run("example-hello", "--name", "Ada")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"hello, Ada, from {EXAMPLE_SOURCE}"
    help_text = installed_plugins.run("--help").stdout
    assert "example-hello" in help_text
