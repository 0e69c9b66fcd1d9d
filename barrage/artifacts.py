"""The artifact directory: where a run's files live and how they are written.

Everything is plain and human-readable (JSON, CSV, HDF5 weights, TensorBoard events);
nothing is pickled. Every file Barrage writes is written crash-safely: to a temporary
file beside it (named ``.barrage-tmp-*``), flushed, then renamed over the old one, so a
``SIGKILL`` at any instant leaves the previous complete file or the new one, never half.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import fcntl
import json
import os
import re
import secrets
import shutil
from typing import Any, Callable, Dict, Iterator, List, Optional, TextIO

import attrs

from barrage.errors import ArtifactError

CONFIG = "config.json"
NETWORK_PARAMS = "network_params.json"
ENVIRONMENT = "environment.json"
REPORT = "training_report.csv"
BEST_CHECKPOINT = "best_checkpoint"
BEST_WEIGHTS = "model.weights.h5"
BEST_WEIGHTS_PATH = f"{BEST_CHECKPOINT}/{BEST_WEIGHTS}"  # as the manifest records it
RESUME_CHECKPOINTS = "resume_checkpoints"
TENSORBOARD = "TensorBoard"
DATASET = "dataset"
EVALUATION = "evaluation.json"  # the latest `barrage evaluate`, which `barrage report` shows
REPORT_FOLDER = "report"  # where `barrage report` writes by default


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

    def create(self, fill: Callable[["ArtifactLayout"], None]) -> None:
        """Create the directory whole: in a temporary sibling (``.barrage-tmp-*``) that
        ``fill(staging layout)`` writes, then renamed into place. A crash leaves no
        half-made directory (the staging folder is removed by the next attempt), and of
        two runs racing for the same directory only one gets it."""
        parent = os.path.dirname(os.path.abspath(self.root))
        os.makedirs(parent, exist_ok=True)
        remove_stale_stages(self.root)
        if os.path.lexists(self.root):
            raise self._exists()
        stage = ArtifactLayout(temporary_path(self.root))
        lock = None
        try:
            for sub in (BEST_CHECKPOINT, DATASET):
                os.makedirs(stage.path(sub))
            lock = hold(stage.root)
            fill(stage)
            try:
                os.rename(stage.root, self.root)
            except OSError:
                raise self._exists() from None
            _fsync_directory(parent)
        finally:
            shutil.rmtree(stage.root, ignore_errors=True)
            release(lock)

    def _exists(self) -> ArtifactError:
        return ArtifactError(f"{self.root}: artifact directory already exists; choose a new one or pass --resume")

    def require(self, *names: str) -> None:
        """Raise ``ArtifactError`` unless every named file exists."""
        if os.path.isfile(self.root):
            raise ArtifactError(f"{self.root}: is a file, not an artifact directory")
        if not os.path.isdir(self.root):
            raise ArtifactError(f"{self.root}: no such artifact directory")
        for name in names:
            if not os.path.exists(self.path(name)):
                raise ArtifactError(f"{self.root}: incomplete artifact directory, missing {name}")


# -- crash-safe writing ---------------------------------------------------------------

TEMPORARY_PREFIX = ".barrage-tmp-"


def temporary_path(path: str) -> str:
    """A fresh temporary name beside ``path`` that keeps its file name as a suffix (Keras
    wants ``.weights.h5``) and starts with :data:`TEMPORARY_PREFIX`, so leftovers of a
    killed process are recognisable (:func:`remove_leftovers`)."""
    directory, name = os.path.split(os.path.abspath(path))
    return os.path.join(directory, f"{TEMPORARY_PREFIX}{secrets.token_hex(4)}-{name}")


def is_temporary_of(entry: str, name: str) -> bool:
    """Whether the file or folder name ``entry`` is a :func:`temporary_path` made for
    ``name`` exactly (``.barrage-tmp-1a2b3c4d-run`` is one for ``run``, not for ``-run``
    nor ``my-run``: another job's work in progress is never taken for a leftover)."""
    match = _TEMPORARY_NAME.fullmatch(entry)
    return match is not None and match.group(1) == name


_TEMPORARY_NAME = re.compile(re.escape(TEMPORARY_PREFIX) + r"[0-9a-f]{8}-(.+)", re.DOTALL)


def stale_stages(path: str) -> List[str]:
    """Temporary siblings that a killed process left while making the folder ``path``
    whole (:meth:`ArtifactLayout.create`, :func:`barrage.outputs.publish_folder`); a
    stage another process is still filling is not one (:func:`hold`)."""
    parent, name = os.path.split(os.path.abspath(path))
    if not os.path.isdir(parent):
        return []
    stages = [os.path.join(parent, entry) for entry in os.listdir(parent) if is_temporary_of(entry, name)]
    return [stage for stage in stages if not is_held(stage)]


def remove_stale_stages(path: str) -> None:
    for stage in stale_stages(path):
        shutil.rmtree(stage, ignore_errors=True)


def replace_with(temporary: str, path: str) -> None:
    """Move a complete ``temporary`` over ``path``: flushed to disk, given the
    permissions the umask gives, renamed (readers see the old file or the new one, and a
    link at ``path`` is replaced, never followed), and the rename itself flushed."""
    try:
        with open(temporary, "rb") as handle:
            os.fsync(handle.fileno())
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, path)
        _fsync_directory(os.path.dirname(os.path.abspath(path)))
    except OSError as exc:
        _remove_quietly(temporary)
        raise write_error(path, exc) from None


@contextlib.contextmanager
def _replacing(path: str) -> Iterator[str]:
    """A temporary path that replaces ``path`` (:func:`replace_with`) when the block
    succeeds; on any error the temporary goes and ``path`` keeps its previous content."""
    temporary = temporary_path(path)
    try:
        yield temporary
    except OSError as exc:
        _remove_quietly(temporary)
        raise write_error(path, exc) from None
    except BaseException:
        _remove_quietly(temporary)
        raise
    replace_with(temporary, path)


def write_atomically(path: str, write: Callable[[str], None]) -> None:
    """``write(temporary)``, then the temporary replaces ``path`` (see :func:`_replacing`)."""
    with _replacing(path) as temporary:
        write(temporary)


@contextlib.contextmanager
def atomic_writer(path: str, newline: Optional[str] = None) -> Iterator[TextIO]:
    """A text handle whose content replaces ``path`` only when the block succeeds."""
    with _replacing(path) as temporary, open(temporary, "x", encoding="utf-8", newline=newline) as out:
        yield out


def write_error(path: str, exc: OSError) -> ArtifactError:
    """One line naming the file that could not be written and why (disk full, ...).

    HDF5 wraps the system's reason in a long message; the system's words are kept."""
    text = " ".join(str(exc).split())
    if isinstance(exc.errno, int) and exc.errno > 0 and os.strerror(exc.errno).lower() in text.lower():
        reason = os.strerror(exc.errno)
    elif "no space left" in text.lower() or "file write failed" in text.lower():
        full = "no space left" in text.lower()
        reason = os.strerror(errno.ENOSPC) if full else "the write failed (is the disk full?)"
    else:
        reason = exc.strerror.splitlines()[0] if exc.strerror else text
    return ArtifactError(f"{path}: cannot be written: {reason}")


def remove_leftovers(directory: str, name: str = "") -> List[str]:
    """Delete temporary files a killed process left in ``directory`` (and below), or only
    those for the file ``name`` when given; returns what was removed. A temporary file
    that a live writer holds (:func:`hold`) is work in progress and stays."""
    removed = []
    for folder, _, files in os.walk(directory):
        for file_name in files:
            if is_temporary_of(file_name, name) if name else file_name.startswith(TEMPORARY_PREFIX):
                if is_held(os.path.join(folder, file_name)):
                    continue
                _remove_quietly(os.path.join(folder, file_name))
                removed.append(os.path.join(folder, file_name))
        if name:
            break
    return removed


# -- work in progress -------------------------------------------------------------------
# A temporary file or staging folder is held under an advisory lock (``flock``) by the
# process writing it. The lock goes with the process, however it ends, so a temporary
# that nobody holds is a leftover, and one that is held is another job's work in progress
# (two scoring shards given the same output, a retry started while the first run goes on).


def hold(path: str) -> int:
    """Lock ``path`` (a file, created empty if missing, or an existing folder) as work
    in progress; returns the handle to give to :func:`release`."""
    flags = os.O_RDONLY if os.path.isdir(path) else os.O_RDWR | os.O_CREAT
    handle = os.open(path, flags, 0o600)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(handle)
        raise
    return handle


def release(handle: Optional[int]) -> None:
    """Let go of a :func:`hold` (nothing when ``handle`` is ``None``)."""
    if handle is not None:
        os.close(handle)


def is_held(path: str) -> bool:
    """Whether a live process holds ``path`` (:func:`hold`). A path that cannot even be
    opened counts as held: what cannot be checked is not deleted."""
    try:
        handle = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    except OSError:
        return True
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(handle)  # closing also drops the lock just taken
    return False


def refuse_links(root: str) -> None:
    """An ``ArtifactError`` if anything inside ``root`` is a symbolic link: Barrage never
    writes through a link inside an artifact directory."""
    for folder, directories, files in os.walk(root):
        for entry in directories + files:
            path = os.path.join(folder, entry)
            if os.path.islink(path):
                raise ArtifactError(
                    f"{path}: is a symbolic link; Barrage does not write through links inside an artifact directory"
                )


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def _fsync_directory(directory: str) -> None:
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass  # some file systems cannot sync directories; the rename is still atomic
    finally:
        os.close(descriptor)


def _remove_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


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


class JSONProblem(ValueError):
    """A JSON text that Barrage refuses, with the reason in one line."""


def _refuse_constant(name: str) -> Any:
    raise JSONProblem(f"{name} is not a number JSON allows")


def parse_json(text: str) -> Any:
    """Parse JSON strictly: ``NaN``/``Infinity`` are refused, and so are a key given twice
    in one object (JSON readers differ on which one wins), integers too long to read and
    nesting too deep to parse, each as a :class:`JSONProblem`."""
    try:
        return json.loads(text, parse_constant=_refuse_constant, object_pairs_hook=_object_without_repeats)
    except json.JSONDecodeError as exc:
        raise JSONProblem(f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise JSONProblem("nested too deeply to be a Barrage file") from None
    except ValueError as exc:  # e.g. integers beyond Python's digit limit
        raise JSONProblem(str(exc).split("\n", 1)[0]) from None


def _object_without_repeats(pairs: List[Any]) -> Dict[str, Any]:
    found: Dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise JSONProblem(f"the key {key!r} is given twice in one object (with keys: "
                              f"{', '.join(sorted({k for k, _ in pairs}))})")
        found[key] = value
    return found


def read_json(path: str) -> Any:
    """A JSON artifact; an ``ArtifactError`` naming the file if it is missing or bad."""
    try:
        with open(path, encoding="utf-8") as handle:
            return parse_json(handle.read())
    except FileNotFoundError:
        raise ArtifactError(f"{path}: missing") from None
    except (JSONProblem, UnicodeDecodeError) as exc:
        raise ArtifactError(f"{path}: {exc}") from None
    except OSError as exc:
        raise ArtifactError(f"{path}: cannot be read: {exc.strerror or exc}") from None


def read_report(path: str, epochs_done: Optional[int] = None) -> List[Dict[str, str]]:
    """The rows of ``training_report.csv`` (none if it does not exist yet), or only those
    of the first ``epochs_done`` epochs (what a resumed run keeps)."""
    if not os.path.exists(path):
        return []
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            header = reader.fieldnames  # read while the file is open (None: an empty file)
            rows = [row for row in reader if str(row.get("epoch", "")).isdigit()]
    except UnicodeDecodeError:
        raise ArtifactError(f"{path}: damaged: not UTF-8 text") from None
    except csv.Error as exc:
        raise ArtifactError(f"{path}: damaged: {exc}") from None
    except OSError as exc:
        raise ArtifactError(f"{path}: cannot be read: {exc.strerror or exc}") from None
    if header is not None and "epoch" not in header:
        raise ArtifactError(f"{path}: damaged: its header has no 'epoch' column")
    if epochs_done is not None:
        rows = [row for row in rows if int(row["epoch"]) < epochs_done]
    return rows
