"""Start N training workers on this machine, each with its TF_CONFIG, and wait for them.

The plainest launcher of a multi-worker run: what Kubeflow, Vertex AI or Ray do across
machines, done with processes on 127.0.0.1. Each worker runs the same command; worker 0
is the chief and writes the artifact directory. Output lines are prefixed with the
worker's number. If one worker fails, the others notice within seconds (their
collective operations lose a peer) and exit too; any still running after ``--grace``
seconds are killed, so the launcher never hangs. Ctrl-C interrupts every worker and
kills any still running ``--grace`` seconds later (a second Ctrl-C kills them at once).

    python examples/distributed/launch_local.py --workers 2 -- \\
        barrage train examples/multi_io/config.json \\
        examples/multi_io/train.jsonl examples/multi_io/validation.jsonl -a runs/two-workers

Exit status: 0 when every worker succeeded, else the first failing worker's status.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from typing import List, Optional, Sequence


def free_ports(count: int) -> List[int]:
    """``count`` ports nobody listens on now (held open together so they differ)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for handle in sockets:
            handle.bind(("127.0.0.1", 0))
        return [handle.getsockname()[1] for handle in sockets]
    finally:
        for handle in sockets:
            handle.close()


def tf_config(ports: Sequence[int], index: int) -> str:
    """The TF_CONFIG of worker ``index`` in a cluster of workers on ``ports``."""
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    return json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})


def start(command: Sequence[str], ports: Sequence[int], index: int) -> subprocess.Popen:
    environment = {**os.environ, "TF_CONFIG": tf_config(ports, index)}
    return subprocess.Popen(list(command), env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)


def relay(process: subprocess.Popen, index: int) -> threading.Thread:
    """Copy a worker's output to ours, each line prefixed with its number."""

    def copy() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            sys.stdout.write(f"[worker {index}] {line}")
            sys.stdout.flush()

    thread = threading.Thread(target=copy, daemon=True)
    thread.start()
    return thread


def wait_all(processes: Sequence[subprocess.Popen], grace: float) -> int:
    """Wait for every worker; once one fails, give the others ``grace`` seconds."""
    deadline: Optional[float] = None
    while any(process.poll() is None for process in processes):
        if deadline is None and any(process.returncode not in (None, 0) for process in processes):
            deadline = time.monotonic() + grace
        if deadline is not None and time.monotonic() > deadline:
            stop(processes, signal.SIGKILL)
            break
        time.sleep(0.2)
    for process in processes:
        process.wait()
    return next((process.returncode for process in processes if process.returncode != 0), 0)


def stop(processes: Sequence[subprocess.Popen], signum: int) -> None:
    for process in processes:
        if process.poll() is None:
            try:
                os.killpg(process.pid, signum)
            except ProcessLookupError:
                pass


def wait_until_stopped(processes: Sequence[subprocess.Popen], grace: float) -> None:
    """Give interrupted workers up to ``grace`` seconds to exit; a second Ctrl-C stops the wait."""
    deadline = time.monotonic() + grace
    try:
        while time.monotonic() < deadline and any(process.poll() is None for process in processes):
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2, help="how many workers (default 2)")
    parser.add_argument("--grace", type=float, default=60.0,
                        help="seconds the others get to exit once a worker failed (default 60)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="the command every worker runs, after --")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command or args.workers < 1:
        parser.error("give --workers N (at least 1) and the command after --")
    ports = free_ports(args.workers)
    processes: List[subprocess.Popen] = []
    try:
        for index in range(args.workers):
            processes.append(start(command, ports, index))
            print(f"[launcher] worker {index} pid {processes[-1].pid}", flush=True)
        relays = [relay(process, index) for index, process in enumerate(processes)]
        status = wait_all(processes, args.grace)
        for thread in relays:
            thread.join(timeout=5)
        return status
    except KeyboardInterrupt:
        stop(processes, signal.SIGINT)  # let each worker stop its own run cleanly first
        wait_until_stopped(processes, args.grace)
        return 130
    finally:
        stop(processes, signal.SIGKILL)  # nothing outlives the launcher


if __name__ == "__main__":
    sys.exit(main())
