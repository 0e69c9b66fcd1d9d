"""The CLI's cheap commands: --version, --help, components list (and its filters), none of
which may import TensorFlow."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
from click.testing import CliRunner

from barrage.cli import cli
from barrage.registry import KIND_NAMES

BARRAGE_VERSION = metadata.version("barrage")
KERAS_VERSION = metadata.version("keras")
BARRAGE_SCRIPT = str(Path(sys.executable).with_name("barrage"))

# Runs the console-script entry point in a fresh interpreter and reports what it imported.
IMPORT_PROBE = """
import json, sys
from barrage.cli import main
try:
    main(sys.argv[1:])
except SystemExit as stop:
    code = stop.code
print("PROBE " + json.dumps({"code": code, "heavy": sorted(m for m in ("tensorflow", "keras") if m in sys.modules)}))
"""


def _probe(*args: str) -> dict:
    env = dict(os.environ, BARRAGE_DISABLE_PLUGIN_AUTOLOAD="1")
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_PROBE, *args], capture_output=True, text=True, env=env, timeout=120
    )
    head, _, report = done.stdout.rpartition("PROBE ")
    assert report, done.stderr
    return dict(json.loads(report), output=head)


@pytest.mark.parametrize(
    "args",
    [["--version"], ["--help"], ["components", "list"], ["components", "list", "--json", "--kind", "loader"],
     ["plugins", "list"], ["validate", "--help"]],
    ids=lambda args: " ".join(args),
)
def test_cheap_commands_do_not_import_tensorflow(args):
    probe = _probe(*args)
    assert probe["code"] == 0, probe
    assert probe["heavy"] == []


def test_version_and_help_through_the_console_script():
    version = subprocess.run([BARRAGE_SCRIPT, "--version"], capture_output=True, text=True, timeout=60)
    assert version.returncode == 0
    assert version.stdout.strip() == f"barrage, version {BARRAGE_VERSION}"
    shown = subprocess.run([BARRAGE_SCRIPT, "--help"], capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0
    for word in ("--strict", "--debug", "components", "plugins", "validate", "train", "score"):
        assert word in shown.stdout


def _rows(*args: str):
    result = CliRunner().invoke(cli, ["components", "list", "--json", *args])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_components_list_shows_the_builtins_with_barrage_and_its_version():
    result = CliRunner().invoke(cli, ["components", "list"])
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["KIND", "NAME", "SOURCE", "TARGET"]
    table = [line.split() for line in lines[1:]]
    for kind, name, target in (
        ("loader", "KeySelector", "barrage.dataset:KeySelector"),
        ("transformer", "IdentityTransformer", "barrage.dataset:IdentityTransformer"),
        ("network", "sequential_from_config", "barrage.model:sequential_from_config"),
    ):
        assert [kind, name, "barrage", BARRAGE_VERSION, target] in table


def test_components_list_json_rows():
    rows = _rows()
    assert {"kind": "loader", "name": "KeySelector", "source": f"barrage {BARRAGE_VERSION}",
            "target": "barrage.dataset:KeySelector"} in rows
    assert all(set(row) == {"kind", "name", "source", "target"} for row in rows)
    assert all(row["source"] != "keras" and not row["source"].startswith("keras ") for row in rows)
    order = [KIND_NAMES.index(row["kind"]) for row in rows]
    assert order == sorted(order)


@pytest.mark.parametrize("kind", ["loader", "transformer", "network"])
def test_components_list_kind_filter(kind):
    rows = _rows("--kind", kind)
    assert rows and {row["kind"] for row in rows} == {kind}


def test_components_list_source_filter():
    rows = _rows("--source", "barrage")
    assert {"KeySelector", "IdentityTransformer", "sequential_from_config"} <= {row["name"] for row in rows}
    assert all(row["source"].startswith("barrage") for row in rows)
    assert _rows("--source", "no-such-distribution") == []
    result = CliRunner().invoke(cli, ["components", "list", "--source", "no-such-distribution"])
    assert result.stdout.strip() == "(none)"


def test_components_list_source_keras_lists_keras_names():
    rows = _rows("--source", "keras")
    assert rows and all(row["source"] == f"keras {KERAS_VERSION}" for row in rows)
    names = {(row["kind"], row["name"]) for row in rows}
    for expected in (("optimizer", "Adam"), ("layer", "Dense"), ("loss", "mse"), ("loss", "categorical_crossentropy"),
                     ("metric", "accuracy"), ("metric", "AUC"), ("schedule", "ExponentialDecay")):
        assert expected in names
    assert not {row["kind"] for row in rows} & {"loader", "transformer", "augmentor", "network"}
    adam = next(row for row in rows if row["name"] == "Adam")
    assert adam["target"] == "keras.optimizers.Adam"


def test_components_list_keras_flag_adds_keras_names_to_the_rest():
    rows = _rows("--keras", "--kind", "optimizer")
    assert ("optimizer", "SGD", f"keras {KERAS_VERSION}") in {(r["kind"], r["name"], r["source"]) for r in rows}


def test_components_list_refuses_an_unknown_kind():
    result = CliRunner().invoke(cli, ["components", "list", "--kind", "loaders"])
    assert result.exit_code == 2
    assert "'loaders' is not one of" in result.output


def test_paths_that_cannot_be_what_they_name_are_said_so(tmp_path):
    blank = CliRunner().invoke(cli, ["train", "c.json", "t.csv", "v.csv", "-a", ""])
    assert blank.exit_code == 2 and "'--artifact-dir': must name a directory, not be empty" in blank.output
    (tmp_path / "afile").write_text("not a run")
    scored = CliRunner().invoke(cli, ["score", str(tmp_path / "afile"), "d.csv", "-o", str(tmp_path / "s.csv")])
    assert scored.exit_code == 2 and "afile: is a file, not an artifact directory" in scored.output
    (tmp_path / "empty.yaml").write_text("# nothing yet\n")
    empty = CliRunner().invoke(cli, ["validate", str(tmp_path / "empty.yaml")])
    assert empty.exit_code == 2 and "empty.yaml: is empty; a config is a mapping" in empty.output


def test_a_manifest_of_another_format_is_refused(tmp_path):
    from barrage.errors import ArtifactError
    from barrage.manifest import Manifest

    (tmp_path / "manifest.json").write_text('{"format": 2, "files": {}}')
    with pytest.raises(ArtifactError, match=r"manifest format 2; this Barrage reads format 1"):
        Manifest(str(tmp_path)).entries()
