"""The reliability catalogue, part 4: the command line's contract. Plugins failing in
every hook, output paths that cannot be written, configs ``validate`` can refuse without
data, internal faults: one ``error:`` line each, the right exit status, nothing left."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict

import pytest
from reliability import assert_one_error, run_cli, small_config, train_args, write_inputs

from barrage import hookimpl
from barrage.cli import main
from barrage.runtime import default_runtime

HOOK_ARGUMENTS = {
    "barrage_register_components": "registry",
    "barrage_prepare_config": "config",
    "barrage_callbacks": "context",
    "barrage_pre_fit": "context",
    "barrage_post_fit": "context",
    "barrage_pre_score": "context",
    "barrage_post_score": "scores",
    "barrage_register_commands": "cli",
}


def plugin_that(hook: str, behaviour: str) -> Any:
    """A plugin whose ``hook`` raises, or returns a value of the wrong type."""

    def implementation(**kwargs: Any) -> Any:
        if behaviour == "raises":
            raise RuntimeError(f"{hook} broke")
        return 42  # no hook returns a bare number

    implementation.__name__ = hook
    namespace = {hook: hookimpl(specname=hook)(_with_argument(implementation, HOOK_ARGUMENTS[hook]))}
    return type("Faulty", (), {name: staticmethod(function) for name, function in namespace.items()})()


def _with_argument(function: Any, argument: str) -> Any:
    exec_globals: Dict[str, Any] = {"inner": function}
    exec(f"def {function.__name__}({argument}):\n    return inner({argument}={argument})\n", exec_globals)
    return exec_globals[function.__name__]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = write_inputs(tmp_path_factory.mktemp("cli-inputs"), small_config(epochs=1))
    assert run_cli(*train_args(folder, folder / "trained")).code == 0
    return folder


def run_main(args: list, plugin: Any) -> int:
    runtime = default_runtime()
    runtime.register_plugin(plugin, "faulty", "faulty-dist", "0.1")
    with pytest.raises(SystemExit) as stop:
        main([str(a) for a in args], runtime)
    return int(stop.value.code or 0)


@pytest.mark.parametrize("behaviour", ["raises", "returns a number"])
@pytest.mark.parametrize("hook", sorted(HOOK_ARGUMENTS))
def test_a_plugin_failing_in_any_hook_is_named_and_leaves_nothing(inputs, tmp_path, capsys, hook, behaviour):
    scoring = hook in ("barrage_pre_score", "barrage_post_score")
    run, output = tmp_path / "run", tmp_path / "scores.csv"
    args = ["score", inputs / "trained", inputs / "score.csv", "-o", output] if scoring else train_args(inputs, run)
    code = run_main(args, plugin_that(hook, behaviour))
    err = capsys.readouterr().err
    expected = "raised in" if behaviour == "raises" else "returned int"
    if hook == "barrage_register_commands":  # only the plugin's commands are lost: the rest works
        warnings = [line for line in err.splitlines() if line.startswith("warning: plugin 'faulty'")]
        assert code == 0 and len(warnings) == 1 and expected in warnings[0] and "Traceback" not in err, err
        assert warnings[0].endswith("its commands are not available")
        return
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 2 and len(errors) == 1 and "Traceback" not in err, err
    assert "plugin 'faulty' (faulty-dist 0.1)" in errors[0]
    assert expected in errors[0] and hook in errors[0]
    assert not output.exists()
    if hook == "barrage_post_fit":  # training finished before the hook: the trained run is kept
        assert run_cli("score", run, inputs / "score.csv", "-o", output).code == 0
    else:
        assert not run.exists()


def test_a_plugin_callback_that_raises_during_fit_is_named(inputs, tmp_path, capsys):
    import keras

    class Exploding(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            raise ValueError("callback broke")

    class Plugin:
        @hookimpl
        def barrage_callbacks(self, context):
            return [Exploding()]

    code = run_main(train_args(inputs, tmp_path / "run"), Plugin())
    err = capsys.readouterr().err
    assert code == 2
    assert ("error: plugin 'faulty' (faulty-dist 0.1): its callback Exploding raised in on_epoch_begin: "
            "ValueError: callback broke") in err
    assert not (tmp_path / "run").exists()


# -- output paths ---------------------------------------------------------------------


@pytest.mark.parametrize("case", ["missing folder", "below a file", "a folder", "exists", "no extension"])
def test_score_checks_its_output_before_any_work(inputs, tmp_path, case):
    (tmp_path / "afile").write_text("x")
    (tmp_path / "adir").mkdir()
    (tmp_path / "existing.csv").write_text("precious")
    output, message = {
        "missing folder": (tmp_path / "nowhere" / "scores.csv", f"the folder {tmp_path / 'nowhere'} does not exist"),
        "below a file": (tmp_path / "afile" / "scores.csv", f"{tmp_path / 'afile'} is a file, not a folder"),
        "a folder": (tmp_path / "adir.csv", "is a folder"),
        "exists": (tmp_path / "existing.csv", "already exists; remove it or pass --overwrite"),
        "no extension": (tmp_path / "scores", "unsupported output type '(none)'"),
    }[case]
    if case == "a folder":
        (tmp_path / "adir.csv").mkdir()
    # a missing artifact directory proves no work was done before the check
    outcome = run_cli("score", tmp_path / "no-such-run", inputs / "score.csv", "-o", output)
    assert_one_error(outcome, 2, message)
    assert (tmp_path / "existing.csv").read_text() == "precious"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_score_refuses_a_read_only_folder(inputs, tmp_path):
    folder = tmp_path / "readonly"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        outcome = run_cli("score", inputs / "trained", inputs / "score.csv", "-o", folder / "s.csv")
        assert_one_error(outcome, 2, "is not writable")
    finally:
        folder.chmod(0o700)


# -- what validate finds without data ---------------------------------------------------


def _loader_without_outputs(config: Dict[str, Any]) -> None:
    del config["dataset"]["loader"]["params"]["outputs"]


def _misspelled_standardizer(config: Dict[str, Any]) -> None:
    config["dataset"]["transformer"] = {"import": "Standardizer", "params": {"inputs": "featurs"}}


def _outputs_mismatch(config: Dict[str, Any]) -> None:
    config["dataset"]["loader"]["params"]["outputs"] = {"lable": "label"}


def _bad_encoder_param(config: Dict[str, Any]) -> None:
    config["dataset"]["transformer"] = {"import": "CategoricalEncoder", "params": {"outputs": "label",
                                                                                   "max_categories": 0}}


@pytest.mark.parametrize("change, problem", [
    (_loader_without_outputs, "dataset.loader.params: KeySelector refused them: KeySelector needs 'outputs' to train"),
    (_misspelled_standardizer,
     "dataset.transformer.params.inputs: Standardizer needs input(s) ['featurs']; ['featurs'] are not produced"),
    (_outputs_mismatch, "dataset.loader: the loader produces outputs ['lable'] but model.outputs names ['label']"),
    (_bad_encoder_param, "CategoricalEncoder 'max_categories' must be a positive integer, got 0"),
], ids=["loader without outputs", "misspelled standardizer input", "outputs mismatch", "bad encoder param"])
def test_validate_constructs_the_components_and_cross_checks_their_names(tmp_path, change, problem):
    config = small_config()
    change(config)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    assert_one_error(run_cli("validate", path), 2, problem)


# -- faults that are Barrage's or a component's --------------------------------------


def test_a_fault_is_one_line_exit_2_in_the_users_code_exit_1_in_barrages(inputs, tmp_path, user_module, monkeypatch):
    module = user_module("def build(**params):\n    raise RuntimeError('a bug in a network builder')\n")
    config = small_config()
    config["model"]["network"] = {"import": f"{module}.build"}
    folder = write_inputs(tmp_path, config)
    outcome = run_cli(*train_args(folder, tmp_path / "run"))
    line = assert_one_error(outcome, 2, "RuntimeError: a bug in a network builder, raised in your code at ",
                            f"{module}.py:2 (build)", "--debug")
    assert line.count("\n") <= 1 and "internal error" not in line
    assert not (tmp_path / "run").exists()
    debug = run_cli("--debug", *train_args(folder, tmp_path / "run"))
    assert debug.code == 1  # --debug lets the exception through, traceback and all

    import functools

    import barrage.engine

    monkeypatch.setattr(barrage.engine, "build_network", functools.partial(divmod, 1, 0))  # fails in C, under Barrage
    inside = run_cli(*train_args(write_inputs(tmp_path / "plain", small_config()), tmp_path / "run"))
    line = assert_one_error(inside, 1, "internal error: TypeError: ", "(a bug in Barrage or in a component", "--debug")
    assert not (tmp_path / "run").exists()


def test_a_file_that_cannot_be_read_is_named(tmp_path, inputs):
    unreadable = tmp_path / "train.csv"
    unreadable.mkdir()  # a folder where a file should be
    outcome = run_cli("train", inputs / "config.json", unreadable, inputs / "validation.csv", "-a", tmp_path / "run")
    assert_one_error(outcome, 2, str(unreadable))
    assert not (tmp_path / "run").exists()


def test_no_output_replaces_a_run_even_with_overwrite(inputs, tmp_path):
    """An output named like the artifact directory, a folder holding it, one of its own
    files, or another run (ARTIFACT_DIR and OUT swapped) is refused before any work, and
    every run stays whole; a new name inside the directory (its report/) is fine."""
    from reliability import copy_run

    holder = tmp_path / "runs"
    holder.mkdir()
    run = copy_run(inputs / "trained", holder / "run")
    other = copy_run(inputs / "trained", tmp_path / "other")
    before = {path: path.read_bytes() for path in run.rglob("*") if path.is_file()}
    data, labelled = inputs / "score.csv", inputs / "validation.csv"
    cases = [
        (["report", run, "-o", holder], "holds the artifact directory"),
        (["report", run, "-o", run / "best_checkpoint"], "is one of the run's own files"),
        (["export", run, run], "is the artifact directory"),
        (["export", data, other], "is an artifact directory"),
        (["evaluate", run, labelled, "-o", run / "manifest.json"], "is one of the run's own files"),
        (["evaluate", run, labelled, "-o", run / "evaluation.json"], "is one of the run's own files"),
        (["score", run, data, "-o", run / "config.json"], "is one of the run's own files"),
        (["score", run, data, "-o", run / "dataset" / "scores.csv"], "is one of the run's own files"),
    ]
    for args, problem in cases:
        assert_one_error(run_cli(*args, "--overwrite"), 2, problem)
    assert {path: path.read_bytes() for path in run.rglob("*") if path.is_file()} == before
    assert (other / "manifest.json").is_file()
    assert run_cli("report", run).code == 0 and (run / "report" / "report.html").is_file()


def test_sigterm_during_any_command_is_one_line_exit_143_and_leaves_no_temporary(inputs, tmp_path):
    """Not only ``train``: a scoring killed by SIGTERM midway cleans up like Ctrl-C."""
    import signal
    import subprocess
    import sys
    import time

    import pandas as pd

    from sample_data import make_records

    big = tmp_path / "big.csv"
    pd.DataFrame(make_records(400_000, seed=5)).to_csv(big, index=False)
    output = tmp_path / "scores.csv"
    command = [sys.executable, "-m", "barrage", "score", str(inputs / "trained"), str(big), "-o", str(output)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "BARRAGE_DISABLE_PLUGINS": "mlflow"})
    deadline = time.monotonic() + 120
    while not any(name.startswith(".barrage-tmp") for name in os.listdir(tmp_path)):  # writing has begun
        assert process.poll() is None and time.monotonic() < deadline, process.communicate()
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 143, stderr
    assert [line for line in stderr.splitlines() if line.startswith("error:")] == ["error: terminated"]
    assert sorted(os.listdir(tmp_path)) == ["big.csv"]
