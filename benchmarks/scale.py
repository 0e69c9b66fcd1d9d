"""Data at scale: streamed scoring and training, list-of-dicts input, scoring to a file.

Usage (from the repository root)::

    .venv/bin/python benchmarks/scale.py --part all
    .venv/bin/python benchmarks/scale.py --part score-stream --rows 2000000 8000000
    .venv/bin/python benchmarks/scale.py --part train-stream --rows 2500000 5000000
    .venv/bin/python benchmarks/scale.py --part dicts
    .venv/bin/python benchmarks/scale.py --part score-file

Parts (each an A/B in one run; every figure is printed with its goal):

* ``score-stream``: Parquet files of 2M and 8M records (16 float features, row groups of
  65,536) scored into Parquet by ``barrage score``'s code (``BarrageModel.score_file``)
  and by hand-written code with the same network (``pyarrow`` reading the same batches
  with ``iter_batches``, ``model.predict``, a ``ParquetWriter``). Each run is a
  subprocess of its own, so peak RSS is the run's. Goals: Barrage's 8M peak within 1.15x
  of its 2M peak; Barrage's time within 1.10x of the hand-written code's.
* ``train-stream``: Parquet files of 2.5M and 5M records, 1 epoch at batch 1,024 (the
  network of ``train_score.py``), streamed (``dataset.streaming: true``) and in memory
  (``false``: the columns path), each in a subprocess. Goals: streamed peak RSS flat
  between the two sizes (within 1.15x); streamed throughput at least 0.90x of in memory.
* ``dicts``: 100,000 records as a list of dicts and as a DataFrame, trained 1 epoch and
  scored, alternating. Goal: dicts within 1.10x of the DataFrame for both. Also printed:
  the time to turn the dicts into a float matrix, by the C extension
  (``barrage.records._speedups``, where built) and by the pure-Python gather.
* ``score-file``: 100,000 in-memory records scored into ``.parquet`` and ``.csv`` by
  ``BarrageModel.score_file`` against ``model.predict`` plus a pandas write
  (``to_parquet``, ``to_csv``), alternating. Goal: within 1.10x.

Timings are wall-clock on a possibly shared machine; read them as such. The alternating
parts run their two sides back to back, round after round, and report the median of the
rounds' ratios (each taken between two runs a moment apart, so that the machine's slow
swings in speed touch both sides of it alike) beside each side's median time. Scoring
rounds (``--score-rounds``) are cheap and many by default: on a 2-core machine one
``model.predict`` of 100,000 records varies by 1.5x from call to call, far more than
the difference measured, and a median of 5 ratios would mostly measure that.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable, Dict, List, Optional
from unittest import mock

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# the engine is measured, not an installed tracking plugin (its runs would fill mlflow.db)
os.environ.setdefault("BARRAGE_DISABLE_PLUGINS", "mlflow")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from benchmarks.train_score import (  # noqa: E402
    BATCH_SIZE, FEATURE_KEYS, barrage_config, fresh_dir, make_frame, median, timed,
)

ROW_GROUP = 65_536
SCORE_BATCH = 4096
TRAIN_BATCH = 1024
WRITE_ROWS = 500_000  # rows generated at a time when writing a large file


# -- data ---------------------------------------------------------------------------------


def write_parquet(path: str, rows: int, seed: int) -> str:
    """``rows`` records of ``make_frame``'s kind, written a slice at a time (so that writing
    an 8M-row file does not hold it in memory)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    if os.path.exists(path):
        return path
    writer = None
    for start in range(0, rows, WRITE_ROWS):
        table = pa.Table.from_pandas(make_frame(min(WRITE_ROWS, rows - start), seed + start), preserve_index=False)
        if writer is None:
            writer = pq.ParquetWriter(path + ".part", table.schema)
        writer.write_table(table, row_group_size=ROW_GROUP)
    assert writer is not None
    writer.close()
    os.replace(path + ".part", path)
    return path


def trained_model(folder: str) -> str:
    """A small trained Barrage model (the network of ``train_score.py``), its directory."""
    from barrage import BarrageModel

    directory = os.path.join(folder, "model")
    if not os.path.isdir(directory):
        config = barrage_config(1)
        config["services"] = {"tensorboard": None}
        BarrageModel(directory).train(config, make_frame(20_000, 1), make_frame(2_000, 2), verbose=0)
    return directory


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def in_child(*args: str) -> Dict[str, Any]:
    """Run this script's ``--child`` with ``args``; its JSON report."""
    command = [sys.executable, os.path.abspath(__file__), "--child", *args]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise SystemExit(f"child {' '.join(args)} failed:\n{done.stderr[-4000:]}")
    return json.loads(lines[-1])


# -- children: one measured run each ------------------------------------------------------------


def child_score(side: str, model_dir: str, data: str, output: str) -> Dict[str, Any]:
    from barrage import BarrageModel

    model = BarrageModel(model_dir).load()
    if os.path.exists(output):
        os.unlink(output)
    start = time.perf_counter()
    if side == "barrage":
        count = model.score_file(data, output, batch_size=SCORE_BATCH)
    else:
        count = hand_written_scoring(model.network, data, output)
    return {"seconds": time.perf_counter() - start, "peak_mib": peak_mib(), "records": count}


def hand_written_scoring(network: Any, data: str, output: str) -> int:
    """What a careful user writes: read batches with pyarrow, predict, write with pyarrow."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    writer, count = None, 0
    for batch in pq.ParquetFile(data, pre_buffer=False).iter_batches(batch_size=ROW_GROUP, columns=FEATURE_KEYS):
        features = np.stack([batch.column(key).to_numpy() for key in FEATURE_KEYS], axis=1).astype(np.float32)
        scores = network.predict({"features": features}, batch_size=SCORE_BATCH, verbose=0)["label"]
        table = pa.table({"label": pa.FixedSizeListArray.from_arrays(pa.array(scores.ravel()), scores.shape[1])})
        if writer is None:
            writer = pq.ParquetWriter(output, table.schema)
        writer.write_table(table)
        count += len(features)
    assert writer is not None
    writer.close()
    return count


def child_train(streaming: str, train: str, validation: str, folder: str) -> Dict[str, Any]:
    from barrage import BarrageModel

    config = barrage_config(1)
    config["dataset"]["streaming"] = streaming == "stream"
    config["solver"]["batch_size"] = TRAIN_BATCH
    config["services"] = {"tensorboard": None}
    import pyarrow.parquet as pq

    rows = pq.ParquetFile(train).metadata.num_rows
    start = time.perf_counter()
    BarrageModel(fresh_dir(folder, f"train-{streaming}")).train(config, train, validation, verbose=0)
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "peak_mib": peak_mib(), "records": rows, "records_per_s": rows / seconds}


# -- parts --------------------------------------------------------------------------------------


def part_score_stream(folder: str, sizes: List[int]) -> None:
    model_dir = trained_model(folder)
    results: Dict[str, Dict[int, Dict[str, Any]]] = {"barrage": {}, "hand-written": {}}
    for rows in sizes:
        data = write_parquet(os.path.join(folder, f"score-{rows}.parquet"), rows, seed=100)
        for side in ("hand-written", "barrage") if rows % 2 else ("barrage", "hand-written"):
            report = in_child("score", side, model_dir, data, os.path.join(folder, f"scores-{side}.parquet"))
            results[side][rows] = report
            print(f"  score {rows:>10,} rows  {side:12s} {report['seconds']:6.1f} s  peak RSS "
                  f"{report['peak_mib']:6.0f} MiB", flush=True)
    small, large = sizes[0], sizes[-1]
    growth = results["barrage"][large]["peak_mib"] / results["barrage"][small]["peak_mib"]
    print(f"score-stream memory: Barrage peak RSS {large:,} rows / {small:,} rows = {growth:.3f} (goal <= 1.15)")
    for rows in sizes:
        ratio = results["barrage"][rows]["seconds"] / results["hand-written"][rows]["seconds"]
        print(f"score-stream time ({rows:,} rows): Barrage / hand-written pyarrow + predict + ParquetWriter = "
              f"{ratio:.3f} (goal <= 1.10)")


def part_train_stream(folder: str, sizes: List[int]) -> None:
    validation = write_parquet(os.path.join(folder, "validation.parquet"), 20_000, seed=7)
    results: Dict[str, Dict[int, Dict[str, Any]]] = {"stream": {}, "memory": {}}
    for rows in sizes:
        train = write_parquet(os.path.join(folder, f"train-{rows}.parquet"), rows, seed=200)
        for side in ("stream", "memory") if rows % 2 else ("memory", "stream"):
            report = in_child("train", side, train, validation, folder)
            results[side][rows] = report
            print(f"  train {rows:>10,} rows  {side:6s} {report['seconds']:6.1f} s  "
                  f"{report['records_per_s']:9,.0f} records/s  peak RSS {report['peak_mib']:6.0f} MiB", flush=True)
    small, large = sizes[0], sizes[-1]
    growth = results["stream"][large]["peak_mib"] / results["stream"][small]["peak_mib"]
    memory_growth = results["memory"][large]["peak_mib"] / results["memory"][small]["peak_mib"]
    print(f"train-stream memory: streamed peak RSS {large:,} rows / {small:,} rows = {growth:.3f} (goal <= 1.15); "
          f"in memory, for reference: {memory_growth:.3f}")
    for rows in sizes:
        ratio = results["stream"][rows]["records_per_s"] / results["memory"][rows]["records_per_s"]
        print(f"train-stream throughput ({rows:,} rows, 1 epoch, batch {TRAIN_BATCH}): streamed / in memory = "
              f"{ratio:.3f} (goal >= 0.90)")


def alternating(rounds: int, sides: Dict[str, Callable[[], Any]]) -> Dict[str, float]:
    """Median seconds of each of two sides run in turns (which goes first alternates),
    and under ``"ratio"`` the median over the rounds of the first side's time over the
    second's."""
    times: Dict[str, List[float]] = {name: [] for name in sides}
    first, second = names = list(sides)
    for number in range(rounds):
        for name in names if number % 2 == 0 else names[::-1]:
            times[name].append(timed(sides[name])[0])
    ratios = [a / b for a, b in zip(times[first], times[second])]
    return {**{name: median(values) for name, values in times.items()}, "ratio": median(ratios)}


def part_dicts(folder: str, rounds: int, score_rounds: int, count: int) -> None:
    from barrage import BarrageModel
    from barrage.records import table as record_table

    frame, validation = make_frame(count, 1), make_frame(count // 5, 2)
    dicts, validation_dicts = frame.to_dict("records"), validation.to_dict("records")
    config = barrage_config(1)
    config["services"] = {"tensorboard": None}
    BarrageModel(fresh_dir(folder, "warm")).train(config, frame[:512], frame[:512], verbose=0)
    runs = {"frame": 0, "dicts": 0}

    def train(name: str, records: Any, held_out: Any) -> Callable[[], Any]:
        def run() -> None:
            runs[name] += 1
            BarrageModel(fresh_dir(folder, f"dicts-{name}-{runs[name]}")).train(config, records, held_out, verbose=0)
        return run

    trained = alternating(rounds, {"dicts": train("dicts", dicts, validation_dicts),
                                   "frame": train("frame", frame, validation)})
    model = BarrageModel(os.path.join(folder, "dicts-frame-1")).load()
    model.predict(frame[:1000])  # warm-up
    scored = alternating(score_rounds, {"dicts": lambda: model.predict(dicts), "frame": lambda: model.predict(frame)})
    for what, times, number in (("train (1 epoch)", trained, rounds), ("score (predict)", scored, score_rounds)):
        print(f"dicts {what}, {count:,} records, medians of {number}: list of dicts {times['dicts']:.2f} s, "
              f"DataFrame {times['frame']:.2f} s, ratio {times['ratio']:.3f} (goal <= 1.10)")

    def gather() -> float:
        return median([timed(lambda: record_table.RowStore(dicts, "dicts").float_matrix(FEATURE_KEYS))[0]
                       for _ in range(score_rounds)])

    with_c = f"{gather() * 1000:.1f} ms" if record_table._c_float_rows is not None else "not built"
    with mock.patch.object(record_table, "_c_float_rows", None):
        python = gather()
    print(f"dicts to a float matrix ({count:,} x {len(FEATURE_KEYS)}), medians of {score_rounds}: "
          f"C extension {with_c}, pure Python {python * 1000:.1f} ms")


def part_score_file(folder: str, rounds: int, count: int) -> None:
    from barrage import BarrageModel

    model = BarrageModel(trained_model(folder)).load()
    frame = make_frame(count, 3).drop(columns=["label"])
    model.predict(frame[:1000])  # warm-up

    def barrage(extension: str) -> Callable[[], Any]:
        return lambda: model.score_file(frame, os.path.join(folder, f"barrage{extension}"), overwrite=True)

    def by_hand(extension: str) -> Callable[[], Any]:
        def run() -> None:
            features = frame[FEATURE_KEYS].to_numpy(dtype=np.float32)
            scores = model.network.predict({"features": features}, batch_size=BATCH_SIZE, verbose=0)["label"]
            table = pd.DataFrame({"label": scores[:, 0]})
            path = os.path.join(folder, f"by-hand{extension}")
            table.to_parquet(path) if extension == ".parquet" else table.to_csv(path, index=False)
        return run

    for extension in (".parquet", ".csv"):
        times = alternating(rounds, {"barrage": barrage(extension), "by-hand": by_hand(extension)})
        print(f"score-file {extension} ({count:,} in-memory records, medians of {rounds}): "
              f"Barrage score_file {times['barrage']:.2f} s, model.predict + pandas {times['by-hand']:.2f} s, "
              f"ratio {times['ratio']:.3f} (goal <= 1.10)")


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=("score-stream", "train-stream", "dicts", "score-file", "all"),
                        default="all")
    parser.add_argument("--rows", type=int, nargs=2, default=None, help="the two file sizes of a stream part")
    parser.add_argument("--records", type=int, default=100_000, help="records of the dicts and score-file parts")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of the alternating training (medians)")
    parser.add_argument("--score-rounds", type=int, default=25,
                        help="rounds of the alternating scoring, dicts and score-file (medians)")
    parser.add_argument("--folder", default=None, help="keep the generated files here (reused when present)")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        kind, *rest = args.child
        report = child_score(*rest) if kind == "score" else child_train(*rest)
        print(json.dumps(report))
        return
    with tempfile.TemporaryDirectory(prefix="barrage-scale-") as temporary:
        folder = args.folder or temporary
        os.makedirs(folder, exist_ok=True)
        if args.part in ("score-stream", "all"):
            part_score_stream(folder, args.rows or [2_000_000, 8_000_000])
        if args.part in ("train-stream", "all"):
            part_train_stream(folder, args.rows or [2_500_000, 5_000_000])
        if args.part in ("dicts", "all"):
            part_dicts(folder, args.rounds, args.score_rounds, args.records)
        if args.part in ("score-file", "all"):
            part_score_file(folder, args.score_rounds, args.records)


if __name__ == "__main__":
    main()
