"""The reliability catalogue, part 3: crashes and signals. ``SIGKILL`` at random instants
while checkpoints are written, Ctrl-C and ``SIGTERM`` during training, a full disk; each
leaves a run that resumes, a best checkpoint that scores, and no temporary file behind."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
from pathlib import Path
from typing import Iterator, List

import numpy as np
import pandas as pd
import pytest
from reliability import assert_one_error, leftovers, run_cli, small_config, train_args, write_inputs

from barrage import hookimpl
from barrage.manifest import Manifest
from barrage.runtime import default_runtime

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent

CHILD = """
import os, signal, sys
sys.path.insert(0, {tests!r})
point, kill_at = sys.argv[1], int(sys.argv[2])
calls = [0]

def maybe_kill():
    calls[0] += 1
    if calls[0] == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)

if point == "weights-file-close":  # inside save_weights, before the HDF5 file is complete
    import h5py
    close = h5py.File.close
    def patched_close(self):
        if self.mode == "r+":
            maybe_kill()
        close(self)
    h5py.File.close = patched_close
elif point in ("before-rename", "after-rename"):
    from barrage import artifacts
    replace = os.replace
    def patched_replace(source, target):
        if point == "before-rename":
            maybe_kill()
        replace(source, target)
        if point == "after-rename":
            maybe_kill()
    artifacts.os.replace = patched_replace
elif point == "manifest-write":
    from barrage.manifest import Manifest
    write = Manifest._write
    def patched_write(self, files):
        maybe_kill()
        write(self, files)
    Manifest._write = patched_write
from barrage.cli import main
main(sys.argv[3:])
"""

KILL_POINTS = {"weights-file-close": 5, "before-rename": 8, "after-rename": 8, "manifest-write": 12}
CASES = [(point, random.Random(f"{point}-{n}").randint(1, high)) for point, high in KILL_POINTS.items() for n in (1, 2)]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_inputs(tmp_path_factory.mktemp("crash-inputs"), small_config(epochs=3))


def epochs_in_report(run: Path) -> List[int]:
    import csv

    with open(run / "training_report.csv", newline="") as handle:
        return [int(row["epoch"]) for row in csv.DictReader(handle)]


@pytest.mark.parametrize("point, kill_at", CASES, ids=[f"{p}-{n}" for p, n in CASES])
def test_sigkill_while_checkpoints_are_written_leaves_a_run_that_resumes_and_scores(
    inputs, tmp_path, point, kill_at
):
    run = tmp_path / "run"
    args = [str(a) for a in train_args(inputs, run)]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    child = subprocess.run([sys.executable, "-c", CHILD.format(tests=str(TESTS)), point, str(kill_at), *args],
                           env=env, capture_output=True, text=True, timeout=300)
    assert child.returncode == -signal.SIGKILL, child.stderr[-3000:]
    if (run / "best_checkpoint" / "model.weights.h5").exists():  # a best epoch was reached: it scores
        scored = run_cli("score", run, inputs / "score.csv", "-o", tmp_path / "early.csv")
        assert scored.code == 0, scored.stderr
    resumed = run_cli(*train_args(inputs, run, "--resume"))
    assert resumed.code == 0, resumed.stderr
    assert epochs_in_report(run) == [0, 1, 2]
    assert leftovers(run) == []
    assert not (run / "resume_checkpoints").exists()
    scored = run_cli("score", run, inputs / "score.csv", "-o", tmp_path / "scores.csv")
    assert scored.code == 0, scored.stderr


def test_a_damaged_newest_resume_checkpoint_falls_back_to_the_one_before(tmp_path):
    """While epoch N's checkpoint is recorded, epoch N-1's is kept; if the newest is then
    damaged, resuming takes the one before (and redoes an epoch); if none is intact, the
    error names the newest; a recorded checkpoint never renamed into place is skipped."""
    from barrage.artifacts import ArtifactLayout
    from barrage.errors import ArtifactError
    from barrage.services.resume_checkpoint import latest_resume_point

    layout = ArtifactLayout(str(tmp_path))
    folder = tmp_path / "resume_checkpoints"
    folder.mkdir()
    for epochs in (1, 2):
        (folder / f"epoch-0000{epochs}.weights.h5").write_bytes(b"weights of epoch %d" % epochs)
    (tmp_path / "manifest.json").write_text('{"format": 1, "files": {}}')
    manifest = Manifest(str(tmp_path))
    manifest.record([f"resume_checkpoints/epoch-0000{epochs}.weights.h5" for epochs in (1, 2)])
    assert latest_resume_point(layout) == (2, str(folder / "epoch-00002.weights.h5"))
    (folder / "epoch-00002.weights.h5").write_bytes(b"damaged")
    assert latest_resume_point(layout) == (1, str(folder / "epoch-00001.weights.h5"))
    (folder / "epoch-00001.weights.h5").write_bytes(b"damaged too")
    with pytest.raises(ArtifactError, match="no intact resume checkpoint: .*epoch-00002.weights.h5: has changed"):
        latest_resume_point(layout)
    for epochs in (1, 2):
        (folder / f"epoch-0000{epochs}.weights.h5").unlink()
    assert latest_resume_point(layout) is None  # recorded, never completed: start from the first epoch


# -- Ctrl-C and SIGTERM during training ------------------------------------------------

SIGNALLER = """
import os, signal, sys
sys.path.insert(0, {tests!r})
import keras
from barrage import hookimpl
from barrage.cli import main
from barrage.runtime import Runtime

which, when = getattr(signal, sys.argv[1]), sys.argv[2]

class Signal(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if when == "after-epoch-1" and epoch == 0:
            os.kill(os.getpid(), which)
    def on_train_batch_end(self, batch, logs=None):
        if when == "first-batch" and batch == 0:
            os.kill(os.getpid(), which)

class Plugin:
    @hookimpl
    def barrage_callbacks(self, context):
        return [Signal()]

runtime = Runtime()
runtime.register_plugin(Plugin(), "signaller")
main(sys.argv[3:], runtime)
"""


@pytest.mark.parametrize("which, code, word", [("SIGINT", 130, "interrupted"), ("SIGTERM", 143, "terminated")])
def test_a_signal_during_training_says_how_to_resume_and_resuming_finishes(inputs, tmp_path, which, code, word):
    run = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-c", SIGNALLER.format(tests=str(TESTS)), which, "after-epoch-1",
         *[str(a) for a in train_args(inputs, run)]],
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"), capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == code, done.stderr[-2000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in done.stderr
    assert errors[0].startswith(f"error: {word} after 1 epoch(s); continue with: barrage train ")
    assert errors[0].endswith("--resume")
    assert run_cli(*train_args(inputs, run, "--resume")).code == 0
    assert epochs_in_report(run) == [0, 1, 2]


@pytest.mark.parametrize("which, code", [("SIGINT", 130), ("SIGTERM", 143)])
def test_a_signal_before_the_first_epoch_ends_leaves_nothing(inputs, tmp_path, which, code):
    run = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-c", SIGNALLER.format(tests=str(TESTS)), which, "first-batch",
         *[str(a) for a in train_args(inputs, run)]],
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"), capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == code, done.stderr[-2000:]
    assert "before the first epoch ended; nothing was kept" in done.stderr
    assert not run.exists()


# -- a full disk ----------------------------------------------------------------------


@contextlib.contextmanager
def small_disk(path: Path, size: str) -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    path.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(folder: Path) -> Path:
    """Take all the free space of ``folder``'s file system."""
    filler = folder / "filler"
    with open(filler, "wb") as handle:
        try:
            while True:
                handle.write(b"\0" * 65536)
                handle.flush()
        except OSError:
            pass
    return filler


def test_disk_full_while_training_names_the_file_and_the_run_resumes(inputs, tmp_path):
    with small_disk(tmp_path / "disk", "4m") as disk:
        run = disk / "run"
        filled = []

        class FillAfterFirstEpoch:
            @hookimpl
            def barrage_callbacks(self, context):
                import keras

                class Filler(keras.callbacks.Callback):
                    def on_epoch_end(self, epoch, logs=None):
                        if epoch == 0:
                            filled.append(fill(disk))

                return [Filler()]

        runtime = default_runtime()
        runtime.register_plugin(FillAfterFirstEpoch(), "filler")
        from barrage.cli import main

        with pytest.raises(SystemExit) as stop:
            main([str(a) for a in train_args(inputs, run)], runtime)
        assert stop.value.code == 2
        filled[0].unlink()
        assert leftovers(run) == []
        Manifest(str(run)).verify(["best_checkpoint/model.weights.h5"])
        assert run_cli(*train_args(inputs, run, "--resume")).code == 0
        assert epochs_in_report(run) == [0, 1, 2]


def test_disk_full_while_writing_scores_leaves_no_partial_file(inputs, tmp_path):
    run = tmp_path / "run"
    assert run_cli(*train_args(inputs, run)).code == 0
    with small_disk(tmp_path / "disk", "64k") as disk:
        filler = fill(disk)
        output = disk / "scores.json"
        outcome = run_cli("score", run, inputs / "score.csv", "-o", output)
        assert_one_error(outcome, 2, f"{output}: cannot be written: No space left on device")
        assert not output.exists() and leftovers(disk) == []
        filler.unlink()


def test_a_killed_score_leaves_a_temporary_file_the_next_score_removes(inputs, tmp_path):
    run = tmp_path / "run"
    assert run_cli(*train_args(inputs, run)).code == 0
    stale = tmp_path / ".barrage-tmp-0badc0de-scores.csv"
    stale.write_text("half a file")
    other = tmp_path / ".barrage-tmp-0badc0de-other.csv"
    other.write_text("another output's")
    same_ending = tmp_path / ".barrage-tmp-0badc0de-val_scores.csv"  # another job's, still being written
    same_ending.write_text("in progress")
    assert run_cli("score", run, inputs / "score.csv", "-o", tmp_path / "scores.csv").code == 0
    assert not stale.exists() and other.exists() and same_ending.exists()


def test_only_a_directorys_own_stages_count_as_its_leftovers(tmp_path):
    """``run``'s stage is ``.barrage-tmp-<8 hex>-run``; the stage of a job writing
    ``my-run`` beside it ends the same way and must be left alone."""
    from barrage.artifacts import stale_stages
    from barrage.outputs import publish_folder

    own = tmp_path / ".barrage-tmp-0badc0de-run"
    others = [tmp_path / name for name in (".barrage-tmp-0badc0de-my-run", ".barrage-tmp-0badc0de-run.bak",
                                           ".barrage-tmp-notahex1-run", ".barrage-tmp-0badc0de-export")]
    for stage in [own, *others]:
        stage.mkdir()
    assert stale_stages(str(tmp_path / "run")) == [str(own)]
    publish_folder(str(tmp_path / "run"), lambda stage: Path(stage, "file").write_text("x"))
    assert not own.exists() and all(stage.exists() for stage in others)
    assert (tmp_path / "run" / "file").read_text() == "x"


def test_a_temporary_another_writer_holds_is_work_in_progress_not_a_leftover(tmp_path):
    """Two jobs given the same output (two shards, a retry while the first run goes
    on): the second one's cleanup must not delete the first one's file in progress, and
    both finish. A temporary nobody holds (its writer was killed) is still removed."""
    from barrage.scores import ScoreWriter

    output = tmp_path / "scores.parquet"
    killed = tmp_path / ".barrage-tmp-0badc0de-scores.parquet"
    killed.write_text("left by a killed process")
    first = ScoreWriter(str(output), overwrite=True)
    first.write({"p": np.ones(3)})
    assert not killed.exists()
    second = ScoreWriter(str(output), overwrite=True)
    assert os.path.exists(first._temporary)
    with second:
        second.write({"p": np.zeros(2)})
    with first:
        pass
    assert pd.read_parquet(output)["p"].tolist() == [1.0, 1.0, 1.0]  # the last one to finish wins
    assert sorted(os.listdir(tmp_path)) == ["scores.parquet"]


def test_a_stage_another_process_is_filling_is_left_alone(tmp_path):
    """A staging folder held by a live writer is not stale, whether the one who looks
    is the same process or another; once released, it is."""
    from barrage.artifacts import hold, release, stale_stages

    stage = tmp_path / ".barrage-tmp-0badc0de-run"
    stage.mkdir()
    lock = hold(str(stage))
    try:
        assert stale_stages(str(tmp_path / "run")) == []
        looked = subprocess.run(
            [sys.executable, "-c", "import sys; from barrage.artifacts import is_held; print(is_held(sys.argv[1]))",
             str(stage)], capture_output=True, text=True, check=True, cwd=ROOT)
        assert looked.stdout.strip() == "True"
    finally:
        release(lock)
    assert stale_stages(str(tmp_path / "run")) == [str(stage)]
