"""Resolving a full Python path to user code: ``my_pkg.models.build_net`` or
``my_pkg.models:build_net``.

Importing a module runs its top-level code; this is why strict mode refuses this source
(see ``docs/security.md``).
"""

from __future__ import annotations

import importlib
from typing import Any, Iterator, Optional, Tuple

from barrage.errors import ComponentError


def path_target(path: str) -> str:
    """``module:attribute`` for a dotted or colon path (the form listings show)."""
    if ":" in path:
        return path
    module, _, attr = path.rpartition(".")
    return f"{module}:{attr}" if module else path


def _splits(path: str) -> Iterator[Tuple[str, str]]:
    """Candidate ``(module, attribute path)`` pairs, the longest module first."""
    if ":" in path:
        module_name, _, attr_path = path.partition(":")
        yield module_name, attr_path
        return
    parts = path.split(".")
    for cut in range(len(parts) - 1, 0, -1):
        yield ".".join(parts[:cut]), ".".join(parts[cut:])


def import_path(kind: str, path: str) -> Optional[Any]:
    """The object at ``path``, or ``None`` when no such module or attribute exists.

    An error raised *inside* an existing module (a syntax error, a failing import of a
    dependency) is reported as a ``ComponentError``, not treated as a miss.
    """
    for module_name, attr_path in _splits(path):
        if not module_name or not attr_path:
            continue
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and (module_name == exc.name or module_name.startswith(exc.name + ".")):
                continue  # this candidate module does not exist: try a shorter one
            raise ComponentError(f"importing {kind} '{path}' failed: {type(exc).__name__}: {exc}") from exc
        except Exception as exc:
            raise ComponentError(f"importing {kind} '{path}' failed: {type(exc).__name__}: {exc}") from exc
        obj: Any = module
        try:
            for attr in attr_path.split("."):
                obj = getattr(obj, attr)
        except AttributeError:
            return None
        return obj
    return None
