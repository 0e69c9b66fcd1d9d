"""The cost of distribution on one machine: time per epoch in one process, with
``MirroredStrategy`` over 2 logical CPU devices, and with 2 workers on 127.0.0.1.

Usage (from the repository root)::

    .venv/bin/python benchmarks/distributed.py [--records 100000] [--epochs 4]

Each configuration trains the network of ``train_score.py`` (16 float features, batch 256
global) on the same Parquet file through the Python API, in fresh processes (a strategy
must be set up before TensorFlow starts); a Keras callback registered by a hook plugin
stamps the end of every epoch, and the median time of the epochs after the first (which
traces the step) is printed with its ratio to one process. On a 2-core CPU machine no
speed-up is possible: the ratios are the overhead of splitting every batch and of the
collective operations, to be repaid only by more devices or machines.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any, Dict, List, Optional

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from benchmarks.train_score import barrage_config, make_frame  # noqa: E402

LAUNCHER = os.path.join(ROOT, "examples", "distributed", "launch_local.py")
SETUPS = [("1 process", "off", 1), ("mirrored, 2 logical CPUs", "mirrored", 1), ("2 workers", "multi-worker", 2)]


def child(distribute: str, data: str, validation: str, folder: str, epochs: int) -> None:
    """One training process: prints the end time of every epoch as JSON."""
    import keras

    from barrage import BarrageModel, hookimpl
    from barrage.distribute import choose_distribution
    from barrage.runtime import Runtime

    distribution = choose_distribution(distribute, 2 if distribute == "mirrored" else None)
    stamps: List[float] = []

    class Stamp(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            stamps.append(time.perf_counter())

    class Timer:
        @hookimpl
        def barrage_callbacks(self, context: Any) -> List[Any]:
            return [Stamp()]

    runtime = Runtime()
    runtime.register_plugin(Timer(), "timer")
    config = barrage_config(epochs)
    config["services"] = {"tensorboard": None}
    start = time.perf_counter()
    BarrageModel(os.path.join(folder, f"run-{distribute}"), runtime).train(
        config, data, validation, verbose=0, distribute=distribution)
    print(json.dumps({"start": start, "epochs": stamps, "chief": distribution.is_chief}))


def measure(distribute: str, workers: int, data: str, validation: str, folder: str, epochs: int) -> Dict[str, Any]:
    command = [sys.executable, os.path.abspath(__file__), "--child", distribute, data, validation,
               os.path.join(folder, distribute), str(epochs)]
    env = {**os.environ, "BARRAGE_DISABLE_PLUGINS": "mlflow"}
    if workers > 1:
        command = [sys.executable, LAUNCHER, "--workers", str(workers), "--", *command]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=1800)
    reports = [json.loads(line.split("] ", 1)[-1]) for line in done.stdout.splitlines() if line.rstrip().endswith("}")]
    chief = next((report for report in reports if report["chief"]), None)
    if done.returncode != 0 or chief is None:
        raise SystemExit(f"{distribute} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    stamps = chief["epochs"]
    return {"first": stamps[0] - chief["start"], "epoch": statistics.median(b - a for a, b in zip(stamps, stamps[1:]))}


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        distribute, data, validation, folder, epochs = args.child
        child(distribute, data, validation, folder, int(epochs))
        return
    with tempfile.TemporaryDirectory(prefix="barrage-distributed-") as folder:
        data, validation = os.path.join(folder, "train.parquet"), os.path.join(folder, "validation.parquet")
        make_frame(args.records, 1).to_parquet(data)
        make_frame(args.records // 5, 2).to_parquet(validation)
        results = {}
        for label, distribute, workers in SETUPS:
            results[label] = measure(distribute, workers, data, validation, folder, args.epochs)
            print(f"  {label:26s} first epoch {results[label]['first']:6.2f} s (with start-up and tracing), "
                  f"then {results[label]['epoch']:6.2f} s per epoch", flush=True)
        single = results[SETUPS[0][0]]["epoch"]
        for label, _, _ in SETUPS[1:]:
            print(f"distributed ({args.records:,} records, batch 256 global, median of epochs 2-{args.epochs}): "
                  f"{label} / 1 process = {results[label]['epoch'] / single:.2f} per epoch "
                  f"(overhead on one 2-core machine; no speed-up expected)")


if __name__ == "__main__":
    main()
