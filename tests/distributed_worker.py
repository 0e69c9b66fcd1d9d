"""One worker of a multi-worker test run (started by ``tests/test_distributed.py`` through
``examples/distributed/launch_local.py``): trains through the Python API and writes what
the test compares across workers: its final weights' digest, its history, its role.

    python tests/distributed_worker.py CONFIG TRAIN VALIDATION ARTIFACT_DIR REPORT_FOLDER
"""

from __future__ import annotations

import hashlib
import json
import os
import sys

from barrage import BarrageModel
from barrage.config import load_config_file


def main() -> None:
    config_path, train, validation, artifact_dir, reports = sys.argv[1:6]
    model = BarrageModel(artifact_dir)
    network = model.train(load_config_file(config_path), train, validation, verbose=0, distribute="multi-worker")
    digest = hashlib.sha256(b"".join(weights.tobytes() for weights in network.get_weights())).hexdigest()
    task = json.loads(os.environ["TF_CONFIG"])["task"]
    report = {"chief": model.is_chief, "weights": digest, "history": model.history.history,
              "temporary": os.environ.get("TMPDIR")}
    with open(os.path.join(reports, f"worker-{task['index']}.json"), "w", encoding="utf-8") as handle:
        json.dump(report, handle)


if __name__ == "__main__":
    main()
