"""Resuming a run that was killed with SIGKILL part-way through."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys

import numpy as np
import pandas as pd
from click.testing import CliRunner

from barrage import BarrageModel
from barrage.cli import cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # where the shared conftest.py is

KILLER_SCRIPT = """
import json, os, signal, sys
sys.path.insert(0, {root!r})
import keras
from conftest import make_records
from barrage import BarrageModel, hookimpl
from barrage.runtime import default_runtime

class KillAfterEpoch(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == {kill_after}:
            os.kill(os.getpid(), signal.SIGKILL)

class Plugin:
    @hookimpl
    def barrage_callbacks(self, context):
        return [KillAfterEpoch()]

default_runtime().register_plugin(Plugin(), "killer")
config = json.load(open(sys.argv[1]))
BarrageModel(sys.argv[2]).train(config, make_records(96, seed=1), make_records(32, seed=2), verbose=0)
"""


def epochs_in_report(artifact_dir: str) -> list:
    with open(os.path.join(artifact_dir, "training_report.csv"), newline="") as handle:
        return [int(row["epoch"]) for row in csv.DictReader(handle)]


def run_killed(tmp_path, config, kill_after: int) -> str:
    """Train in a child process that SIGKILLs itself after epoch ``kill_after`` ends."""
    config_path = tmp_path / "config.json"
    config_path.write_text(json.dumps(config))
    artifact_dir = str(tmp_path / "run")
    script = KILLER_SCRIPT.format(root=ROOT, kill_after=kill_after)
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    child = subprocess.run(
        [sys.executable, "-c", script, str(config_path), artifact_dir], env=env, capture_output=True, text=True
    )
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
    return artifact_dir


def test_sigkilled_run_resumes_from_its_last_epoch_with_optimizer_state(tmp_path, config, records):
    config["solver"]["epochs"] = 4
    artifact_dir = run_killed(tmp_path, config, kill_after=1)
    assert epochs_in_report(artifact_dir) == [0, 1]
    assert os.path.isdir(os.path.join(artifact_dir, "resume_checkpoints"))

    model = BarrageModel(artifact_dir)
    network = model.train(config, records(96, seed=1), records(32, seed=2), resume=True, verbose=0)

    assert epochs_in_report(artifact_dir) == [0, 1, 2, 3]
    # 96 records in batches of 16: 6 steps an epoch; the optimizer continued from step 12
    assert int(network.optimizer.iterations.numpy()) == 4 * 6
    scores = BarrageModel(artifact_dir).predict(records(5, seed=7))
    assert len(scores) == 5 and np.isfinite(np.stack([s["label"] for s in scores])).all()


def test_resume_drops_report_rows_of_epochs_that_were_not_checkpointed(tmp_path, config, records):
    config["solver"]["epochs"] = 3
    artifact_dir = run_killed(tmp_path, config, kill_after=0)
    report = os.path.join(artifact_dir, "training_report.csv")
    with open(report, newline="") as handle:
        rows = list(csv.DictReader(handle))
    # as if the process died after the report row of epoch 1 but before its checkpoint
    with open(report, "a", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writerow(dict(rows[0], epoch="1"))
    BarrageModel(artifact_dir).train(config, records(96, seed=1), records(32, seed=2), resume=True, verbose=0)
    assert epochs_in_report(artifact_dir) == [0, 1, 2]


def test_cli_resume_continues_a_killed_run(tmp_path, config, records):
    config["solver"]["epochs"] = 3
    artifact_dir = run_killed(tmp_path, config, kill_after=0)
    pd.DataFrame(records(96, seed=1)).to_csv(tmp_path / "train.csv", index=False)
    pd.DataFrame(records(32, seed=2)).to_csv(tmp_path / "validation.csv", index=False)
    config_path = str(tmp_path / "config.json")

    refused = CliRunner().invoke(
        cli, ["train", config_path, str(tmp_path / "train.csv"), str(tmp_path / "validation.csv"), "-a", artifact_dir]
    )
    assert refused.exit_code == 2 and "already exists" in refused.output
    assert epochs_in_report(artifact_dir) == [0]

    resumed = CliRunner().invoke(
        cli,
        ["train", config_path, str(tmp_path / "train.csv"), str(tmp_path / "validation.csv"),
         "-a", artifact_dir, "--resume", "--verbose", "0"],
    )
    assert resumed.exit_code == 0, resumed.output
    assert epochs_in_report(artifact_dir) == [0, 1, 2]
    assert "best epoch" in resumed.output
