"""Time ``barrage components list`` against ``python -c "import tensorflow"``.

The registry must list components from entry-point metadata alone, without importing
TensorFlow, so listing should cost a small fraction of a TensorFlow import. Both commands
run as fresh subprocesses of the same interpreter, interleaved, in the same run (so both
see the same machine load and file cache); the script prints the median of each and their
ratio against the goal of at most one third.

    python benchmarks/components_list.py [--repeat 7] [--strict]

``--strict`` exits with status 1 when the goal is missed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Sequence

GOAL = 1 / 3


def barrage_command() -> List[str]:
    """The ``barrage`` console script installed beside the running interpreter."""
    script = Path(sys.executable).with_name("barrage")
    if not script.exists():
        raise SystemExit(f"no barrage console script next to {sys.executable}; install the project first")
    return [str(script), "components", "list"]


def run_once(command: Sequence[str]) -> float:
    """Wall-clock seconds of one run; a failing command stops the benchmark."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    start = time.perf_counter()
    done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr.decode()[-2000:]}")
    return elapsed


def measure(commands: Dict[str, Sequence[str]], repeat: int) -> Dict[str, List[float]]:
    """Run every command once to warm the file cache, then ``repeat`` interleaved rounds."""
    for command in commands.values():
        run_once(command)
    times: Dict[str, List[float]] = {label: [] for label in commands}
    for _ in range(repeat):
        for label, command in commands.items():
            times[label].append(run_once(command))
    return times


def main(argv: Sequence[str] = ()) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="timed runs of each command (default 7)")
    parser.add_argument("--strict", action="store_true", help="exit 1 if the ratio is above 1/3")
    args = parser.parse_args(list(argv))
    commands = {
        "barrage components list": barrage_command(),
        "python -c 'import tensorflow'": [sys.executable, "-c", "import tensorflow"],
    }
    times = measure(commands, max(1, args.repeat))
    medians = {label: statistics.median(values) for label, values in times.items()}
    width = max(len(label) for label in commands)
    print(f"median of {args.repeat} runs each (interpreter: {sys.executable})")
    for label, values in times.items():
        spread = f"min {min(values):.3f} s, max {max(values):.3f} s"
        print(f"  {label:<{width}}  {medians[label]:.3f} s  ({spread})")
    listing, tensorflow = medians.values()
    ratio = listing / tensorflow
    verdict = "meets" if ratio <= GOAL else "MISSES"
    print(f"ratio: {ratio:.3f} ({verdict} the goal of at most {GOAL:.3f})")
    return 1 if args.strict and ratio > GOAL else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
