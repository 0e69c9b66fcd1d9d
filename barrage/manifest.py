"""The integrity of an artifact directory: SHA-256 digests of what a later load reads.

``manifest.json`` maps each recorded file (a path relative to the artifact directory) to
its digest. Training records every file it writes for later use (the JSON artifacts, the
transformer's state, the best checkpoint, the resume checkpoints); ``load``, ``score``
and ``--resume`` verify them and refuse a changed, truncated or missing file, naming it.

Replacing a recorded file (a better checkpoint) is crash-safe in two steps: the manifest
first accepts the new digest *and* the old one, then the new file is renamed into place,
then the manifest forgets the old digest. A ``SIGKILL`` at any instant leaves a file the
manifest accepts: the previous one or the new one.

This protects against damage (a crash, a full disk, flipped bits, an edited file), not
against someone who rewrites the manifest too; see ``docs/security.md``.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any, Callable, Dict, Iterable, List, Optional

from barrage import artifacts
from barrage.errors import ArtifactError

MANIFEST = "manifest.json"
FORMAT = 1
_CHUNK = 1 << 20


def best_checkpoint_digest(artifact_dir: str) -> Optional[str]:
    """The recorded SHA-256 of the best checkpoint's weights, if there is one yet."""
    return Manifest(artifact_dir).entries().get(artifacts.BEST_WEIGHTS_PATH, {}).get("sha256")


def digest(path: str) -> str:
    """The SHA-256 of a file's content, in hex."""
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(_CHUNK), b""):
            sha.update(block)
    return sha.hexdigest()


class Manifest:
    """The manifest of the artifact directory ``root``."""

    def __init__(self, root: str):
        self.root = root
        self.path = os.path.join(root, MANIFEST)

    def exists(self) -> bool:
        return os.path.isfile(self.path)

    def entries(self) -> Dict[str, Dict[str, str]]:
        """Recorded files: relative path -> ``{"sha256": ..., "previous_sha256": ...}``."""
        if not self.exists():
            return {}
        data: Any = artifacts.read_json(self.path)
        files = data.get("files") if isinstance(data, dict) else None
        if not isinstance(files, dict) or not all(isinstance(v, dict) for v in files.values()):
            raise ArtifactError(f"{self.path}: is not a Barrage manifest")
        if data.get("format") != FORMAT:  # a later Barrage's may record what this one cannot check
            raise ArtifactError(f"{self.path}: manifest format {data.get('format')!r}; this Barrage reads format "
                                f"{FORMAT} (a run written by another version of Barrage?)")
        return files

    # -- recording --------------------------------------------------------------------

    def record(self, relative_paths: Iterable[str]) -> None:
        """Record the current digest of each file."""
        files = self.entries()
        for relative in relative_paths:
            files[relative] = {"sha256": digest(self._full(relative))}
        self._write(files)

    def record_folder(self, relative_folder: str) -> None:
        """Record every file below a folder (e.g. the transformer's state)."""
        self.record(self._files_below(relative_folder))

    def forget(self, relative_paths: Iterable[str]) -> None:
        files = self.entries()
        for relative in relative_paths:
            files.pop(relative, None)
        self._write(files)

    def replace(self, temporary: str, relative: str) -> None:
        """Move the complete file ``temporary`` to ``relative``, crash-safely (see the
        module docstring)."""
        files = self.entries()
        new = digest(temporary)
        old = files.get(relative, {}).get("sha256")
        files[relative] = {"sha256": new, **({"previous_sha256": old} if old and old != new else {})}
        self._write(files)
        artifacts.replace_with(temporary, self._full(relative))
        files[relative] = {"sha256": new}
        self._write(files)

    def write(self, relative: str, write: Callable[[str], None]) -> None:
        """Write a recorded file crash-safely: ``write(temporary path)``, then
        :meth:`replace`. On error the temporary goes and the recorded file stays."""
        final = self._full(relative)
        temporary = artifacts.temporary_path(final)
        try:
            write(temporary)
        except OSError as exc:
            artifacts.remove_leftovers(os.path.dirname(final), os.path.basename(final))
            raise artifacts.write_error(final, exc) from None
        except BaseException:
            artifacts.remove_leftovers(os.path.dirname(final), os.path.basename(final))
            raise
        self.replace(temporary, relative)

    def finish(self) -> None:
        """Mark the run finished (resuming it is refused)."""
        self._write(self.entries(), finished=True)

    def finished(self) -> bool:
        data = artifacts.read_json(self.path) if self.exists() else {}
        return isinstance(data, dict) and data.get("finished") is True

    def _write(self, files: Dict[str, Dict[str, str]], finished: bool = False) -> None:
        data: Dict[str, Any] = {"format": FORMAT, "files": dict(sorted(files.items()))}
        if finished:
            data["finished"] = True
        artifacts.write_json(self.path, data)

    # -- verifying --------------------------------------------------------------------

    def verify(self, relative_paths: Iterable[str]) -> None:
        """Raise an ``ArtifactError`` naming the first file that is missing, unrecorded or
        not the file that was recorded."""
        if not self.exists():
            raise ArtifactError(
                f"{self.path}: missing; the directory is incomplete or was not written by Barrage 1.0 or later"
            )
        files = self.entries()
        for relative in relative_paths:
            entry = files.get(relative)
            full = self._full(relative)
            if entry is None:
                raise ArtifactError(f"{full}: is not recorded in {MANIFEST}")
            if not os.path.isfile(full):
                raise ArtifactError(f"{full}: missing (recorded in {MANIFEST})")
            if digest(full) not in (entry.get("sha256"), entry.get("previous_sha256")):
                raise ArtifactError(
                    f"{full}: has changed since training wrote it (its SHA-256 differs from {MANIFEST}); "
                    "the file is damaged, truncated or was edited"
                )

    def verify_folder(self, relative_folder: str) -> None:
        """Every file below the folder is recorded and intact, and every recorded file
        of the folder is there."""
        prefix = relative_folder.rstrip("/") + "/"
        recorded = {path for path in self.entries() if path.startswith(prefix)}
        self.verify(sorted(recorded | set(self._files_below(relative_folder))))

    def _files_below(self, relative_folder: str) -> List[str]:
        found = []
        for folder, _, files in os.walk(self._full(relative_folder)):
            for name in files:
                if not name.startswith(artifacts.TEMPORARY_PREFIX):
                    found.append(os.path.relpath(os.path.join(folder, name), self.root).replace(os.sep, "/"))
        return sorted(found)

    def _full(self, relative: str) -> str:
        return os.path.join(self.root, *relative.split("/"))
