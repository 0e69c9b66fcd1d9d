"""``ResumeCheckpoint``: what an interrupted run continues from.

At the end of every epoch the weights (optimizer state included) are written to
``resume_checkpoints/epoch-NNNNN.weights.h5``, the number being the epochs done: first
to a temporary file, then renamed into place through the manifest, and only then is the
previous epoch's file removed. A ``SIGKILL`` at any instant leaves at least one complete,
recorded checkpoint. The file name carries the epoch, so weights and epoch can never
disagree. A run that ends (all epochs, or stopped early) removes the folder.

:func:`latest_resume_point` finds the newest intact checkpoint; :func:`restore` loads it
into a compiled network before ``fit(initial_epoch=...)``.
"""

from __future__ import annotations

import os
import re
import shutil
from typing import Any, Dict, List, Optional, Tuple

import keras

from barrage import artifacts
from barrage.errors import ArtifactError
from barrage.manifest import Manifest
from barrage.model import load_weights

_NAME = re.compile(r"^epoch-(\d{5,})\.weights\.h5$")


def checkpoint_name(epochs_done: int) -> str:
    return f"epoch-{epochs_done:05d}.weights.h5"


def recorded_checkpoints(layout: Any) -> List[Tuple[int, str]]:
    """``(epochs done, relative path)`` of the resume checkpoints the manifest records,
    newest first."""
    prefix = artifacts.RESUME_CHECKPOINTS + "/"
    found = []
    for relative in Manifest(layout.root).entries():
        match = _NAME.match(relative[len(prefix):]) if relative.startswith(prefix) else None
        if match:
            found.append((int(match.group(1)), relative))
    return sorted(found, reverse=True)


def latest_resume_point(layout: Any) -> Optional[Tuple[int, str]]:
    """The newest resume checkpoint that verifies: ``(epochs done, full path)``, or
    ``None`` when there is none (the run starts from its first epoch).

    A recorded checkpoint whose file is missing was never completed (a crash between
    recording and renaming it) and is skipped; a damaged one is skipped for the previous
    one, and if every checkpoint is damaged, that is an error naming the newest."""
    manifest = Manifest(layout.root)
    problems = []
    for epochs_done, relative in recorded_checkpoints(layout):
        path = layout.path(*relative.split("/"))
        if not os.path.exists(path):
            continue
        try:
            manifest.verify([relative])
        except ArtifactError as exc:
            problems.append(str(exc))
            continue
        return epochs_done, path
    if problems:
        raise ArtifactError(f"no intact resume checkpoint: {problems[0]}")
    return None


def restore(network: Any, path: str) -> None:
    """Load a resume checkpoint (weights and optimizer state) into a compiled network."""
    if network.optimizer is not None and not network.optimizer.built:
        network.optimizer.build(network.trainable_variables)
    load_weights(network, path)


class ResumeCheckpoint(keras.callbacks.Callback):
    """Writes the resume checkpoint of every epoch (see the module docstring)."""

    def __init__(self, layout: Any):
        super().__init__()
        self.layout = layout
        self.manifest = Manifest(layout.root)

    def on_epoch_end(self, epoch: int, logs: Optional[Dict[str, Any]] = None) -> None:
        os.makedirs(self.layout.resume_dir, exist_ok=True)
        self.manifest.write(f"{artifacts.RESUME_CHECKPOINTS}/{checkpoint_name(epoch + 1)}", self.model.save_weights)
        older = [path for done, path in recorded_checkpoints(self.layout) if done != epoch + 1]
        for path in older:
            _remove(self.layout.path(*path.split("/")))
        self.manifest.forget(older)

    def on_train_end(self, logs: Optional[Dict[str, Any]] = None) -> None:
        self.manifest.forget(path for _, path in recorded_checkpoints(self.layout))
        shutil.rmtree(self.layout.resume_dir, ignore_errors=True)


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
