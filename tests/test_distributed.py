"""Training past one device or machine: the strategy choice, per-worker batch slices,
mirrored training on logical CPUs, two workers on 127.0.0.1, a killed worker and resume,
and the Keras bug the multi-worker fixes work around.

The tests that start processes carry the ``distributed`` marker (CI runs them); each has a
hard timeout, and every process it starts is killed by its PID when the test ends.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any, Dict, List

import numpy as np
import pandas as pd
import pytest

from barrage import ClusterError, IdentityTransformer, KeySelector, RecordMode
from barrage.distribute import Cluster, choose_distribution
from barrage.distribute import keras_patches
from barrage.records import RecordStream, read_records
from barrage.sources import make_batch_source
from barrage.sources.order import BatchPart

ROOT = Path(__file__).resolve().parents[1]
LAUNCHER = ROOT / "examples" / "distributed" / "launch_local.py"
MULTI_IO = ROOT / "examples" / "multi_io"
BARRAGE = [sys.executable, "-m", "barrage"]


# -- TF_CONFIG and the choice of strategy --------------------------------------------------


def tf_config(cluster: Dict[str, Any], task_type: str = "worker", index: int = 0) -> Dict[str, str]:
    return {"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": task_type, "index": index}})}


def test_the_chief_is_the_chief_task_else_worker_zero_else_a_lone_process():
    workers = {"worker": ["a:1", "b:2", "c:3"]}
    assert Cluster.from_environment({}) == Cluster()  # no TF_CONFIG: a chief on its own
    assert Cluster.from_environment({}).is_chief and Cluster().training_tasks == 1
    assert Cluster.from_environment(tf_config(workers, "worker", 0)).is_chief
    second = Cluster.from_environment(tf_config(workers, "worker", 2))
    assert not second.is_chief and second.training_tasks == 3 and second.describe() == "worker 2"
    with_chief = {"chief": ["a:1"], "worker": ["b:2", "c:3"], "evaluator": ["d:4"]}
    assert Cluster.from_environment(tf_config(with_chief, "chief", 0)).is_chief
    first_worker = Cluster.from_environment(tf_config(with_chief, "worker", 0))
    assert not first_worker.is_chief and first_worker.training_tasks == 3
    assert not Cluster.from_environment(tf_config(with_chief, "evaluator", 0)).trains


@pytest.mark.parametrize("text, message", [
    ("{nope", "TF_CONFIG: not valid JSON"),
    ('{"task": {"type": "worker", "index": 0}}', "TF_CONFIG: must be a JSON object with a 'cluster' object"),
    ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "ps", "index": 0}}', "task.type 'ps' is not a task type"),
    ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 3}}', "task.index 3 is beyond the 1"),
    ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": -1}}', "task.index must be a whole"),
    ('{"cluster": {"worker": "a:1"}, "task": {"type": "worker", "index": 0}}', "cluster.worker must be a list"),
])
def test_a_bad_tf_config_is_one_error_naming_it(text, message):
    with pytest.raises(ClusterError, match=message.replace("(", r"\(").replace(".", r"\.")):
        Cluster.from_environment({"TF_CONFIG": text})


def test_strategy_choices_that_cannot_work_are_refused_before_any_training():
    with pytest.raises(ClusterError, match="--distribute sideways: expected one of auto, off, mirrored, multi-worker"):
        choose_distribution("sideways")
    with pytest.raises(ClusterError, match="--replicas 2: only with --distribute mirrored"):
        choose_distribution("off", replicas=2)
    with pytest.raises(ClusterError, match="TF_CONFIG must list at least two tasks"):
        choose_distribution("multi-worker", cluster=Cluster())
    assert choose_distribution("auto", cluster=Cluster()).kind == "off"  # no GPUs here, no cluster
    assert choose_distribution("off").is_chief


def test_the_keras_fixes_are_gated_on_the_versions_known_to_need_them():
    assert keras_patches.needed("3.15.1") and keras_patches.needed("3.0.0")
    assert not keras_patches.needed("2.15.0")


# -- each worker builds its slices of every global batch -------------------------------------


def numbered(count: int = 83) -> pd.DataFrame:
    return pd.DataFrame({"n": np.arange(count, dtype=np.float64), "copies": np.arange(count) % 3,
                         "y": np.arange(count) % 2})


def noisy(data_record: Any, rng: Any) -> Any:
    """An augmentor drawing from its generator: equal results prove equal seeding."""
    inputs, *rest = data_record
    return ({"n": inputs["n"] + rng.normal()}, *rest)


class PerRecordLoader(KeySelector):
    vectorized = False


def sources_of(tmp_path: Path, mode: RecordMode = RecordMode.TRAIN) -> Dict[str, Any]:
    frame = numbered()
    stream_path = tmp_path / "numbered.parquet"
    frame.to_parquet(stream_path, row_group_size=10)
    table = read_records(frame)
    made = {}
    for name, records, loader_class, augmentors in [
        ("columns", table, KeySelector, []), ("columns+augmentors", table, KeySelector, [noisy]),
        ("records", table, PerRecordLoader, [noisy]), ("stream", RecordStream(str(stream_path)), KeySelector, []),
    ]:
        loader = loader_class(mode, inputs={"n": "n"}, outputs={"y": "y"})
        made[name] = make_batch_source(records, mode=mode, loader=loader,
                                       transformer=IdentityTransformer(mode, loader), augmentors=augmentors,
                                       batch_size=16, seed=4, sample_count="copies", shuffle_buffer=20)
    return made


def batches(dataset: Any, count: int) -> List[np.ndarray]:
    return [np.ravel(inputs["n"].numpy()) for inputs, _ in dataset.take(count)]


@pytest.mark.parametrize("mode", [RecordMode.TRAIN, RecordMode.VALIDATION])
@pytest.mark.parametrize("kind", ["columns", "columns+augmentors", "records", "stream"])
def test_the_workers_slices_put_together_are_the_single_worker_batches(tmp_path, kind, mode):
    source = sources_of(tmp_path, mode)[kind]
    if mode == RecordMode.TRAIN:  # from batch 3 (as after a resume), over two passes ending with a short batch
        start, steps = 3, 2 * source.batches_per_pass
    else:  # validation: one whole pass, ending with a short batch
        start, steps = 0, source.batches_per_pass
    whole = batches(source.dataset(start), steps)
    assert len(whole) == steps and min(map(len, whole)) < 16  # a short batch is among them
    # 3 workers with one replica each, and one worker holding two of 4 replicas
    for parts in ([BatchPart(k, 1, 3) for k in range(3)], [BatchPart(0, 2, 4), BatchPart(2, 2, 4)]):
        pieces = [batches(source.dataset(start, part=part), steps * part.count) for part in parts]
        for step, expected in enumerate(whole):
            slices = [piece[step * part.count + j] for piece, part in zip(pieces, parts) for j in range(part.count)]
            np.testing.assert_allclose(np.concatenate(slices), expected, rtol=1e-6)
            assert max(map(len, slices)) - min(map(len, slices)) <= 1  # as even as the batch allows


# -- processes -----------------------------------------------------------------------------


def environment(tmp_path: Path) -> Dict[str, str]:
    temporary = tmp_path / "tmp"
    temporary.mkdir(exist_ok=True)
    return {**os.environ, "BARRAGE_DISABLE_PLUGINS": "mlflow", "TF_CPP_MIN_LOG_LEVEL": "2",
            "PYTHONPATH": os.pathsep.join([str(MULTI_IO), os.environ.get("PYTHONPATH", "")]),
            "TMPDIR": str(temporary)}


class Launch:
    """``launch_local.py`` running ``command`` on 2 workers, its output gathered line by
    line; :meth:`kill_all` kills the launcher and every worker by PID."""

    def __init__(self, command: List[str], env: Dict[str, str], workers: int = 2):
        self.lines: List[str] = []
        self.process = subprocess.Popen(
            [sys.executable, str(LAUNCHER), "--workers", str(workers), "--grace", "60", "--", *command],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def worker_pids(self) -> Dict[int, int]:
        found = {}
        for line in self.lines:
            if line.startswith("[launcher] worker ") and " pid " in line:
                number, pid = line[len("[launcher] worker "):].split(" pid ")
                found[int(number)] = int(pid)
        return found

    def wait(self, timeout: float) -> int:
        code = self.process.wait(timeout=timeout)
        self._reader.join(timeout=10)
        return code

    def output(self) -> str:
        return "\n".join(self.lines)

    def kill_all(self) -> None:
        for pid in [self.process.pid, *self.worker_pids().values()]:
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def run_launch(command: List[str], env: Dict[str, str], timeout: float = 300) -> Launch:
    launch = Launch(command, env)
    try:
        launch.wait(timeout)
    finally:
        launch.kill_all()
    return launch


def multi_io_config(tmp_path: Path, epochs: int) -> Path:
    config = json.loads((MULTI_IO / "config.json").read_text())
    config["solver"]["epochs"] = epochs
    config["services"]["train_early_stopping"] = None  # every epoch runs: the report is predictable
    config["services"]["validation_early_stopping"] = None
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return path


def report_epochs(artifact_dir: Path) -> List[int]:
    return [int(epoch) for epoch in pd.read_csv(artifact_dir / "training_report.csv")["epoch"]]


@pytest.mark.distributed
def test_mirrored_on_two_logical_cpus_trains_a_scoreable_directory(tmp_path):
    config, run = multi_io_config(tmp_path, epochs=2), tmp_path / "run"
    env = environment(tmp_path)
    trained = subprocess.run(
        [*BARRAGE, "train", str(config), str(MULTI_IO / "train.jsonl"), str(MULTI_IO / "validation.jsonl"),
         "-a", str(run), "--distribute", "mirrored", "--replicas", "2", "--verbose", "0"],
        env=env, capture_output=True, text=True, timeout=300,
    )
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert report_epochs(run) == [0, 1]
    scores = tmp_path / "scores.parquet"
    scored = subprocess.run([*BARRAGE, "score", str(run), str(MULTI_IO / "validation.jsonl"), "-o", str(scores),
                             "--quiet"], env=env, capture_output=True, text=True, timeout=300)
    assert scored.returncode == 0, scored.stderr[-3000:]
    frame = pd.read_parquet(scores)
    assert set(frame.columns) == {"kind", "size"} and len(frame) == 120
    assert np.stack(frame["kind"]).shape == (120, 3)


CHIEF_FILES = {"best_checkpoint", "config.json", "dataset", "environment.json", "manifest.json",
               "network_params.json", "training_report.csv", "TensorBoard"}


@pytest.mark.distributed
def test_two_workers_train_alike_and_only_the_chief_writes_the_directory(tmp_path):
    config, run, reports = multi_io_config(tmp_path, epochs=3), tmp_path / "run", tmp_path / "reports"
    reports.mkdir()
    env = environment(tmp_path)
    launch = run_launch([sys.executable, str(ROOT / "tests" / "distributed_worker.py"), str(config),
                         str(MULTI_IO / "train.jsonl"), str(MULTI_IO / "validation.jsonl"), str(run), str(reports)],
                        env)
    assert launch.process.returncode == 0, launch.output()[-4000:]
    chief, worker = (json.loads((reports / f"worker-{i}.json").read_text()) for i in (0, 1))
    assert chief["chief"] and not worker["chief"]
    assert chief["weights"] == worker["weights"]  # the same training on both
    assert chief["history"] == worker["history"]  # logs are all-reduced: the same numbers everywhere
    assert set(os.listdir(run)) == CHIEF_FILES
    assert report_epochs(run) == [0, 1, 2]
    assert os.listdir(tmp_path / "tmp") == []  # the worker's private directory is gone
    scored = subprocess.run([*BARRAGE, "score", str(run), str(MULTI_IO / "validation.jsonl"),
                             "-o", str(tmp_path / "scores.csv"), "--quiet"],
                            env=env, capture_output=True, text=True, timeout=300)
    assert scored.returncode == 0, scored.stderr[-3000:]
    assert len(pd.read_csv(tmp_path / "scores.csv")) == 120


@pytest.mark.distributed
def test_a_killed_worker_stops_the_other_and_both_resume_to_each_epoch_once(tmp_path):
    config, run = multi_io_config(tmp_path, epochs=6), tmp_path / "run"
    env = environment(tmp_path)
    command = [*BARRAGE, "train", str(config), str(MULTI_IO / "train.jsonl"), str(MULTI_IO / "validation.jsonl"),
               "-a", str(run), "--verbose", "0"]
    launch = Launch(command, env)
    try:
        deadline = time.monotonic() + 240
        while not (run / "training_report.csv").exists() or len(report_epochs(run)) < 2:
            assert time.monotonic() < deadline and launch.process.poll() is None, launch.output()[-4000:]
            time.sleep(0.1)
        killed_at = time.monotonic()
        os.kill(launch.worker_pids()[1], signal.SIGKILL)
        code = launch.wait(timeout=120)
        stopped_in = time.monotonic() - killed_at
        print(f"the chief stopped {stopped_in:.1f} s after worker 1 was killed")
    finally:
        launch.kill_all()
    output = launch.output()
    assert code != 0, output[-4000:]
    chief_errors = [line for line in launch.lines if line.startswith("[worker 0] error:")]
    assert len(chief_errors) == 1 and "another worker of the cluster failed or stopped" in chief_errors[0], output
    assert "--resume" in chief_errors[0] and "Traceback" not in output
    assert stopped_in < 90, stopped_in
    done = report_epochs(run)
    assert 2 <= len(done) < 6

    mixed = run_launch([sys.executable, "-c", RESUME_ON_THE_CHIEF_ONLY, *command[3:]], env)  # a mistaken restart
    assert mixed.process.returncode == 2, mixed.output()[-4000:]
    refusals = [line for line in mixed.lines if "the workers disagree on --resume, epochs done" in line]
    assert len(refusals) == 2 and all(line.split("] ", 1)[1].startswith("error: ") for line in refusals)
    assert report_epochs(run) == done  # nothing trained, nothing lost

    resumed = run_launch([*command, "--resume"], env)
    assert resumed.process.returncode == 0, resumed.output()[-4000:]
    assert report_epochs(run) == [0, 1, 2, 3, 4, 5]  # each epoch once
    scores = tmp_path / "scores.jsonl"
    scored = subprocess.run([*BARRAGE, "score", str(run), str(MULTI_IO / "validation.jsonl"), "-o", str(scores),
                             "--quiet"], env=env, capture_output=True, text=True, timeout=300)
    assert scored.returncode == 0, scored.stderr[-3000:]
    assert len(pd.read_json(scores, lines=True)) == 120  # the resumed directory scores


RESUME_ON_THE_CHIEF_ONLY = (
    "import json, os, sys\n"
    "from barrage.cli import main\n"
    "first = json.loads(os.environ['TF_CONFIG'])['task']['index'] == 0\n"
    "main(sys.argv[1:] + (['--resume'] if first else []))\n"
)


def test_a_lost_worker_says_how_to_start_again():
    import tensorflow as tf

    from barrage.distribute import Distribution, lost_worker_errors

    cluster = Cluster(task_type="worker", task_index=1, training_tasks=2, has_chief_task=False)
    lost = tf.errors.UnavailableError(None, None, "Collective ops is aborted by: task 0 stopped sending heartbeats")
    with pytest.raises(ClusterError, match=r"^worker 1: another worker of the cluster failed or stopped; start every "
                                           r"worker again, adding --resume if runs/r exists \(TensorFlow: Collective "
                                           r"ops is aborted by: task 0 stopped sending heartbeats\)$"):
        with lost_worker_errors(Distribution("multi-worker", None, cluster), "runs/r"):
            raise lost
    internal = tf.errors.InternalError(None, None, "a kernel failed")  # not a lost peer: kept as it is
    with pytest.raises(tf.errors.InternalError):
        with lost_worker_errors(Distribution("multi-worker", None, cluster), "runs/r"):
            raise internal
    with pytest.raises(tf.errors.UnavailableError):  # outside a cluster, nothing to say about workers
        with lost_worker_errors(Distribution("off", None), "runs/r"):
            raise lost


KERAS_ALONE = textwrap.dedent("""
    # Two plain Keras workers under MultiWorkerMirroredStrategy, without Barrage's fixes.
    import json, os, sys
    import numpy as np
    import tensorflow as tf
    import keras

    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    with strategy.scope():
        inputs = keras.Input((3,), name="x")
        model = keras.Model({"x": inputs}, {"y": keras.layers.Dense(1, name="y")(inputs)})
        model.compile(optimizer="sgd", loss={"y": "mse"})
    data = tf.data.Dataset.from_tensor_slices(({"x": np.ones((64, 3), "float32")}, {"y": np.ones((64, 1))}))
    model.fit(data.batch(16).repeat(), epochs=1, steps_per_epoch=2, verbose=0)
    print("TRAINED")
""")


@pytest.mark.distributed
def test_keras_still_needs_the_multi_worker_fixes(tmp_path):
    """Fails once a Keras release trains multi-worker on its own: then narrow
    ``keras_patches.NEEDED_FOR`` (or drop the module)."""
    import keras

    script = tmp_path / "keras_alone.py"
    script.write_text(KERAS_ALONE)
    launch = run_launch([sys.executable, str(script)], environment(tmp_path), timeout=240)
    output = launch.output()
    if launch.process.returncode == 0 and output.count("TRAINED") == 2:
        pytest.fail(f"Keras {keras.__version__} trains multi-worker without Barrage's fixes (keras-team/keras#20585 "
                    "is fixed): narrow barrage.distribute.keras_patches.NEEDED_FOR and drop the fixes")
    assert "with an unsupported type" in output, output[-4000:]
    assert keras_patches.needed(keras.__version__)


AGREEMENT = textwrap.dedent("""
    # One worker: the seed the chief draws, then an agreement the other worker breaks.
    import json, os
    from barrage import ClusterError
    from barrage.distribute import choose_distribution

    distribution = choose_distribution("multi-worker")
    index = json.loads(os.environ["TF_CONFIG"])["task"]["index"]
    print("SEED", distribution.shared_seed(None), "GIVEN", distribution.shared_seed(7))
    distribution.agree({"epochs done": 3.0, "network params": 12.5})
    print("AGREED")
    try:
        distribution.agree({"epochs done": 3.0 + index, "network params": 12.5})
    except ClusterError as exc:
        print("REFUSED", exc)
""")


@pytest.mark.distributed
def test_workers_share_the_chiefs_seed_and_refuse_to_start_apart(tmp_path):
    script = tmp_path / "agreement.py"
    script.write_text(AGREEMENT)
    launch = run_launch([sys.executable, str(script)], environment(tmp_path), timeout=240)
    output = launch.output()
    assert launch.process.returncode == 0, output[-4000:]
    seeds = {tuple(line.split("SEED ")[1].split(" GIVEN ")) for line in launch.lines if "SEED " in line}
    assert len(seeds) == 1, output  # every worker got the chief's draw
    drawn, given = seeds.pop()
    assert drawn.isdigit() and given == "7", output  # a drawn seed when none is set; a set one kept
    assert output.count("AGREED") == 2
    refused = [line for line in launch.lines if "REFUSED" in line]
    assert len(refused) == 2 and all("the workers disagree on epochs done; start every worker with the same command"
                                     in line and "network params" not in line for line in refused), output
