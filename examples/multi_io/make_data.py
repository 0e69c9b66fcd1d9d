"""Writes train.jsonl and validation.jsonl for the multi-input, multi-output example.

Each record: an 8-value ``signal`` (a noisy sine of one of three frequencies), two
``meta`` values, the frequency class ``kind``, the amplitude ``size``, per-output
sample weights, and ``repeat`` (how many times the record appears per training epoch).
"""

import json
import sys

import numpy as np


def make(count: int, seed: int) -> list:
    rng = np.random.default_rng(seed)
    steps = np.linspace(0, 2 * np.pi, 8)
    records = []
    for _ in range(count):
        kind = int(rng.integers(0, 3))
        size = float(rng.uniform(0.5, 2.0))
        signal = size * np.sin((kind + 1) * steps + rng.uniform(0, 0.3)) + rng.normal(scale=0.05, size=8)
        records.append(
            {
                "signal": [round(float(v), 4) for v in signal],
                "offset": round(float(rng.normal()), 4),
                "scale": round(float(rng.uniform(0, 1)), 4),
                "kind": kind,
                "size": round(size, 4),
                "kind_weight": 2.0 if kind == 2 else 1.0,
                "size_weight": 1.0,
                "repeat": 2 if kind == 2 else 1,
            }
        )
    return records


def write(path: str, records: list) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record) + "\n")


if __name__ == "__main__":
    folder = sys.argv[1] if len(sys.argv) > 1 else "."
    write(f"{folder}/train.jsonl", make(400, seed=11))
    write(f"{folder}/validation.jsonl", make(120, seed=12))
