"""Config tooling: ``--set`` overrides, YAML configs and the JSON Schema of a config."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from barrage import prepare_config
from barrage.artifacts import read_report
from barrage.cli import cli
from barrage.config import apply_overrides, load_config_file
from barrage.config import schema as schema_module
from barrage.config.json_schema import convert_rule, json_schema
from barrage.config.overrides import parse_path, parse_value
from barrage.errors import ConfigError
import test_cli_engine
from test_cli_basics import _probe

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


files = test_cli_engine.files  # the fixture of the CLI tests' config and records files


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


# -- overrides ------------------------------------------------------------------------


def test_paths_have_keys_and_list_indices():
    assert parse_path("model.outputs[0].loss_weight") == ["model", "outputs", 0, "loss_weight"]
    assert parse_path("solver.epochs") == ["solver", "epochs"]
    assert parse_path("a[1][2].b") == ["a", 1, 2, "b"]
    for bad in ("", ".a", "[0].a", "a..b", "a[x]", "a[-1]", "a.b["):
        with pytest.raises(ValueError, match="is not a dotted path"):
            parse_path(bad)


def test_values_are_json_else_text():
    assert parse_value("5") == 5 and parse_value("0.5") == 0.5 and parse_value("null") is None
    assert parse_value("true") is True and parse_value("[1, 2]") == [1, 2]
    assert parse_value('{"import": "SGD"}') == {"import": "SGD"}
    assert parse_value("SGD") == "SGD" and parse_value("") == "" and parse_value("1e") == "1e"


def test_overrides_change_a_copy_and_are_recorded_in_order(config):
    original = copy.deepcopy(config)
    changed = apply_overrides(config, [
        "solver.epochs=5", "model.outputs[0].loss_weight=0.5", "solver.optimizer.import=SGD",
        "services.tensorboard=null", "dataset.seed=9", "solver.epochs=7",
    ])
    assert config == original
    assert changed["solver"]["epochs"] == 7 and changed["model"]["outputs"][0]["loss_weight"] == 0.5
    assert changed["solver"]["optimizer"]["import"] == "SGD" and changed["services"]["tensorboard"] is None
    assert list(changed["overrides"].items()) == [
        ("model.outputs[0].loss_weight", 0.5), ("solver.optimizer.import", "SGD"),
        ("services.tensorboard", None), ("dataset.seed", 9), ("solver.epochs", 7)]
    resolved = prepare_config(changed)  # the record is part of a valid config
    assert resolved["overrides"] == changed["overrides"] and resolved["services"]["tensorboard"] is None
    assert apply_overrides(config, []) is config


def test_missing_objects_along_a_path_are_created(config):
    del config["solver"]
    changed = apply_overrides(config, ["solver.batch_size=8"])
    assert changed["solver"] == {"batch_size": 8}
    assert prepare_config(changed)["solver"]["batch_size"] == 8


@pytest.mark.parametrize("assignment, message", [
    ("solver.epochs", "--set solver.epochs: expected PATH=VALUE"),
    ("=5", "--set =5: expected PATH=VALUE"),
    ("model.outputs[3].loss_weight=1", "--set model.outputs[3].loss_weight=1: model.outputs[3]: index out of range "
                                       "(model.outputs has 1 item(s))"),
    ("solver.epochs.x=1", "--set solver.epochs.x=1: solver.epochs is a number, not an object: it has no key 'x'"),
    ("model[0]=1", "--set model[0]=1: model is an object, not a list: it has no [0]"),
    ("dataset.augmentors[0]=1", "--set dataset.augmentors[0]=1: dataset.augmentors is missing, not a list"),
    ("model..x=1", "--set model..x=1: 'model..x' is not a dotted path"),
])
def test_a_bad_override_names_itself_and_the_place(config, assignment, message):
    with pytest.raises(ConfigError) as caught:
        apply_overrides(config, [assignment])
    assert str(caught.value).startswith(message) and "\n" not in str(caught.value)
    assert caught.value.problems == [str(caught.value)]


def test_a_value_the_schema_refuses_is_reported_at_its_path(config):
    with pytest.raises(ConfigError, match="solver.epochs: must be of type integer"):
        prepare_config(apply_overrides(config, ["solver.epochs=five"]))
    # an absurd value once, where the user put it, not again in the record of overrides
    with pytest.raises(ConfigError) as caught:
        prepare_config(apply_overrides(config, ["model.outputs[0].loss_weight=1e999"]))
    assert caught.value.problems == ["model.outputs[0].loss_weight: must be a finite number, got inf"]


def test_train_applies_overrides_and_records_them_in_config_json(files):
    run = files / "run"
    done = invoke("train", files / "config.json", files / "train.csv", files / "validation.csv", "-a", run,
                  "--verbose", "0", "--set", "solver.epochs=2", "--set", "model.outputs[0].loss_weight=0.5")
    assert done.exit_code == 0, done.output
    assert len(read_report(str(run / "training_report.csv"))) == 2  # not the file's 1 epoch
    saved = json.loads((run / "config.json").read_text())
    assert saved["overrides"] == {"solver.epochs": 2, "model.outputs[0].loss_weight": 0.5}
    assert saved["solver"]["epochs"] == 2 and saved["model"]["outputs"][0]["loss_weight"] == 0.5


def test_a_bad_override_exits_2_with_one_problem_and_writes_nothing(files):
    run = files / "run"
    done = invoke("train", files / "config.json", files / "train.csv", files / "validation.csv", "-a", run,
                  "--set", "model.outputs[2].name=x")
    assert done.exit_code == 2
    assert done.output.startswith("error: --set model.outputs[2].name=x: model.outputs[2]: index out of range")
    assert len(done.output.strip().splitlines()) == 1
    assert "Traceback" not in done.output and not run.exists()
    shown = invoke("validate", files / "config.json", "--set", "solver.batch_size=0")
    assert shown.exit_code == 2 and "solver.batch_size: must be at least 1" in shown.output


def test_validate_shows_the_overridden_config(files):
    shown = invoke("validate", files / "config.json", "--show", "--set", "solver.optimizer.learning_rate=0.5")
    assert shown.exit_code == 0, shown.output
    resolved = json.loads(shown.output)
    assert resolved["solver"]["optimizer"]["learning_rate"] == 0.5
    assert resolved["overrides"] == {"solver.optimizer.learning_rate": 0.5}


# -- YAML -----------------------------------------------------------------------------


@pytest.mark.parametrize("example", ["housing", "text", "tabular"])
def test_a_yaml_config_means_what_its_json_twin_means(example, tmp_path):
    as_json = load_config_file(str(EXAMPLES / example / "config.json"))
    for extension in (".yaml", ".yml"):
        path = tmp_path / f"config{extension}"
        path.write_text(yaml.safe_dump(as_json))
        assert load_config_file(str(path)) == as_json
    assert prepare_config(load_config_file(str(tmp_path / "config.yaml"))) == prepare_config(as_json)


def test_yaml_configs_validate_and_train_from_the_command_line(files):
    config = json.loads((files / "config.json").read_text())
    (files / "config.yaml").write_text(yaml.safe_dump(config))
    assert invoke("validate", files / "config.yaml").exit_code == 0
    done = invoke("train", files / "config.yaml", files / "train.csv", files / "validation.csv", "-a", files / "run",
                  "--verbose", "0")
    assert done.exit_code == 0, done.output
    assert json.loads((files / "run" / "config.json").read_text())["solver"] == prepare_config(config)["solver"]


@pytest.mark.parametrize("text, message", [
    ("dataset:\n  loader: [a\n", "bad.yaml: invalid YAML at line 3, column 1:"),
    ("dataset:\n\tloader: x\n", "bad.yaml: invalid YAML at line 2, column 1:"),
    ("dataset:\n  seed: 2024-01-01\n", "bad.yaml: dataset.seed: 2024-01-01 is a YAML date, which JSON cannot hold"),
    ("solver:\n  1: x\n", "bad.yaml: solver: key 1 is not text (quote it)"),
    ("!!python/object:os.system {}\n", "bad.yaml: invalid YAML at line 1, column 1:"),
    ("- a\n- b\n", "config: must be a JSON object, got list"),
    ("dataset:\n  seed: 1\n  shuffle: true\n  seed: 2\n", "bad.yaml: invalid YAML at line 4, column 3: the key "
                                                          "'seed' is given twice"),
    ("a: &x [*x]\n", "bad.yaml: a YAML alias is used inside the value it names"),
    # nine levels of ten aliases each: 10**9 values once written out, a few hundred bytes here
    ("a: &a [1, 2, 3, 4, 5, 6, 7, 8, 9, 0]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(8)),
     "bad.yaml: its YAML aliases repeat values into more than 100,000"),
])
def test_bad_yaml_exits_2_naming_the_file_and_the_place(tmp_path, text, message):
    (tmp_path / "bad.yaml").write_text(text)
    done = invoke("validate", tmp_path / "bad.yaml")
    assert done.exit_code == 2, done.output
    assert message in done.output and "Traceback" not in done.output


def test_yaml_anchors_and_merges_work_and_json_keys_given_twice_are_refused(config, tmp_path):
    config.pop("services", None)
    text = yaml.safe_dump(config) + (
        "services:\n"
        "  train_early_stopping: &stop {monitor: loss, mode: min, patience: 2, min_delta: 0.0}\n"
        "  validation_early_stopping:\n"
        "    <<: *stop\n"
        "    monitor: val_loss\n"  # overrides the merged key: not a key given twice
    )
    (tmp_path / "anchored.yaml").write_text(text)
    merged = load_config_file(str(tmp_path / "anchored.yaml"))
    assert merged["services"]["validation_early_stopping"]["patience"] == 2
    assert merged["services"]["validation_early_stopping"]["monitor"] == "val_loss"
    (tmp_path / "twice.json").write_text('{"dataset": {"seed": 1, "shuffle": true, "seed": 2}}')
    done = invoke("validate", tmp_path / "twice.json")
    assert done.exit_code == 2 and "twice.json: the key 'seed' is given twice in one object" in done.output


# -- the JSON Schema ------------------------------------------------------------------


def test_config_schema_prints_a_valid_draft_7_schema():
    done = invoke("config", "schema")
    assert done.exit_code == 0
    printed = json.loads(done.output)
    assert printed == json_schema()
    jsonschema.Draft7Validator.check_schema(printed)
    assert printed["properties"]["solver"]["properties"]["batch_size"] == {
        "type": "integer", "minimum": 1, "maximum": 2**31 - 1, "default": 32}
    assert printed["required"] == ["dataset", "model"]


def example_configs():
    return sorted(EXAMPLES.glob("*/config*.json"))


@pytest.mark.parametrize("path", example_configs(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_example_and_its_resolved_form_fit_the_schema(path):
    validator = jsonschema.Draft7Validator(json_schema())
    config = json.loads(path.read_text())
    assert not list(validator.iter_errors(config))
    if path.parent.name not in ("vision", "multi_io"):  # these need their example code importable
        assert not list(validator.iter_errors(prepare_config(config)))


@pytest.mark.parametrize("change, where", [
    (lambda c: c["solver"].update(batch_size=0), ["solver", "batch_size"]),
    (lambda c: c["solver"].update(epochs=True), ["solver", "epochs"]),
    (lambda c: c["dataset"].update(seeds=1), ["dataset"]),
    (lambda c: c["model"]["outputs"][0].pop("loss"), ["model", "outputs", 0]),
    (lambda c: c["model"].update(outputs=[]), ["model", "outputs"]),
    (lambda c: c.update(services={"best_checkpoint": {"monitor": "val_loss", "mode": "auto"}}),
     ["services", "best_checkpoint", "mode"]),
    (lambda c: c["dataset"]["loader"].update({"import": ""}), ["dataset", "loader", "import"]),
    (lambda c: c.update(overrides={"solver.epochs": 1, "": 2}), ["overrides"]),
])
def test_what_the_validator_refuses_the_schema_refuses_at_the_same_place(config, change, where):
    change(config)
    with pytest.raises(ConfigError):
        prepare_config(config)
    errors = list(jsonschema.Draft7Validator(json_schema()).iter_errors(config))
    assert errors and list(errors[0].absolute_path) == where


def test_the_schema_follows_the_validator_schema_it_is_derived_from(monkeypatch):
    solver = copy.deepcopy(schema_module.SCHEMA["solver"])
    solver["schema"]["warmup"] = {"type": "integer", "min": 0, "nullable": True, "required": True}
    monkeypatch.setitem(schema_module.SCHEMA, "solver", solver)
    from barrage.config import json_schema as module

    monkeypatch.setattr(module, "SCHEMA", schema_module.SCHEMA)
    derived = json_schema()["properties"]["solver"]
    assert derived["properties"]["warmup"] == {"type": ["integer", "null"], "minimum": 0}
    assert "warmup" in derived["required"]


def test_a_rule_without_a_translation_is_an_error_not_dropped():
    with pytest.raises(ValueError, match=r"config.x: no JSON Schema translation for the cerberus rule\(s\) "
                                         r"\['regex'\]"):
        convert_rule({"type": "string", "regex": "a+"}, where="config.x")


def test_a_config_may_name_its_schema_for_editors(config):
    config["$schema"] = "./barrage.schema.json"
    assert prepare_config(config)["$schema"] == "./barrage.schema.json"
    assert not list(jsonschema.Draft7Validator(json_schema()).iter_errors(config))


@pytest.mark.parametrize("args", [["config", "schema"], ["init", "--help"], ["evaluate", "--help"],
                                  ["export", "--help"], ["report", "--help"]], ids=" ".join)
def test_the_schema_and_the_new_commands_help_do_not_import_tensorflow(args):
    probe = _probe(*args)
    assert probe["code"] == 0 and probe["heavy"] == [], probe
