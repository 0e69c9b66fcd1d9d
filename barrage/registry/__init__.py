"""The component registry: resolves ``(kind, name)`` to a class or function.

Sources, in resolution order:

1. *Registered* components: the entry-point group of the kind (``barrage.loaders``,
   ``barrage.losses``, ...) of every installed distribution, Barrage's own built-ins
   included, plus what plugins add through the ``barrage_register_components`` hook.
2. *Keras* namespaces for framework kinds (:mod:`barrage.registry.keras_names`).
3. A full *Python path* to user code (:mod:`barrage.registry.python_paths`). A strict
   registry refuses this source.

Listing reads entry-point metadata only; a component's module is imported when it is
resolved, and every resolved object passes its kind's type check
(:mod:`barrage.registry.kinds`) before anything calls it.
"""

from __future__ import annotations

import difflib
from importlib import metadata
from typing import Any, Dict, List, Optional, Tuple

import attrs

from barrage.errors import ComponentError
from barrage.registry.components import PYTHON_PATH, Component, ComponentFailure, Resolved, Source, constant
from barrage.registry.keras_names import KerasNames, LegacyPathError, keras_version
from barrage.registry.kinds import KIND_NAMES, KINDS, Kind, get_kind
from barrage.registry.python_paths import import_path, path_target
from barrage.registry.trust import library_problem, unsafe_layer_problem

__all__ = [
    "KINDS",
    "KIND_NAMES",
    "Component",
    "ComponentFailure",
    "Kind",
    "Registrar",
    "Registry",
    "Resolved",
    "Source",
]


class Registry:
    """Resolves component names of every kind; see the module docstring for the sources.

    ``strict``: only registered (entry point, hook or Keras) components resolve.
    ``allow_unsafe_layers``: layers that load or run external code or graphs resolve
    (see :mod:`barrage.registry.trust`).
    """

    def __init__(self, strict: bool = False, allow_unsafe_layers: bool = False) -> None:
        self.strict = strict
        self.allow_unsafe_layers = allow_unsafe_layers
        self.failures: List[ComponentFailure] = []
        self._registered: Dict[str, Dict[str, List[Component]]] = {kind: {} for kind in KIND_NAMES}
        self._cache: Dict[Tuple[str, str], Resolved] = {}
        self._keras: Dict[str, KerasNames] = {}

    # -- adding -----------------------------------------------------------------------

    def add_entry_points(self) -> None:
        """Read the entry-point groups of every kind (metadata only, nothing imported)."""
        for kind in KINDS.values():
            for entry_point in metadata.entry_points(group=kind.group):
                dist = getattr(entry_point, "dist", None)
                source = Source(
                    "distribution", dist.metadata["Name"] if dist else "", dist.version if dist else "", "entry point"
                )
                self._add(Component(kind.name, entry_point.name, entry_point.value, source, entry_point.load))

    def register(self, kind: str, name: str, obj: Any, source: Optional[Source] = None) -> None:
        """Register ``obj`` under ``name`` for ``kind``; its type is checked when resolved."""
        get_kind(kind)
        source = source or Source("distribution", "runtime", "", "register")
        target = f"{getattr(obj, '__module__', '?')}:{getattr(obj, '__qualname__', repr(obj))}"
        self._add(Component(kind, name, target, source, constant(obj)))
        self._cache.pop((kind, name), None)

    def registrar(self, source: Source) -> "Registrar":
        """What one plugin's ``barrage_register_components`` receives: registers as ``source``."""
        return Registrar(self, source)

    def _add(self, component: Component) -> None:
        entries = self._registered[component.kind].setdefault(component.name, [])
        if not any(e.source.name == component.source.name and e.target == component.target for e in entries):
            entries.append(component)

    # -- listing ----------------------------------------------------------------------

    def components(self, kind: Optional[str] = None, include_keras: bool = False) -> List[Component]:
        """Every registered component (and optionally every Keras name), sorted."""
        kinds = [get_kind(kind)] if kind else list(KINDS.values())
        found: List[Component] = []
        for row in kinds:
            for entries in self._registered[row.name].values():
                found.extend(entries)
            if include_keras and row.in_keras:
                source = _keras_source()
                for name, (target, obj) in sorted(self._keras_names(row).names.items()):
                    found.append(Component(row.name, name, target, source, constant(obj)))
        return sorted(found, key=lambda c: (KIND_NAMES.index(c.kind), c.name.lower(), str(c.source)))

    def conflicts(self) -> List[List[Component]]:
        """Names registered by more than one source for the same kind."""
        return [entries for by_name in self._registered.values() for entries in by_name.values() if len(entries) > 1]

    # -- resolving --------------------------------------------------------------------

    def resolve(self, kind: str, name: str) -> Resolved:
        """Resolve ``name`` for ``kind`` or raise a ``ComponentError`` that says why.

        The object is type-checked for its kind before it is returned (and so before
        anything can call it).
        """
        row = get_kind(kind)
        if not isinstance(name, str) or not name.strip():
            raise ComponentError(f"{kind} name must be a non-empty string, got {name!r}")
        key = (kind, name)
        if key not in self._cache:
            resolved = self._find(row, name)
            problem = self._problem(row, resolved)
            if problem:
                component = resolved.component
                raise ComponentError(f"{kind} '{name}' ({component.target}, from {component.source}) {problem}")
            self._cache[key] = resolved
        return self._cache[key]

    def _problem(self, kind: Kind, resolved: Resolved) -> Optional[str]:
        """Why ``resolved`` may not be used: its kind's type check, then the trust rules."""
        problem = kind.check(resolved.obj)
        if not problem and not resolved.component.source.registered:
            problem = library_problem(resolved.obj)
        if not problem and kind.name == "layer" and not self.allow_unsafe_layers:
            problem = unsafe_layer_problem(resolved.obj)
        return problem

    def _find(self, kind: Kind, name: str) -> Resolved:
        registered = self._registered[kind.name].get(name) or self._registered_by_target(kind.name, name)
        if registered:
            return self._load_registered(kind.name, registered)
        if kind.in_keras:
            found = self._find_in_keras(kind, name)
            if found is not None:
                return found
        if self.strict:
            raise ComponentError(
                f"{kind.name} '{name}' is not registered and strict mode refuses Python paths "
                f"(searched: {self._searched(kind, python_path=False)})" + self._suggestion(kind, name)
            )
        obj = import_path(kind.name, name)
        if obj is None:
            raise ComponentError(
                f"no {kind.name} named '{name}' (searched: {self._searched(kind)})" + self._suggestion(kind, name)
            )
        return Resolved(obj, Component(kind.name, name, path_target(name), PYTHON_PATH, constant(obj)))

    def _registered_by_target(self, kind: str, name: str) -> List[Component]:
        """A full path that names a registered target counts as that registered component."""
        wanted = name.replace(":", ".")
        for entries in self._registered[kind].values():
            for entry in entries:
                if entry.target.replace(":", ".") == wanted:
                    return [entry]
        return []

    def _load_registered(self, kind: str, entries: List[Component]) -> Resolved:
        if len(entries) > 1:
            listing = "; ".join(f"{e.target} from {e.source}" for e in entries)
            raise ComponentError(
                f"{kind} '{entries[0].name}' is registered by more than one source ({listing}); "
                "uninstall or disable one of them, or use the full Python path"
            )
        component = entries[0]
        try:
            obj = component.load()
        except Exception as exc:
            entry_point = f"{component.name} = {component.target}"
            self.failures.append(ComponentFailure(kind, component.name, component.source.name, entry_point, str(exc)))
            raise ComponentError(
                f"{kind} '{component.name}' from {component.source} (entry point '{entry_point}') "
                f"failed to import: {type(exc).__name__}: {exc}"
            ) from exc
        return Resolved(obj, component)

    def _find_in_keras(self, kind: Kind, name: str) -> Optional[Resolved]:
        try:
            hit = self._keras_names(kind).lookup(name)
        except LegacyPathError as exc:
            raise ComponentError(
                f"{kind.name} '{name}' is a TensorFlow/Keras path with no Keras 3 equivalent named "
                f"'{exc.short}'" + self._suggestion(kind, exc.short)
            ) from None
        if hit is None:
            return None
        target, obj = hit
        return Resolved(obj, Component(kind.name, name, target, _keras_source(), constant(obj)))

    def _keras_names(self, kind: Kind) -> KerasNames:
        if kind.name not in self._keras:
            self._keras[kind.name] = KerasNames(kind)
        return self._keras[kind.name]

    # -- messages ---------------------------------------------------------------------

    def _searched(self, kind: Kind, python_path: bool = True) -> str:
        parts = [f"entry points '{kind.group}'", "hook-registered components"]
        if kind.in_keras:
            parts.append(f"keras {kind.keras_module}")
        if python_path:
            parts.append("python path")
        return ", ".join(parts)

    def _suggestion(self, kind: Kind, name: str) -> str:
        candidates = list(self._registered[kind.name])
        if kind.in_keras:
            candidates.extend(self._keras_names(kind).names)
        short = name.rsplit(".", 1)[-1].rsplit(":", 1)[-1]
        lowered = {c.lower(): c for c in candidates}
        matches = difflib.get_close_matches(short.lower(), list(lowered), n=3, cutoff=0.6)
        others = [k for k in KIND_NAMES if k != kind.name and name in self._registered[k]]
        hint = f"; '{name}' is registered as a {' and a '.join(others)}, not a {kind.name}" if others else ""
        if not matches:
            return hint
        return hint + "; did you mean " + " or ".join(f"'{lowered[m]}'" for m in matches) + "?"


@attrs.frozen
class Registrar:
    """The registry as one plugin's ``barrage_register_components`` sees it: components
    it registers are listed with that plugin's distribution as their source."""

    registry: Registry
    source: Source

    def register(self, kind: str, name: str, obj: Any) -> None:
        """Register ``obj`` under ``name`` for ``kind`` (a singular kind name)."""
        self.registry.register(kind, name, obj, self.source)

    def resolve(self, kind: str, name: str) -> Resolved:
        return self.registry.resolve(kind, name)

    def components(self, kind: Optional[str] = None) -> List[Component]:
        return self.registry.components(kind)


def _keras_source() -> Source:
    return Source("keras", "keras", keras_version())
