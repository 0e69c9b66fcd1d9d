"""Helpers of the reliability catalogue (tests/test_reliability_*.py): run the CLI the
way a user does and check the one-line contract, and a trained run to damage."""

from __future__ import annotations

import copy
import json
import os
import shutil
from pathlib import Path
from typing import Any, Dict, Iterable, List, Optional

import attrs
import pandas as pd
from click.testing import CliRunner
from sample_data import BASE_CONFIG, make_records

from barrage.cli import cli


@attrs.frozen
class Outcome:
    code: int
    stdout: str
    stderr: str

    @property
    def error_lines(self) -> List[str]:
        return [line for line in self.stderr.splitlines() if line.startswith("error:")]


def run_cli(*args: Any, env: Optional[Dict[str, str]] = None) -> Outcome:
    """``barrage ARGS`` in-process, as the console script runs it (exit code, outputs)."""
    result = CliRunner().invoke(cli, [str(a) for a in args], env=env)
    return Outcome(result.exit_code, result.stdout, result.stderr)


def assert_one_error(outcome: Outcome, code: int, *fragments: str) -> str:
    """The command failed with ``code``, with one ``error:`` line (a config error lists its
    problems on the indented lines after it) holding every fragment, and no traceback;
    returns the error's text."""
    assert outcome.code == code, (outcome.code, outcome.stdout, outcome.stderr)
    lines = outcome.error_lines
    assert len(lines) == 1, outcome.stderr
    assert "Traceback" not in outcome.stderr + outcome.stdout
    text = outcome.stderr[outcome.stderr.index(lines[0]):]
    for fragment in fragments:
        assert fragment in text, (fragment, text)
    return text


def snapshot(folder: Path) -> Dict[str, bytes]:
    """Every file below ``folder`` with its content (to prove nothing changed)."""
    return {
        str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()
    }


def leftovers(folder: Path) -> List[str]:
    return [str(p) for p in folder.rglob(".barrage-tmp-*")]


def small_config(epochs: int = 2) -> Dict[str, Any]:
    config = copy.deepcopy(BASE_CONFIG)
    config["solver"]["epochs"] = epochs
    config["services"] = {"tensorboard": None}
    return config


def write_inputs(folder: Path, config: Optional[Dict[str, Any]] = None, rows: Iterable[Dict[str, Any]] = ()) -> Path:
    """``config.json``, ``train.csv``, ``validation.csv`` and ``score.csv`` in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config or small_config()))
    train = list(rows) or make_records(64, seed=1)
    pd.DataFrame(train).to_csv(folder / "train.csv", index=False)
    pd.DataFrame(make_records(32, seed=2)).to_csv(folder / "validation.csv", index=False)
    pd.DataFrame(make_records(12, seed=3)).drop(columns=["label"]).to_csv(folder / "score.csv", index=False)
    return folder


def train_args(folder: Path, run: Path, *extra: Any) -> List[Any]:
    return ["train", folder / "config.json", folder / "train.csv", folder / "validation.csv", "-a", run,
            "--verbose", "0", *extra]


def copy_run(source: Path, target: Path) -> Path:
    shutil.copytree(source, target, symlinks=True)
    return target


def edit_json(path: Path, change: Any) -> None:
    data = json.loads(path.read_text())
    path.write_text(json.dumps(change(data)))


def flip_a_byte(path: Path, offset_from_end: int = 100) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) - offset_from_end] ^= 0xFF
    path.write_bytes(bytes(data))


def umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current
