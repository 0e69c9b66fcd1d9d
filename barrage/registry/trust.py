"""What Barrage refuses to call, whatever a config says (see ``docs/security.md``).

A config or an artifact directory may come from someone else. Three rules keep it from
running code its reader did not choose:

1. Nothing from the standard library or the builtins is a component (``os.system`` is
   not a network builder), from any source.
2. A component named by a full Python path must be *user code*: not defined in Barrage
   itself, in any distribution Barrage depends on, or in any installed library at all
   (a module under ``site-packages``): ``numpy.load``, ``keras.models.load_model``,
   ``pandas.read_pickle`` and ``joblib.load`` are not network builders. Library objects
   that are components are reached through the registry (entry points, plugins, Keras's
   namespaces), never by path. Code of your own is a module on the Python path or a
   project installed in development mode (``pip install -e``).
3. Layers that load or execute external graphs or code (``TFSMLayer``, ``Lambda``, the
   JAX, Flax and PyTorch wrappers) are refused unless the policy allows them
   (``--allow-unsafe-layers``).
"""

from __future__ import annotations

import functools
import importlib
import inspect
import os
import re
import site
import sys
import sysconfig
from importlib import metadata
from typing import Any, FrozenSet, Optional, Tuple

from packaging.utils import canonicalize_name

UNSAFE_LAYERS: Tuple[str, ...] = (
    "keras.layers.TFSMLayer",
    "keras.layers.Lambda",
    "keras.layers.TorchModuleWrapper",
    "keras.layers.JaxLayer",
    "keras.layers.FlaxLayer",
)


def defining_module(obj: Any) -> str:
    """The module an object was defined in (``"builtins"`` for C builtins)."""
    module = getattr(obj, "__module__", None)
    if module is None and inspect.isbuiltin(obj):
        return "builtins"
    return module or ""


def standard_library_problem(obj: Any) -> Optional[str]:
    """Why ``obj`` may not be a component because Python itself defines it, or ``None``."""
    if inspect.isbuiltin(obj) or type(obj).__name__ in ("method-wrapper", "wrapper_descriptor"):
        return "is a builtin, not a component"
    top = defining_module(obj).partition(".")[0]
    if top == "builtins" or top in sys.stdlib_module_names:
        return f"is defined in the standard library ({defining_module(obj)}), not a component"
    return None


def library_problem(obj: Any) -> Optional[str]:
    """Why ``obj``, named by a Python path, is not user code (see rule 2), or ``None``."""
    module = defining_module(obj)
    if module.partition(".")[0] in library_packages() or _is_installed(module):
        return (
            f"is library code ({defining_module(obj)}), not a component: by Python path only user code resolves; "
            "library components come through the registry (entry points, plugins, Keras names)"
        )
    return None


def unsafe_layer_problem(obj: Any) -> Optional[str]:
    """Why the layer class ``obj`` is refused unless unsafe layers are allowed, or ``None``."""
    for path in UNSAFE_LAYERS:
        module_name, _, name = path.rpartition(".")
        unsafe = getattr(importlib.import_module(module_name), name, None)
        if unsafe is not None and inspect.isclass(obj) and issubclass(obj, unsafe):
            return (
                f"loads or runs external code or graphs ({path}); it is refused unless unsafe layers are "
                "allowed (--allow-unsafe-layers, BARRAGE_ALLOW_UNSAFE_LAYERS=1)"
            )
    return None


def _is_installed(module_name: str) -> bool:
    """Whether the module's file lies in an installation folder (``site-packages``)."""
    module = sys.modules.get(module_name)
    path = getattr(module, "__file__", None)
    if not path:
        return False
    return os.path.realpath(path).startswith(_installation_folders())


def is_library_file(path: str) -> bool:
    """Whether the source file ``path`` is Barrage's, Python's own or an installed
    library's, rather than the user's code (which an error message then points at)."""
    if path.startswith("<"):  # frozen modules, generated code
        return True
    return os.path.realpath(path).startswith(_library_folders())


@functools.lru_cache(maxsize=1)
def _library_folders() -> Tuple[str, ...]:
    barrage_folder = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    own = {os.path.realpath(folder) + os.sep for folder in (barrage_folder, sysconfig.get_paths()["stdlib"])}
    return tuple(sorted(own | set(_installation_folders())))


@functools.lru_cache(maxsize=1)
def _installation_folders() -> Tuple[str, ...]:
    folders = {sysconfig.get_paths()[key] for key in ("purelib", "platlib")}
    folders.update(site.getsitepackages() + [site.getusersitepackages()])
    folders.update(entry for entry in sys.path if os.path.basename(entry) in ("site-packages", "dist-packages"))
    return tuple(sorted({os.path.realpath(folder) + os.sep for folder in folders if folder}))


@functools.lru_cache(maxsize=1)
def library_packages() -> FrozenSet[str]:
    """Top-level import names of Barrage and every distribution it depends on."""
    closure = _dependency_closure("barrage")
    packages = {"barrage"}
    for package, distributions in metadata.packages_distributions().items():
        if any(canonicalize_name(d) in closure for d in distributions):
            packages.add(package)
    return frozenset(packages)


def _dependency_closure(root: str) -> FrozenSet[str]:
    seen = set()
    todo = [root]
    while todo:
        name = canonicalize_name(todo.pop())
        if name in seen:
            continue
        seen.add(name)
        try:
            requirements = metadata.requires(name) or []
        except metadata.PackageNotFoundError:
            continue
        for requirement in requirements:
            if "extra ==" not in requirement:
                todo.append(re.split(r"[\s;<>=!~\[(]", requirement, maxsplit=1)[0])
    return frozenset(seen)
