"""``barrage train`` and ``barrage score`` from the command line."""

from __future__ import annotations

import json
import os

import pandas as pd
import pytest
from click.testing import CliRunner

from barrage.cli import cli


@pytest.fixture
def files(tmp_path, config, records):
    """A config file and train/validation/score CSVs in ``tmp_path``."""
    config["solver"]["epochs"] = 1
    (tmp_path / "config.json").write_text(json.dumps(config))
    pd.DataFrame(records(64, seed=1)).to_csv(tmp_path / "train.csv", index=False)
    pd.DataFrame(records(32, seed=2)).to_csv(tmp_path / "validation.csv", index=False)
    pd.DataFrame(records(10, seed=3)).drop(columns=["label"]).to_csv(tmp_path / "score.csv", index=False)
    return tmp_path


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def train_args(files, artifact_dir):
    return ["train", files / "config.json", files / "train.csv", files / "validation.csv", "-a", artifact_dir,
            "--verbose", "0"]


def test_train_then_score_in_every_output_format(files):
    trained = invoke(*train_args(files, files / "run"))
    assert trained.exit_code == 0, trained.output
    assert "best epoch: 1 with val_loss" in trained.output and str(files / "run") in trained.output

    for extension in ("json", "jsonl", "csv"):
        output = files / f"scores.{extension}"
        scored = invoke("score", files / "run", files / "score.csv", "-o", output)
        assert scored.exit_code == 0, scored.output
        assert f"wrote 10 scores to {output}" in scored.output

    as_json = json.loads((files / "scores.json").read_text())
    as_lines = [json.loads(line) for line in (files / "scores.jsonl").read_text().splitlines()]
    as_csv = pd.read_csv(files / "scores.csv")
    assert len(as_json) == len(as_lines) == len(as_csv) == 10
    assert as_json == as_lines
    assert list(as_csv.columns) == ["label_0", "label_1"]
    assert as_csv["label_0"].tolist() == pytest.approx([score["label"][0] for score in as_json], rel=1e-6)
    assert sum(as_json[0]["label"]) == pytest.approx(1.0, rel=1e-5)


def test_predict_takes_the_original_order_and_an_existing_output_is_kept(files, monkeypatch):
    assert invoke(*train_args(files, files / "run")).exit_code == 0
    output = files / "scores.json"
    output.write_text("precious")
    refused = invoke("predict", files / "score.csv", files / "run", "-o", output)
    assert refused.exit_code == 2 and "already exists" in refused.output
    assert output.read_text() == "precious"
    replaced = invoke("predict", files / "score.csv", files / "run", "-o", output, "--overwrite")
    assert replaced.exit_code == 0 and len(json.loads(output.read_text())) == 10
    monkeypatch.chdir(files / "run")  # the original's default output: scores.json
    default = invoke("predict", files / "score.csv", files / "run")
    assert default.exit_code == 0 and len(json.loads((files / "run" / "scores.json").read_text())) == 10
    swapped = invoke("predict", files / "run", files / "score.csv", "-o", files / "other.json")
    assert swapped.exit_code == 2
    assert "the two are the other way round (barrage predict SCORE_DATA ARTIFACT_DIR)" in swapped.stderr
    swapped = invoke("score", files / "score.csv", files / "run", "-o", files / "other.json")
    assert "(barrage score ARTIFACT_DIR DATA)" in swapped.stderr


def test_bad_config_exits_2_without_traceback_and_writes_nothing(files):
    config = json.loads((files / "config.json").read_text())
    config["solver"]["batch_size"] = 0
    (files / "config.json").write_text(json.dumps(config))
    result = invoke(*train_args(files, files / "run"))
    assert result.exit_code == 2
    assert "solver.batch_size: must be at least 1" in result.output
    assert "Traceback" not in result.output
    assert not os.path.exists(files / "run")


BROKEN_TRANSFORMER = '''
from barrage.dataset import IdentityTransformer


class Broken(IdentityTransformer):
    def fit(self, records):
        return self.settings["scale"]  # a mistake of the component's own
'''


def test_an_error_in_the_users_component_points_at_their_code(files, user_module):
    module = user_module(BROKEN_TRANSFORMER, "broken_component")
    config = json.loads((files / "config.json").read_text())
    config["dataset"]["transformer"] = {"import": f"{module}.Broken"}
    (files / "config.json").write_text(json.dumps(config))
    result = invoke(*train_args(files, files / "run"))
    assert result.exit_code == 2, result.output
    assert "error: AttributeError: 'Broken' object has no attribute 'settings', raised in your code at " \
        in result.output
    assert f"{module}.py:7 (fit)" in result.output and "internal error" not in result.output


def test_bad_data_exits_2_naming_the_record(files):
    frame = pd.read_csv(files / "train.csv")
    frame["f2"] = frame["f2"].astype(object)
    frame.loc[5, "f2"] = "oops"
    frame.to_csv(files / "train.csv", index=False)
    result = invoke(*train_args(files, files / "run"))
    assert result.exit_code == 2
    assert "column 'f2', record 5: 'oops' cannot become a number" in result.output
    assert not os.path.exists(files / "run")


def test_scoring_a_missing_artifact_directory_or_unknown_format_exits_2(files):
    missing = invoke("score", files / "nowhere", files / "score.csv", "-o", files / "s.json")
    assert missing.exit_code == 2 and "no such artifact directory" in missing.output
    wrong = invoke("score", files / "nowhere", files / "score.csv", "-o", files / "s.xlsx")
    assert wrong.exit_code == 2 and ".csv, .json, .jsonl, .parquet" in wrong.output


def test_tensorflow_start_up_chatter_is_kept_off_stderr_but_warnings_are_not(files):
    import subprocess
    import sys

    config = json.loads((files / "config.json").read_text())
    config["services"] = {"best_checkpoint": {"monitor": "loss", "mode": "min"}}  # corrected with a warning
    (files / "config.json").write_text(json.dumps(config))
    barrage = os.path.join(os.path.dirname(sys.executable), "barrage")
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    quiet = subprocess.run([barrage, "validate", str(files / "config.json")], capture_output=True, text=True, env=env)
    assert quiet.returncode == 0, quiet.stderr
    assert "warning: services.best_checkpoint.monitor: 'loss' is not a validation quantity" in quiet.stderr
    assert "oneDNN" not in quiet.stderr and "absl" not in quiet.stderr
    loud = subprocess.run(
        [barrage, "--debug", "validate", str(files / "config.json")], capture_output=True, text=True, env=env
    )
    assert loud.returncode == 0 and "oneDNN" in loud.stderr  # --debug shows everything
