"""The component registry: resolves ``(kind, name)`` to a class or function.

Sources, in resolution order:

1. *Registered* components: the entry-point group of the kind (``barrage.loaders``,
   ``barrage.losses``, ...) of every installed distribution, Barrage's own built-ins
   included, plus what plugins add through the ``barrage_register_components`` hook.
2. *Keras* namespaces for framework kinds (``keras.losses``, ``keras.metrics``,
   ``keras.optimizers``, ``keras.optimizers.schedules``, ``keras.layers``) with their
   string aliases (``"mse"``), case-insensitive optimizer names (``"adam"``) and legacy
   TensorFlow paths (``tensorflow.python.keras.optimizer_v2.adam.Adam``) mapped to Keras 3.
3. A full *Python path* to user code (``my_pkg.models.build_net`` or
   ``my_pkg.models:build_net``). Strict mode refuses this source.

Listing reads entry-point metadata only; a component's module is imported when it is
resolved. Every resolved object is type-checked for its kind.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import os
from importlib import metadata
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple

import attrs

from barrage.errors import ComponentError

KIND_GROUPS: Dict[str, str] = {
    "loader": "barrage.loaders",
    "transformer": "barrage.transformers",
    "augmentor": "barrage.augmentors",
    "network": "barrage.networks",
    "loss": "barrage.losses",
    "metric": "barrage.metrics",
    "optimizer": "barrage.optimizers",
    "schedule": "barrage.schedules",
    "layer": "barrage.layers",
}
KINDS: Tuple[str, ...] = tuple(KIND_GROUPS)
FRAMEWORK_KINDS = ("loss", "metric", "optimizer", "schedule", "layer")
LEGACY_PREFIXES = ("tensorflow.python.keras.", "tensorflow.keras.", "tf.keras.", "keras.")

# Names Keras's ``compile`` interprets itself (it picks the right accuracy variant from
# the shapes); resolving them to a class would lose that, so they resolve to the string.
KERAS_COMPILE_METRIC_ALIASES = ("accuracy", "acc", "crossentropy", "ce")
# Short aliases Keras's ``get`` understands that are not attributes of the modules.
KERAS_SHORT_ALIASES = {
    "loss": ("mse", "mae", "mape", "msle", "kld", "logcosh"),
    "metric": ("mse", "mae", "mape", "msle"),
}


@attrs.frozen
class Source:
    """Where a component comes from: a distribution, Keras, or a Python path."""

    kind: str  # "distribution", "keras" or "python path"
    name: str = ""
    version: str = ""
    via: str = ""  # "entry point" or "hook <plugin>", for distributions

    def __str__(self) -> str:
        if self.kind == "python path":
            return "python path"
        return f"{self.name} {self.version}".strip()

    @property
    def registered(self) -> bool:
        return self.kind in ("distribution", "keras")


@attrs.define
class Component:
    """One resolvable component. ``load`` imports it; listing never calls it."""

    kind: str
    name: str
    target: str
    source: Source
    load: Callable[[], Any] = attrs.field(repr=False)

    def describe(self) -> Dict[str, str]:
        return {"kind": self.kind, "name": self.name, "source": str(self.source), "target": self.target}


@attrs.frozen
class Resolved:
    """The outcome of resolving a name: the object and the component it came from."""

    obj: Any
    component: Component


@attrs.frozen
class ComponentFailure:
    """A registered component whose module failed to import."""

    kind: str
    name: str
    distribution: str
    entry_point: str
    error: str


def is_strict() -> bool:
    """Strict mode: only registered (entry point, hook or Keras) components resolve."""
    return os.environ.get("BARRAGE_STRICT", "").strip().lower() in {"1", "true", "yes", "on"}


class Registry:
    """Resolves component names of every kind; see the module docstring for the sources."""

    def __init__(self) -> None:
        self._registered: Dict[str, Dict[str, List[Component]]] = {kind: {} for kind in KINDS}
        self._cache: Dict[Tuple[str, str], Resolved] = {}
        self._keras_names: Dict[str, Dict[str, Tuple[str, Any]]] = {}
        self.failures: List[ComponentFailure] = []
        self._current_plugin: Optional[Tuple[str, str, str]] = None

    # -- building ---------------------------------------------------------------------

    def add_entry_points(self) -> None:
        """Read the entry-point groups of every kind (metadata only, nothing imported)."""
        for kind, group in KIND_GROUPS.items():
            for entry_point in metadata.entry_points(group=group):
                dist = getattr(entry_point, "dist", None)
                source = Source(
                    "distribution",
                    dist.metadata["Name"] if dist else "",
                    dist.version if dist else "",
                    "entry point",
                )
                self._add(Component(kind, entry_point.name, entry_point.value, source, entry_point.load))

    def register(self, kind: str, name: str, obj: Any) -> None:
        """Register ``obj`` under ``name`` for ``kind`` (called from the register hook)."""
        _check_kind(kind)
        if self._current_plugin is not None:
            plugin, distribution, version = self._current_plugin
            source = Source("distribution", distribution or plugin, version, f"hook {plugin}")
        else:
            source = Source("distribution", "runtime", "", "register")
        target = f"{getattr(obj, '__module__', '?')}:{getattr(obj, '__qualname__', repr(obj))}"
        self._add(Component(kind, name, target, source, lambda: obj))
        self._cache.pop((kind, name), None)

    def add_hook_components(self, manager: Any) -> None:
        """Call every plugin's ``barrage_register_components`` with this registry."""
        for impl in reversed(manager.hook.barrage_register_components.get_hookimpls()):
            info = manager.infos.get(impl.plugin_name)
            self._current_plugin = (
                impl.plugin_name,
                info.distribution if info else "",
                info.version if info else "",
            )
            try:
                impl.function(registry=self)
            except Exception as exc:
                raise manager.hook_error(impl.plugin_name, "barrage_register_components", exc) from exc
            finally:
                self._current_plugin = None

    def _add(self, component: Component) -> None:
        entries = self._registered[component.kind].setdefault(component.name, [])
        duplicate = any(
            e.source.name == component.source.name and e.target == component.target for e in entries
        )
        if not duplicate:
            entries.append(component)

    # -- listing ----------------------------------------------------------------------

    def components(self, kind: Optional[str] = None, include_keras: bool = False) -> List[Component]:
        """Every registered component (and optionally every Keras name), sorted."""
        kinds = [kind] if kind else list(KINDS)
        for k in kinds:
            _check_kind(k)
        found: List[Component] = []
        for k in kinds:
            for entries in self._registered[k].values():
                found.extend(entries)
            if include_keras and k in FRAMEWORK_KINDS:
                for name, (target, obj) in sorted(self._keras_namespace(k).items()):
                    found.append(Component(k, name, target, self._keras_source(), _constant(obj)))
        return sorted(found, key=lambda c: (KINDS.index(c.kind), c.name.lower(), str(c.source)))

    def conflicts(self) -> List[List[Component]]:
        """Names registered by more than one source for the same kind."""
        return [
            entries
            for kind in KINDS
            for entries in self._registered[kind].values()
            if len(entries) > 1
        ]

    # -- resolving --------------------------------------------------------------------

    def resolve(self, kind: str, name: str) -> Resolved:
        """Resolve ``name`` for ``kind`` or raise a ``ComponentError`` that says why."""
        _check_kind(kind)
        if not isinstance(name, str) or not name.strip():
            raise ComponentError(f"{kind} name must be a non-empty string, got {name!r}")
        key = (kind, name)
        cached = self._cache.get(key)
        if cached is not None and not cached.component.source.registered and is_strict():
            del self._cache[key]  # resolved before strict mode was switched on
        if key not in self._cache:
            resolved = self._resolve_uncached(kind, name)
            problem = type_problem(kind, resolved.obj)
            if problem:
                raise ComponentError(
                    f"{kind} '{name}' ({resolved.component.target}, from {resolved.component.source}) "
                    f"{problem}"
                )
            self._cache[key] = resolved
        return self._cache[key]

    def _resolve_uncached(self, kind: str, name: str) -> Resolved:
        registered = self._registered[kind].get(name)
        if registered:
            return self._load_registered(kind, name, registered)
        by_target = self._registered_by_path(kind, name)
        if by_target is not None:
            return self._load_registered(kind, by_target.name, [by_target])
        if kind in FRAMEWORK_KINDS:
            found = self._resolve_keras(kind, name)
            if found is not None:
                return found
        if is_strict():
            raise ComponentError(
                f"{kind} '{name}' is not registered and strict mode refuses Python paths "
                f"(searched: {self._searched(kind, python_path=False)})"
                + self._suggestion(kind, name)
            )
        obj = _import_path(kind, name)
        if obj is None:
            raise ComponentError(
                f"no {kind} named '{name}' (searched: {self._searched(kind)})"
                + self._suggestion(kind, name)
            )
        target = name if ":" in name else _path_target(name)
        return Resolved(obj, Component(kind, name, target, Source("python path"), lambda: obj))

    def _load_registered(self, kind: str, name: str, entries: List[Component]) -> Resolved:
        if len(entries) > 1:
            listing = "; ".join(f"{e.target} from {e.source}" for e in entries)
            raise ComponentError(
                f"{kind} '{name}' is registered by more than one source ({listing}); "
                f"uninstall or disable one of them, or use the full Python path"
            )
        component = entries[0]
        try:
            obj = component.load()
        except Exception as exc:
            self.failures.append(
                ComponentFailure(kind, name, component.source.name, f"{name} = {component.target}", str(exc))
            )
            raise ComponentError(
                f"{kind} '{name}' from {component.source} (entry point '{name} = {component.target}') "
                f"failed to import: {type(exc).__name__}: {exc}"
            ) from exc
        return Resolved(obj, component)

    def _registered_by_path(self, kind: str, name: str) -> Optional[Component]:
        """A full path that names a registered target counts as that registered component."""
        wanted = name.replace(":", ".")
        for entries in self._registered[kind].values():
            for entry in entries:
                if entry.target.replace(":", ".") == wanted:
                    return entry
        return None

    def _resolve_keras(self, kind: str, name: str) -> Optional[Resolved]:
        namespace = self._keras_namespace(kind)
        short = name
        if name.startswith(LEGACY_PREFIXES):
            short = name.rsplit(".", 1)[-1]
        hit = namespace.get(short)
        if hit is None and kind == "optimizer":
            lowered = {n.lower(): n for n in namespace}
            if short.lower() in lowered:
                hit = namespace[lowered[short.lower()]]
        if hit is None:
            hit = _keras_get(kind, short)
        if hit is None:
            if name.startswith(LEGACY_PREFIXES) and name.startswith(("tensorflow.", "tf.")):
                raise ComponentError(
                    f"{kind} '{name}' is a TensorFlow/Keras path with no Keras 3 equivalent "
                    f"named '{short}'" + self._suggestion(kind, short)
                )
            return None
        target, obj = hit
        return Resolved(obj, Component(kind, name, target, self._keras_source(), lambda: obj))

    def _keras_namespace(self, kind: str) -> Dict[str, Tuple[str, Any]]:
        if kind not in self._keras_names:
            self._keras_names[kind] = _build_keras_namespace(kind)
        return self._keras_names[kind]

    @staticmethod
    def _keras_source() -> Source:
        return Source("keras", "keras", _keras_version())

    def _searched(self, kind: str, python_path: bool = True) -> str:
        parts = [f"entry points '{KIND_GROUPS[kind]}'", "hook-registered components"]
        if kind in FRAMEWORK_KINDS:
            parts.append(f"keras {_KERAS_MODULES[kind]}")
        if python_path:
            parts.append("python path")
        return ", ".join(parts)

    def _suggestion(self, kind: str, name: str) -> str:
        candidates = list(self._registered[kind])
        if kind in FRAMEWORK_KINDS:
            candidates.extend(self._keras_namespace(kind))
        short = name.rsplit(".", 1)[-1].rsplit(":", 1)[-1]
        lowered = {c.lower(): c for c in candidates}
        matches = difflib.get_close_matches(short.lower(), list(lowered), n=3, cutoff=0.6)
        other_kinds = [k for k in KINDS if k != kind and name in self._registered[k]]
        hint = f"; '{name}' is registered as a {' and a '.join(other_kinds)}, not a {kind}" if other_kinds else ""
        if not matches:
            return hint
        return hint + "; did you mean " + " or ".join(f"'{lowered[m]}'" for m in matches) + "?"


def _constant(obj: Any) -> Callable[[], Any]:
    """A ``load`` for a component whose object is already at hand."""
    return lambda: obj


# -- type checks ----------------------------------------------------------------------


def type_problem(kind: str, obj: Any) -> Optional[str]:
    """Why ``obj`` cannot serve as a ``kind`` component, or ``None`` if it can."""
    from barrage.dataset import RecordLoader, RecordTransformer

    if kind == "loader":
        return _subclass_problem(obj, RecordLoader, "barrage.dataset.RecordLoader")
    if kind == "transformer":
        return _subclass_problem(obj, RecordTransformer, "barrage.dataset.RecordTransformer")
    if kind in ("augmentor", "network"):
        if inspect.isclass(obj) or not callable(obj):
            return "is not a function"
        return None
    import keras

    if kind == "loss":
        if (inspect.isclass(obj) and issubclass(obj, keras.losses.Loss)) or inspect.isfunction(obj):
            return None
        return "is neither a keras.losses.Loss subclass nor a loss function"
    if kind == "metric":
        if isinstance(obj, str) and obj in KERAS_COMPILE_METRIC_ALIASES:
            return None
        if (inspect.isclass(obj) and issubclass(obj, keras.metrics.Metric)) or inspect.isfunction(obj):
            return None
        return "is neither a keras.metrics.Metric subclass nor a metric function"
    if kind == "optimizer":
        return _subclass_problem(obj, keras.optimizers.Optimizer, "keras.optimizers.Optimizer")
    if kind == "schedule":
        return _subclass_problem(
            obj, keras.optimizers.schedules.LearningRateSchedule, "keras.optimizers.schedules.LearningRateSchedule"
        )
    if kind == "layer":
        return _subclass_problem(obj, keras.layers.Layer, "keras.layers.Layer")
    return None


def _subclass_problem(obj: Any, base: type, base_name: str) -> Optional[str]:
    if inspect.isclass(obj) and issubclass(obj, base):
        return None
    return f"is not a subclass of {base_name}"


def _check_kind(kind: str) -> None:
    if kind not in KIND_GROUPS:
        raise ComponentError(f"unknown component kind '{kind}' (kinds: {', '.join(KINDS)})")


# -- Keras namespaces -----------------------------------------------------------------

_KERAS_MODULES = {
    "loss": "keras.losses",
    "metric": "keras.metrics",
    "optimizer": "keras.optimizers",
    "schedule": "keras.optimizers.schedules",
    "layer": "keras.layers",
}
_KERAS_NON_COMPONENTS = {"get", "serialize", "deserialize", "Loss", "Metric", "Optimizer", "Layer",
                         "LearningRateSchedule", "legacy", "schedules", "LossScaleOptimizer",
                         "MultiOptimizer", "OptimizerMap", "MeanMetricWrapper"}


def _keras_version() -> str:
    try:
        return metadata.version("keras")
    except metadata.PackageNotFoundError:  # pragma: no cover - keras is a dependency
        return ""


def _build_keras_namespace(kind: str) -> Dict[str, Tuple[str, Any]]:
    """Public names of the Keras module for ``kind`` that pass the kind's type check."""
    module_name = _KERAS_MODULES[kind]
    module = importlib.import_module(module_name)
    names: Dict[str, Tuple[str, Any]] = {}
    for attr in dir(module):
        if attr.startswith("_") or attr in _KERAS_NON_COMPONENTS:
            continue
        obj = getattr(module, attr)
        if type_problem(kind, obj) is None:
            names[attr] = (f"{module_name}.{attr}", obj)
    if kind == "metric":
        for alias in KERAS_COMPILE_METRIC_ALIASES:
            names[alias] = (f"keras compile alias '{alias}'", alias)
    for alias in KERAS_SHORT_ALIASES.get(kind, ()):
        hit = _keras_get(kind, alias)
        if hit is not None:
            names[alias] = hit
    return names


def _keras_get(kind: str, name: str) -> Optional[Tuple[str, Any]]:
    """Ask Keras's own ``get`` for string aliases it knows (``"mse"``)."""
    if kind not in ("loss", "metric"):
        return None
    module = importlib.import_module(_KERAS_MODULES[kind])
    try:
        obj = module.get(name)
    except (ValueError, TypeError):
        return None
    if not inspect.isfunction(obj):
        obj = type(obj) if not inspect.isclass(obj) else obj
    qualname = getattr(obj, "__name__", name)
    return (f"{_KERAS_MODULES[kind]}.{qualname}", obj)


# -- Python paths ---------------------------------------------------------------------


def _path_target(path: str) -> str:
    module, _, attr = path.rpartition(".")
    return f"{module}:{attr}" if module else path


def _import_path(kind: str, path: str) -> Any:
    """Import ``module.attr`` or ``module:attr``; ``None`` if no such module/attribute.

    An error raised *inside* an existing module is reported, not treated as a miss.
    """
    if ":" in path:
        module_name, _, attr_path = path.partition(":")
        candidates = [(module_name, attr_path)]
    else:
        parts = path.split(".")
        candidates = [(".".join(parts[:i]), ".".join(parts[i:])) for i in range(len(parts) - 1, 0, -1)]
    for module_name, attr_path in candidates:
        if not module_name or not attr_path:
            continue
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name and (module_name == exc.name or module_name.startswith(exc.name + ".")):
                continue
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


# -- the process-wide registry --------------------------------------------------------

_registry: Optional[Registry] = None


def get_registry() -> Registry:
    """The process-wide registry: entry points plus the components plugins register."""
    global _registry
    if _registry is None:
        from barrage.plugins import get_plugin_manager

        registry = Registry()
        registry.add_entry_points()
        registry.add_hook_components(get_plugin_manager())
        _registry = registry
    return _registry


def reset_registry() -> None:
    """Forget the process-wide registry so that the next use rebuilds it."""
    global _registry
    _registry = None


def resolve(kind: str, name: str) -> Resolved:
    """Shorthand for ``get_registry().resolve(kind, name)``."""
    return get_registry().resolve(kind, name)


def describe_components(components: Iterable[Component]) -> List[Dict[str, str]]:
    """Plain dicts for JSON listing."""
    return [component.describe() for component in components]
