"""Barrage against hand-written Keras: training and scoring time, parallel loading, memory.

Usage (from the repository root)::

    .venv/bin/python benchmarks/train_score.py --part all
    .venv/bin/python benchmarks/train_score.py --part train --rounds 5 --input dicts
    .venv/bin/python benchmarks/train_score.py --part workers
    .venv/bin/python benchmarks/train_score.py --part memory

Parts:

* ``train``: 100,000 in-memory records of 16 float features and a binary label, trained
  3 epochs at batch 256 and then scored, through Barrage (KeySelector,
  IdentityTransformer, no augmentation, default services) and through the hand-written
  baseline of ``keras_baseline.py``, alternating the two (the first of each pair
  alternates too). Both are seeded the same way (Barrage's ``dataset.seed``; the
  baseline calls what a seeded Barrage run calls). Barrage is handed a DataFrame
  (``--input dicts``: a list of dicts, so the time includes turning 100,000 dicts into
  columns) and the baseline the same values as NumPy arrays. Training time covers
  everything from the records to the trained model (config checks, artifact files,
  network build, ``fit``); scoring time covers ``BarrageModel.predict`` down to the
  list of per-record score dicts, against ``model.predict`` on NumPy. Prints the
  medians and the ratios Barrage / Keras. For reference it also times the leanest
  hand-written variant, ``fit`` straight on NumPy arrays (Keras shuffles indices
  instead of filling a 100,000-element shuffle buffer).
* ``workers``: a per-record loader costing 1 ms a record (``slow_loader.SleepyLoader``,
  named by Python path as a user's loader would be), 5,000 records, 1 epoch, with
  ``dataset.workers`` 1 and 2. Prints the speed-up.
* ``memory``: 1,000,000 records of 16 float columns (a DataFrame), 1 epoch, each side in
  its own subprocess; prints every child's peak RSS and the ratios.

Timings are wall-clock medians; the machine may be shared, so read them as such.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# the engine is measured, not an installed tracking plugin (its runs would fill mlflow.db)
os.environ.setdefault("BARRAGE_DISABLE_PLUGINS", "mlflow")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from benchmarks import keras_baseline  # noqa: E402

FEATURES = 16
SEED = 7
BATCH_SIZE = 256
FEATURE_KEYS = [f"f{i}" for i in range(FEATURES)]


# -- data and config ------------------------------------------------------------------


def make_frame(count: int, seed: int) -> pd.DataFrame:
    """``count`` records of ``f0..f15`` (float64 columns) and an integer ``label`` (0/1)."""
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(count, FEATURES))
    direction = np.linspace(-1.0, 1.0, FEATURES)
    label = (values @ direction + 0.5 * rng.normal(size=count) > 0).astype(np.int64)
    frame = pd.DataFrame({key: values[:, i] for i, key in enumerate(FEATURE_KEYS)})
    frame["label"] = label
    return frame


def as_arrays(frame: pd.DataFrame) -> Tuple[np.ndarray, np.ndarray]:
    """The baseline's NumPy view of the same records: float32 features, int64 labels."""
    return frame[FEATURE_KEYS].to_numpy(dtype=np.float32), frame["label"].to_numpy()


def barrage_config(
    epochs: int, loader: Optional[Dict[str, Any]] = None, workers: Optional[int] = None
) -> Dict[str, Any]:
    """The baseline's network, loss and optimizer as a Barrage config (default services)."""
    loader = loader or {
        "import": "KeySelector",
        "params": {"inputs": {"features": FEATURE_KEYS}, "outputs": {"label": "label"}},
    }
    layers = [
        {"import": "Dense", "params": {"units": units, "activation": "relu"}} for units in keras_baseline.HIDDEN_UNITS
    ]
    layers.append({"import": "Dense", "params": {"units": 1, "activation": "sigmoid"}})
    return {
        "dataset": {
            "loader": loader,
            "transformer": {"import": "IdentityTransformer"},
            "seed": SEED,
            "workers": workers,
        },
        "model": {
            "network": {
                "import": "sequential_from_config",
                "params": {"inputs": {"features": [FEATURES]}, "output": "label", "layers": layers},
            },
            "outputs": [
                {
                    "name": "label",
                    "loss": {"import": "binary_crossentropy"},
                    "metrics": [{"import": "binary_accuracy"}],
                }
            ],
        },
        "solver": {
            "optimizer": {"import": "Adam", "learning_rate": 1e-3},
            "batch_size": BATCH_SIZE,
            "epochs": epochs,
        },
    }


def timed(function: Callable[[], Any]) -> Tuple[float, Any]:
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def median(values: List[float]) -> float:
    return statistics.median(values)


def fresh_dir(parent: str, name: str) -> str:
    path = os.path.join(parent, name)
    shutil.rmtree(path, ignore_errors=True)
    return path


# -- part (a): training and scoring ----------------------------------------------------


def part_train(rounds: int, count: int, epochs: int, score_repeats: int, source: str) -> Dict[str, float]:
    """Training and scoring, Barrage and Keras alternating; Barrage reads ``source``
    ("frame": a DataFrame, "dicts": a list of dicts) and Keras the same values as NumPy."""
    from barrage.engine import BarrageModel

    train_frame = make_frame(count, seed=1)
    validation_frame = make_frame(count // 5, seed=2)
    x, y = as_arrays(train_frame)
    x_validation, y_validation = as_arrays(validation_frame)
    if source == "dicts":
        train_records: Any = train_frame.to_dict("records")
        validation_records: Any = validation_frame.to_dict("records")
    else:
        train_records, validation_records = train_frame, validation_frame
    config = barrage_config(epochs)

    def barrage_train(directory: str) -> Tuple[float, Callable[[], Any]]:
        model = BarrageModel(directory)
        train_time, _ = timed(lambda: model.train(config, train_records, validation_records, verbose=0))

        def score() -> None:
            scores = model.predict(train_records)
            assert len(scores) == count and set(scores[0]) == {"label"}

        return train_time, score

    def keras_train(directory: str) -> Tuple[float, Callable[[], Any]]:
        train_time, network = timed(
            lambda: keras_baseline.train(x, y, x_validation, y_validation, directory, epochs, BATCH_SIZE, SEED)
        )

        def score() -> None:
            outputs = network.predict({"features": x}, batch_size=BATCH_SIZE, verbose=0)
            assert len(outputs["label"]) == count

        return train_time, score

    def arrays_train(directory: str) -> Tuple[float, Callable[[], Any]]:
        train_time, _ = timed(
            lambda: keras_baseline.train_arrays(x, y, x_validation, y_validation, directory, epochs, BATCH_SIZE, SEED)
        )
        return train_time, lambda: None

    times: Dict[str, Dict[str, List[float]]] = {
        name: {"train": [], "score": []} for name in ("barrage", "keras", "keras-arrays")
    }
    with tempfile.TemporaryDirectory(prefix="barrage-bench-") as parent:
        # warm-up: first-use costs (imports, registry, tracing machinery) are not the subject
        small = make_frame(2 * BATCH_SIZE, seed=3)
        BarrageModel(fresh_dir(parent, "warm-barrage")).train(barrage_config(1), small, small, verbose=0)
        sx, sy = as_arrays(small)
        keras_baseline.train(sx, sy, sx, sy, fresh_dir(parent, "warm-keras"), 1, BATCH_SIZE, SEED)
        keras_baseline.train_arrays(sx, sy, sx, sy, fresh_dir(parent, "warm-arrays"), 1, BATCH_SIZE, SEED)
        sides = [("barrage", barrage_train), ("keras", keras_train), ("keras-arrays", arrays_train)]
        for round_number in range(rounds):
            # alternate which side goes first; score the two trained models in turns too,
            # so that load from other processes falls on both sides alike
            order = sides if round_number % 2 == 0 else sides[::-1]
            scorers = {}
            for name, train in order:
                train_time, scorers[name] = train(fresh_dir(parent, f"{name}-{round_number}"))
                times[name]["train"].append(train_time)
            for _ in range(score_repeats):
                for name, _train in order:
                    if name != "keras-arrays":  # it scores exactly as "keras" does
                        times[name]["score"].append(timed(scorers[name])[0])
            print(
                f"  round {round_number + 1}: "
                + "   ".join(
                    f"{name} train {times[name]['train'][-1]:5.2f} s"
                    + (", score " + " ".join(f"{t:.2f}" for t in times[name]["score"][-score_repeats:]))
                    * (name != "keras-arrays")
                    for name, _train in order
                ),
                flush=True,
            )
    result = {
        "train_barrage_s": median(times["barrage"]["train"]),
        "train_keras_s": median(times["keras"]["train"]),
        "score_barrage_s": median(times["barrage"]["score"]),
        "score_keras_s": median(times["keras"]["score"]),
        "train_keras_arrays_s": median(times["keras-arrays"]["train"]),
    }
    result["train_ratio"] = result["train_barrage_s"] / result["train_keras_s"]
    result["score_ratio"] = result["score_barrage_s"] / result["score_keras_s"]
    print(
        f"train ({count:,} records from a {'DataFrame' if source == 'frame' else 'list of dicts'}, {epochs} epochs, "
        f"batch {BATCH_SIZE}, median of {rounds}): "
        f"Barrage {result['train_barrage_s']:.2f} s, Keras {result['train_keras_s']:.2f} s, "
        f"ratio {result['train_ratio']:.3f} (goal <= 1.00)"
    )
    lean = result["train_barrage_s"] / result["train_keras_arrays_s"]
    print(
        f"train, for reference: Keras fit on NumPy arrays (no tf.data shuffle buffer) "
        f"{result['train_keras_arrays_s']:.2f} s, Barrage / that {lean:.3f}"
    )
    print(
        f"score ({count:,} records, median of {rounds * score_repeats}): "
        f"Barrage predict {result['score_barrage_s']:.2f} s, "
        f"model.predict {result['score_keras_s']:.2f} s, ratio {result['score_ratio']:.3f} (goal <= 1.25)"
    )
    return result


# -- part (b): parallel per-record loading ----------------------------------------------


def part_workers(rounds: int, count: int) -> Dict[str, float]:
    """Training with a 1 ms-per-record loader, ``dataset.workers`` 1 and 2, alternating."""
    from barrage.engine import BarrageModel

    train_records = make_frame(count, seed=4).to_dict("records")
    validation_records = make_frame(count // 10, seed=5).to_dict("records")
    loader = {
        "import": "benchmarks.slow_loader.SleepyLoader",
        "params": {"keys": FEATURE_KEYS, "label": "label", "delay": 0.001},
    }
    times: Dict[int, List[float]] = {1: [], 2: []}
    with tempfile.TemporaryDirectory(prefix="barrage-bench-") as parent:
        for round_number in range(rounds):
            order = (1, 2) if round_number % 2 == 0 else (2, 1)
            for workers in order:
                model = BarrageModel(fresh_dir(parent, f"workers-{workers}-{round_number}"))
                config = barrage_config(1, loader=loader, workers=workers)
                elapsed, _ = timed(lambda: model.train(config, train_records, validation_records, verbose=0))
                times[workers].append(elapsed)
                print(f"  round {round_number + 1} workers={workers} train {elapsed:6.2f} s", flush=True)
    one, two = median(times[1]), median(times[2])
    loading = (count + count // 10) * 0.001
    print(
        f"workers ({count:,} training + {count // 10:,} validation records at 1 ms each = {loading:.1f} s of "
        f"loading, 1 epoch, median of {rounds}): 1 worker {one:.2f} s, 2 workers {two:.2f} s, "
        f"speed-up {one / two:.2f}x"
    )
    return {"workers_1_s": one, "workers_2_s": two, "speedup": one / two}


# -- part (c): peak memory, one subprocess per side -------------------------------------


def current_rss_mib() -> float:
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def child_memory(side: str, count: int) -> None:
    """Runs in a subprocess: train one epoch on ``count`` records, print peak RSS as JSON."""
    import tensorflow as tf  # noqa: F401  (imported before measuring the data's share)

    frame = make_frame(count, seed=6)
    validation = make_frame(10_000, seed=8)
    before = current_rss_mib()
    built_dicts = 0
    with tempfile.TemporaryDirectory(prefix="barrage-bench-") as parent:
        directory = os.path.join(parent, "run")
        start = time.perf_counter()
        if side == "barrage":
            from barrage import records as records_module
            from barrage.engine import BarrageModel

            getitem = records_module.RecordTable.__getitem__

            def counting_getitem(self: Any, index: Any) -> Any:
                nonlocal built_dicts
                built_dicts += 1
                return getitem(self, index)

            records_module.RecordTable.__getitem__ = counting_getitem
            BarrageModel(directory).train(barrage_config(1), frame, validation, verbose=0)
        else:
            x, y = as_arrays(frame)
            x_validation, y_validation = as_arrays(validation)
            del frame
            if side == "keras-tfdata":
                keras_baseline.train(x, y, x_validation, y_validation, directory, 1, BATCH_SIZE, SEED)
            else:
                keras_baseline.train_arrays(x, y, x_validation, y_validation, directory, 1, BATCH_SIZE, SEED)
        elapsed = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    report = {"side": side, "peak_mib": peak, "before_mib": before, "seconds": elapsed, "record_dicts": built_dicts}
    print(json.dumps(report))


def part_memory(count: int) -> Dict[str, float]:
    peaks: Dict[str, Dict[str, float]] = {}
    for side in ("barrage", "keras-tfdata", "keras-arrays"):
        command = [sys.executable, os.path.abspath(__file__), "--child", side, "--records", str(count)]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
        if done.returncode != 0 or not lines:
            raise SystemExit(f"memory child {side} failed:\n{done.stderr[-4000:]}")
        peaks[side] = json.loads(lines[-1])
        info = peaks[side]
        extra = f", per-record dicts built: {info['record_dicts']}" if side == "barrage" else ""
        print(
            f"  {side:13s} peak RSS {info['peak_mib']:7.0f} MiB (after data + imports {info['before_mib']:5.0f} MiB), "
            f"{info['seconds']:.1f} s{extra}",
            flush=True,
        )
    ratio = peaks["barrage"]["peak_mib"] / peaks["keras-tfdata"]["peak_mib"]
    lean = peaks["barrage"]["peak_mib"] / peaks["keras-arrays"]["peak_mib"]
    print(
        f"memory ({count:,} records x {FEATURES} floats, 1 epoch): peak RSS Barrage / Keras tf.data "
        f"{ratio:.2f}, Barrage / Keras fit-on-arrays {lean:.2f} (goal <= 2)"
    )
    return {"ratio_tfdata": ratio, "ratio_arrays": lean}


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=("train", "workers", "memory", "all"), default="all")
    parser.add_argument("--rounds", type=int, default=5, help="rounds per side (medians are printed)")
    parser.add_argument("--score-repeats", type=int, default=3, help="scoring runs per round of the train part")
    parser.add_argument(
        "--input", choices=("frame", "dicts"), default="frame",
        help="how the train part hands Barrage its records: a DataFrame or a list of dicts",
    )
    parser.add_argument("--records", type=int, default=None, help="override the part's record count")
    parser.add_argument("--epochs", type=int, default=3, help="epochs of the train part")
    parser.add_argument("--child", choices=("barrage", "keras-tfdata", "keras-arrays"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child_memory(args.child, args.records or 1_000_000)
        return
    if args.part in ("train", "all"):
        part_train(args.rounds, args.records or 100_000, args.epochs, args.score_repeats, args.input)
    if args.part in ("workers", "all"):
        part_workers(min(args.rounds, 3), args.records or 5_000)
    if args.part in ("memory", "all"):
        part_memory(args.records or 1_000_000)


if __name__ == "__main__":
    main()
