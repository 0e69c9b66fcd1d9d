"""Where a command writes what the user asked for (a starter config, an evaluation, a
report, an export): checked before any work, never replaced without ``--overwrite``,
and written whole or not at all.

A file is written through :func:`barrage.artifacts.atomic_writer` or
:func:`~barrage.artifacts.write_atomically`; a folder (a report, a SavedModel) is filled
in a temporary sibling (``.barrage-tmp-*``) and renamed into place by
:func:`publish_folder`, so a crash or an error leaves the previous output or none.
"""

from __future__ import annotations

import os
import shutil
from typing import Callable, Optional, Sequence

from barrage import artifacts
from barrage.artifacts import hold, release, remove_stale_stages, temporary_path
from barrage.errors import DataError
from barrage.manifest import MANIFEST

# How an existing output is kept, for the command line and the Python API alike.
KEPT = "already exists; remove it or pass --overwrite (overwrite=True in Python)"

# What an artifact directory holds of its own: no output may replace any of it.
RUN_ENTRIES = frozenset({
    artifacts.CONFIG, artifacts.NETWORK_PARAMS, artifacts.ENVIRONMENT, artifacts.REPORT, artifacts.BEST_CHECKPOINT,
    artifacts.RESUME_CHECKPOINTS, artifacts.TENSORBOARD, artifacts.DATASET, artifacts.EVALUATION, MANIFEST,
})


def refuse_run_files(path: str, artifact_dir: str) -> None:
    """A ``DataError`` if an output at ``path`` would replace a run, even with
    ``--overwrite``: the artifact directory ``artifact_dir`` itself, a folder holding it,
    one of its own files or folders (its ``report/`` and new names inside it are fine),
    or any other artifact directory (two arguments swapped)."""
    out, run = os.path.realpath(path), os.path.realpath(artifact_dir)
    if out == run:
        raise DataError(f"{path}: is the artifact directory {artifact_dir}; choose another output")
    if _within(run, out):
        raise DataError(f"{path}: holds the artifact directory {artifact_dir}; choose another output")
    if _within(out, run) and os.path.relpath(out, run).split(os.sep)[0] in RUN_ENTRIES:
        raise DataError(f"{path}: is one of the run's own files in {artifact_dir}; choose another output")
    if os.path.isfile(os.path.join(path, MANIFEST)) and os.path.isfile(os.path.join(path, artifacts.CONFIG)):
        raise DataError(f"{path}: is an artifact directory; Barrage does not replace a run with an output "
                        "(are two arguments the other way round?)")


def refuse_input(path: str, data: object) -> None:
    """A ``DataError`` if an output at ``path`` would replace its input ``data`` (a file
    or a folder of files), even with ``--overwrite``."""
    if not isinstance(data, (str, os.PathLike)):
        return  # records in memory
    out, source = os.path.realpath(path), os.path.realpath(os.fspath(data))
    if out == source or _within(out, source):
        raise DataError(f"{path}: is the input {os.fspath(data)}; choose another output")


def _within(inner: str, outer: str) -> bool:
    """Whether the real path ``inner`` lies below the real path ``outer``."""
    return inner.startswith(outer.rstrip(os.sep) + os.sep)


def check_output(path: str, overwrite: bool = False, extensions: Optional[Sequence[str]] = None,
                 folder: bool = False, what: str = "output", marker: Optional[str] = None) -> None:
    """A ``DataError`` naming ``path`` if the output cannot go there: an extension not in
    ``extensions``, a parent folder that is missing or not writable, something already
    there (unless ``overwrite``), or a file where a folder goes (and the reverse). A
    folder output with a ``marker`` (the file every such output holds) replaces only an
    earlier one or an empty folder: ``--overwrite`` never deletes a folder of the user's."""
    extension = os.path.splitext(path)[1].lower()
    if extensions is not None and extension not in extensions:
        raise DataError(f"{path}: unsupported {what} type '{extension or '(none)'}'; use {', '.join(extensions)}")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(parent):
        raise DataError(f"{path}: cannot be written: the folder {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise DataError(f"{path}: cannot be written: the folder {parent} is not writable")
    if not os.path.lexists(path):
        return
    if not overwrite:
        raise DataError(f"{path}: {KEPT}")
    if os.path.isdir(path) and not os.path.islink(path) and not folder:
        raise DataError(f"{path}: is a folder; give a file name for the {what}")
    if folder and not os.path.isdir(path):
        raise DataError(f"{path}: is a file; give a folder name for the {what}")
    if folder and marker and not os.path.islink(path) and os.listdir(path) \
            and not os.path.isfile(os.path.join(path, marker)):
        raise DataError(f"{path}: is a folder that holds no {what} (no {marker}); --overwrite replaces only an "
                        f"earlier {what} or an empty folder: choose another name")


def publish_folder(path: str, fill: Callable[[str], None], overwrite: bool = False) -> None:
    """Make the folder ``path`` whole: ``fill(stage)`` writes into a fresh temporary
    sibling, which is then renamed to ``path`` (an existing ``path`` is replaced only
    with ``overwrite``). On any error nothing new is left behind."""
    remove_stale_stages(path)
    stage = temporary_path(path)
    old, lock = None, None
    try:
        os.makedirs(stage)
        lock = hold(stage)
        fill(stage)
        if os.path.lexists(path):
            if not overwrite:
                raise DataError(f"{path}: {KEPT}")
            old = temporary_path(path)
            os.rename(path, old)
        try:
            os.rename(stage, path)
        except OSError:
            if old is not None:  # put the previous output back
                os.rename(old, path)
                old = None
            raise
    finally:
        shutil.rmtree(stage, ignore_errors=True)
        release(lock)
        if old is not None and os.path.islink(old):  # a link replaced: the link goes, never its target
            os.unlink(old)
        elif old is not None:
            shutil.rmtree(old, ignore_errors=True)
