"""The artifact directory: where a run's files live and how they are written.

Everything is plain and human-readable (JSON, CSV, HDF5 weights, TensorBoard events);
nothing is pickled, so loading a shared artifact directory cannot run code. JSON files
are written atomically (temporary file, then rename).
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import tempfile
from typing import Any, Dict, Iterator, List, Optional, TextIO

import attrs

from barrage.errors import ArtifactError

CONFIG = "config.json"
NETWORK_PARAMS = "network_params.json"
ENVIRONMENT = "environment.json"
REPORT = "training_report.csv"
BEST_CHECKPOINT = "best_checkpoint"
BEST_WEIGHTS = "model.weights.h5"
RESUME_CHECKPOINTS = "resume_checkpoints"
TENSORBOARD = "TensorBoard"
DATASET = "dataset"


@attrs.frozen
class ArtifactLayout:
    """The paths inside one artifact directory."""

    root: str

    def path(self, *parts: str) -> str:
        return os.path.join(self.root, *parts)

    @property
    def config(self) -> str:
        return self.path(CONFIG)

    @property
    def network_params(self) -> str:
        return self.path(NETWORK_PARAMS)

    @property
    def environment(self) -> str:
        return self.path(ENVIRONMENT)

    @property
    def report(self) -> str:
        return self.path(REPORT)

    @property
    def best_weights(self) -> str:
        return self.path(BEST_CHECKPOINT, BEST_WEIGHTS)

    @property
    def resume_dir(self) -> str:
        return self.path(RESUME_CHECKPOINTS)

    @property
    def resume_metadata(self) -> str:
        """Where ``BackupAndRestore`` records the epoch a resumed run starts from."""
        return self.path(RESUME_CHECKPOINTS, "training_metadata.json")

    @property
    def tensorboard_dir(self) -> str:
        return self.path(TENSORBOARD)

    @property
    def dataset_dir(self) -> str:
        return self.path(DATASET)

    def create(self) -> None:
        """Create the directory tree; refuses a directory that already exists."""
        try:
            os.makedirs(self.root, exist_ok=False)
        except FileExistsError:
            raise ArtifactError(
                f"{self.root}: artifact directory already exists; choose a new one or pass --resume"
            ) from None
        for sub in (BEST_CHECKPOINT, DATASET):
            os.makedirs(self.path(sub))

    def require(self, *names: str) -> None:
        """Raise ``ArtifactError`` unless every named file exists."""
        if not os.path.isdir(self.root):
            raise ArtifactError(f"{self.root}: no such artifact directory")
        for name in names:
            if not os.path.exists(self.path(name)):
                raise ArtifactError(f"{self.root}: incomplete artifact directory, missing {name}")


@contextlib.contextmanager
def atomic_writer(path: str, newline: Optional[str] = None) -> Iterator[TextIO]:
    """A text handle whose content replaces ``path`` only when the block succeeds.

    It writes a temporary file beside ``path`` and renames it over ``path`` at the end, so a
    reader sees the old file or the new one, never half; on error the temporary goes.
    """
    directory = os.path.dirname(os.path.abspath(path))
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=os.path.splitext(path)[1])
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline=newline) as out:
            yield out
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


def write_json(path: str, data: Any) -> None:
    """Write JSON atomically (see :func:`atomic_writer`)."""
    with atomic_writer(path) as out:
        json.dump(data, out, indent=2, sort_keys=False, default=json_default)
        out.write("\n")


def json_default(value: Any) -> Any:
    """What ``json.dump`` cannot write itself: NumPy arrays and scalars."""
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def read_json(path: str) -> Any:
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        raise ArtifactError(f"{path}: missing") from None
    except json.JSONDecodeError as exc:
        raise ArtifactError(f"{path}: invalid JSON: {exc}") from None


def read_report(path: str) -> List[Dict[str, str]]:
    """The rows of ``training_report.csv`` (none if it does not exist yet)."""
    if not os.path.exists(path):
        return []
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def truncate_report(path: str, epochs_done: int) -> List[Dict[str, str]]:
    """Keep only the rows of the first ``epochs_done`` epochs (a resumed run redoes the
    rest), so that every epoch appears once; returns the kept rows."""
    rows = [row for row in read_report(path) if int(row["epoch"]) < epochs_done]
    if os.path.exists(path):
        with open(path, newline="", encoding="utf-8") as handle:
            fieldnames = next(csv.reader(handle), [])
        with atomic_writer(path, newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=fieldnames)
            writer.writeheader()
            writer.writerows(rows)
    return rows
