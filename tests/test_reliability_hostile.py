"""The reliability catalogue, part 1: hostile configs and hostile or damaged artifact
directories. Every case checks the exit status, the one ``error:`` line, that nothing
ran that should not have, and that nothing was written or lost."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any, Callable, Dict

import pytest
from reliability import (
    assert_one_error,
    copy_run,
    edit_json,
    flip_a_byte,
    run_cli,
    small_config,
    snapshot,
    train_args,
    write_inputs,
)

from barrage.manifest import Manifest

MARKER = "barrage-was-made-to-run-this"


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Path]:
    """A small run with a Standardizer (so ``dataset/`` holds a state file)."""
    folder = tmp_path_factory.mktemp("hostile")
    config = small_config()
    config["dataset"]["transformer"] = {"import": "Standardizer", "params": {"inputs": "features"}}
    write_inputs(folder, config)
    run = folder / "run"
    outcome = run_cli(*train_args(folder, run))
    assert outcome.code == 0, outcome.stderr
    return {"folder": folder, "run": run}


# -- hostile configs: nothing a config names is called unless it is a component --------


def _network(import_name: str, **params: Any) -> Callable[[Dict[str, Any]], None]:
    def change(config: Dict[str, Any]) -> None:
        config["model"]["network"] = {"import": import_name, "params": params}
    return change


def _block(section: str, key: str, import_name: str, **params: Any) -> Callable[[Dict[str, Any]], None]:
    def change(config: Dict[str, Any]) -> None:
        block = {"import": import_name, "params": params}
        if key == "augmentor":
            config[section][key] = [block]
        elif key in ("loss", "metrics"):
            config["model"]["outputs"][0][key] = [block] if key == "metrics" else block
        elif key == "learning_rate":
            config["solver"]["optimizer"]["learning_rate"] = block
        else:
            config[section][key] = block
    return change


def _layer(import_name: str, **params: Any) -> Callable[[Dict[str, Any]], None]:
    def change(config: Dict[str, Any]) -> None:
        config["model"]["network"]["params"]["layers"].insert(0, {"import": import_name, "params": params})
    return change


HOSTILE_CONFIGS = [
    ("os.system", _network("os.system", command=f"touch {MARKER}"), "model.network.import", "is a builtin"),
    ("subprocess.call", _network("subprocess.call", args=["touch", MARKER]), "model.network.import",
     "is defined in the standard library (subprocess)"),
    ("builtins.exec", _network("builtins.exec", source=f"open('{MARKER}', 'w')"), "model.network.import",
     "is a builtin"),
    ("posix.system", _network("posix.system", command=f"touch {MARKER}"), "model.network.import", "is a builtin"),
    ("shutil.rmtree augmentor", _block("dataset", "augmentor", "shutil.rmtree", path="."),
     "dataset.augmentor[0].import", "standard library (shutil)"),
    ("os.remove augmentor", _block("dataset", "augmentor", "os.remove"), "dataset.augmentor[0].import",
     "is a builtin"),
    ("numpy.load", _network("numpy.load", file="x.npy", allow_pickle=True), "model.network.import",
     "is library code (numpy"),
    ("pandas.read_pickle", _network("pandas.read_pickle", filepath_or_buffer="x.pkl"), "model.network.import",
     "is library code (pandas"),
    # installed, but no dependency of Barrage's: any library under site-packages is library code
    ("pip main", _network("pip._internal.cli.main.main", args=["--version"]), "model.network.import",
     "is library code (pip._internal.cli.main"),
    ("keras load_model", _network("keras.models.load_model", filepath="evil.keras", safe_mode=False),
     "model.network.import", "is library code (keras"),
    ("tensorflow saved_model.load", _network("tensorflow.saved_model.load", export_dir="."),
     "model.network.import", "is library code (tensorflow"),
    ("TFSMLayer", _layer("TFSMLayer", filepath="somewhere"), "model.network.params.layers[0].import",
     "keras.layers.TFSMLayer"),
    ("Lambda layer", _layer("keras.layers.Lambda"), "model.network.params.layers[0].import", "--allow-unsafe-layers"),
    ("os.system loss", _block("model", "loss", "os.system"), "model.outputs[0].loss.import", "is a builtin"),
    ("subprocess.run metric", _block("model", "metrics", "subprocess.run"), "model.outputs[0].metrics[0].import",
     "standard library (subprocess)"),
    ("os.path optimizer", _block("solver", "optimizer", "os.path"), "solver.optimizer.import",
     "is not a subclass of keras.optimizers.Optimizer"),
    ("subprocess.Popen loader", _block("dataset", "loader", "subprocess.Popen", args="true"),
     "dataset.loader.import", "is not a subclass of barrage.dataset.RecordLoader"),
    ("logging.Handler transformer", _block("dataset", "transformer", "logging.Handler"),
     "dataset.transformer.import", "is not a subclass of barrage.dataset.RecordTransformer"),
    ("builtins.eval schedule", _block("solver", "learning_rate", "builtins.eval"),
     "solver.optimizer.learning_rate.import", "LearningRateSchedule"),
]


@pytest.mark.parametrize("name, change, path, problem", HOSTILE_CONFIGS, ids=[c[0] for c in HOSTILE_CONFIGS])
@pytest.mark.parametrize("command", ["validate", "train"])
def test_a_hostile_config_runs_nothing(tmp_path, monkeypatch, name, change, path, problem, command):
    monkeypatch.chdir(tmp_path)
    config = small_config()
    change(config)
    folder = write_inputs(tmp_path / "in", config)
    args = ["validate", folder / "config.json"] if command == "validate" else train_args(folder, tmp_path / "run")
    line = assert_one_error(run_cli(*args), 2, path, problem)
    assert line.startswith("error: config has")
    assert not (tmp_path / MARKER).exists() and not (tmp_path / "run").exists()


def test_unsafe_layers_resolve_only_when_allowed(tmp_path):
    config = small_config()
    _layer("TFSMLayer", filepath=str(tmp_path / "nowhere"), call_endpoint="serve")(config)
    folder = write_inputs(tmp_path / "in", config)
    assert_one_error(run_cli("validate", folder / "config.json"), 2, "keras.layers.TFSMLayer")
    allowed = run_cli("--allow-unsafe-layers", "validate", folder / "config.json")
    assert allowed.code == 0, allowed.stderr
    assert run_cli("validate", folder / "config.json", env={"BARRAGE_ALLOW_UNSAFE_LAYERS": "1"}).code == 0


def test_strict_mode_imports_no_module_a_config_names(tmp_path, monkeypatch, user_module):
    marker = tmp_path / "imported"
    module = user_module(f"open({str(marker)!r}, 'w').close()\n\ndef build(**params):\n    return None\n")
    config = small_config()
    _network(f"{module}.build")(config)
    folder = write_inputs(tmp_path / "in", config)
    assert_one_error(run_cli("--strict", "validate", folder / "config.json"), 2, "strict mode refuses Python paths")
    assert not marker.exists()


# -- absurd configs -------------------------------------------------------------------

ABSURD = [
    ("infinite learning rate", '"learning_rate": Infinity', "is not a number JSON allows"),
    ("NaN learning rate", '"learning_rate": NaN', "is not a number JSON allows"),
    ("huge batch size", '"batch_size": 1' + "0" * 30, "solver.batch_size: is beyond any sane range"),
    ("batch size over int32", '"batch_size": 4294967296', "solver.batch_size: must be at most 2147483647"),
    ("5000-digit integer", '"epochs": ' + "9" * 5000, "Exceeds the limit"),
    ("seed beyond NumPy's", '"seed": 1099511627776', "dataset.seed: must be at most 4294967295"),
]
ORIGINAL = {'"learning_rate"': '"learning_rate": 0.01', '"batch_size"': '"batch_size": 16', '"epochs"': '"epochs": 2',
            '"seed"': '"seed": 3'}


@pytest.mark.parametrize("name, replacement, problem", ABSURD, ids=[a[0] for a in ABSURD])
def test_absurd_values_are_config_errors(tmp_path, name, replacement, problem):
    text = json.dumps(small_config())
    original = ORIGINAL[replacement.split(":")[0]]
    assert original in text
    text = text.replace(original, replacement)
    path = tmp_path / "config.json"
    path.write_text(text)
    assert_one_error(run_cli("validate", path), 2, problem)


def test_nesting_deeper_than_any_config_is_refused(tmp_path):
    deep = "[" * 100000 + "]" * 100000
    path = tmp_path / "config.json"
    path.write_text(json.dumps(small_config()).replace('"epochs": 2', f'"epochs": 2, "extra": {deep}'))
    assert_one_error(run_cli("validate", path), 2, "nested too deeply")
    config = small_config()
    value: Dict[str, Any] = {}
    config["model"]["network"]["params"]["deep"] = value
    for _ in range(50):
        value["a"] = {}
        value = value["a"]
    path.write_text(json.dumps(config))
    assert_one_error(run_cli("validate", path), 2, "is nested more than 32 levels deep")


def test_python_api_refuses_non_finite_numbers_with_their_path():
    from barrage import ConfigError, prepare_config

    config = small_config()
    config["solver"]["optimizer"]["learning_rate"] = float("inf")
    config["services"]["train_early_stopping"] = {"monitor": "loss", "mode": "min", "patience": 1,
                                                  "min_delta": float("nan")}
    with pytest.raises(ConfigError) as error:
        prepare_config(config)
    assert error.value.problems == [
        "solver.optimizer.learning_rate: must be a finite number, got inf",
        "services.train_early_stopping.min_delta: must be a finite number, got nan",
    ]


# -- hostile or damaged artifact directories -------------------------------------------


def _rerecord(run: Path, *relative: str) -> None:
    """Update the manifest as an attacker who knows the format would."""
    Manifest(str(run)).record(relative)


def _config_network(import_name: str, **params: Any) -> Callable[[Path], None]:
    def damage(run: Path) -> None:
        edit_json(run / "config.json", lambda c: {**c, "model": {**c["model"], "network": {
            "import": import_name, "params": params}}})
        _rerecord(run, "config.json")
    return damage


def _config_layer(import_name: str) -> Callable[[Path], None]:
    def damage(run: Path) -> None:
        def change(config: Dict[str, Any]) -> Dict[str, Any]:
            config = copy.deepcopy(config)
            config["model"]["network"]["params"]["layers"].insert(0, {"import": import_name, "params": {
                "filepath": "/tmp/somewhere"}})
            return config
        edit_json(run / "config.json", change)
        _rerecord(run, "config.json")
    return damage


def _rewrite(relative: str, text: str, rerecord: bool = True) -> Callable[[Path], None]:
    def damage(run: Path) -> None:
        (run / relative).write_text(text)
        if rerecord:
            _rerecord(run, relative)
    return damage


def _weights_of_another_network(run: Path) -> None:
    import keras

    inputs = keras.Input((3,), name="features")
    other = keras.Model({"features": inputs}, {"label": keras.layers.Dense(5, name="x")(inputs)})
    path = run / "best_checkpoint" / "model.weights.h5"
    path.unlink()
    other.save_weights(str(path))
    _rerecord(run, "best_checkpoint/model.weights.h5")


def _remove(relative: str) -> Callable[[Path], None]:
    return lambda run: (run / relative).unlink()


def _truncate(relative: str) -> Callable[[Path], None]:
    def damage(run: Path) -> None:
        path = run / relative
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return damage


WEIGHTS = "best_checkpoint/model.weights.h5"
DAMAGED = [
    ("config names os.system", _config_network("os.system", command=f"touch {MARKER}"), "is a builtin"),
    ("config names numpy.load", _config_network("numpy.load", file="x.npy", allow_pickle=True), "library code"),
    ("config layer TFSMLayer", _config_layer("TFSMLayer"), "keras.layers.TFSMLayer"),
    ("config edited", lambda run: edit_json(run / "config.json", lambda c: {**c, "note": 1}),
     "config.json: has changed since training wrote it"),
    ("weights with flipped bits", lambda run: flip_a_byte(run / WEIGHTS), f"{WEIGHTS}: has changed"),
    ("weights truncated", _truncate(WEIGHTS), f"{WEIGHTS}: has changed"),
    ("weights deleted", _remove(WEIGHTS), "missing best_checkpoint/model.weights.h5"),
    ("weights empty", _rewrite(WEIGHTS, "", rerecord=False), f"{WEIGHTS}: has changed"),
    ("weights of another network", _weights_of_another_network, f"{WEIGHTS}: cannot be loaded into this network"),
    ("manifest deleted", _remove("manifest.json"), "manifest.json: missing"),
    ("manifest not JSON", _rewrite("manifest.json", "{not json", rerecord=False), "manifest.json: invalid JSON"),
    ("manifest of the wrong shape", _rewrite("manifest.json", '{"files": []}', rerecord=False),
     "manifest.json: is not a Barrage manifest"),
    ("network params null", _rewrite("network_params.json", "null"), "network_params.json: must hold a JSON object"),
    ("network params not JSON", _rewrite("network_params.json", "{"), "network_params.json: invalid JSON"),
    ("network params edited", _rewrite("network_params.json", '{"units": 3}', rerecord=False),
     "network_params.json: has changed"),
    ("transformer state edited", _rewrite("dataset/standardizer.json", "{}", rerecord=False),
     "standardizer.json: has changed"),
    ("transformer state deleted", _remove("dataset/standardizer.json"), "standardizer.json: missing"),
    ("unrecorded file in dataset", _rewrite("dataset/extra.json", "{}", rerecord=False),
     "extra.json: is not recorded in manifest.json"),
    ("environment edited", _rewrite("environment.json", "{}", rerecord=False), "environment.json: has changed"),
    ("config nested too deeply", _rewrite("config.json", "[" * 100000 + "]" * 100000), "nested too deeply"),
    ("config with a 5000-digit integer", _rewrite("config.json", '{"dataset": ' + "7" * 5000 + "}"),
     "Exceeds the limit"),
    ("config not an object", _rewrite("config.json", "[]"), "config: must be a JSON object, got list"),
]


@pytest.mark.parametrize("name, damage, problem", DAMAGED, ids=[d[0] for d in DAMAGED])
def test_a_damaged_or_hostile_artifact_directory_is_refused_and_left_as_it_is(
    trained, tmp_path, monkeypatch, name, damage, problem
):
    monkeypatch.chdir(tmp_path)
    run = copy_run(trained["run"], tmp_path / "run")
    damage(run)
    before = snapshot(run)
    output = tmp_path / "scores.csv"
    assert_one_error(run_cli("score", run, trained["folder"] / "score.csv", "-o", output), 2, problem)
    assert not output.exists() and not (tmp_path / MARKER).exists()
    assert snapshot(run) == before


def test_the_undamaged_copy_scores(trained, tmp_path):
    run = copy_run(trained["run"], tmp_path / "run")
    outcome = run_cli("score", run, trained["folder"] / "score.csv", "-o", tmp_path / "scores.csv")
    assert outcome.code == 0, outcome.stderr


@pytest.mark.parametrize("kind", ["missing", "a file"])
def test_an_artifact_directory_that_is_not_one_is_named(tmp_path, trained, kind):
    path = tmp_path / "run"
    if kind == "a file":
        path.write_text("not a directory")
    said = "is a file, not an artifact directory" if kind == "a file" else "no such artifact directory"
    assert_one_error(run_cli("score", path, trained["folder"] / "score.csv", "-o", tmp_path / "s.csv"), 2,
                     f"{path}: {said}")


def test_resume_refuses_a_directory_with_a_symbolic_link_inside(trained, tmp_path):
    run = copy_run(trained["run"], tmp_path / "run")
    target = tmp_path / "elsewhere"
    target.mkdir()
    (run / "TensorBoard").symlink_to(target, target_is_directory=True)
    folder = trained["folder"]
    outcome = run_cli(*train_args(folder, run, "--resume"))
    assert_one_error(outcome, 2, f"{run / 'TensorBoard'}: is a symbolic link")
    assert list(target.iterdir()) == []


def test_writes_replace_a_link_in_place_of_a_file_and_never_follow_it(tmp_path):
    from barrage import artifacts

    victim = tmp_path / "victim.json"
    victim.write_text("precious")
    link = tmp_path / "run" / "config.json"
    link.parent.mkdir()
    link.symlink_to(victim)
    artifacts.write_json(str(link), {"a": 1})
    assert victim.read_text() == "precious"
    assert not link.is_symlink() and json.loads(link.read_text()) == {"a": 1}


def test_files_get_the_permissions_the_umask_gives(trained, tmp_path):
    from reliability import umask

    expected = 0o666 & ~umask()
    for path in (trained["run"] / "config.json", trained["run"] / "manifest.json", trained["run"] / WEIGHTS,
                 trained["run"] / "training_report.csv"):
        assert os.stat(path).st_mode & 0o777 == expected, path
