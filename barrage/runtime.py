"""The runtime: one object that owns the plugin manager, the registry and the policy.

The CLI makes one per command; the Python API takes one (``BarrageModel(dir,
runtime=...)``, ``prepare_config(config, runtime=...)``) or uses :func:`default_runtime`,
made on first use. Environment variables are read once, when a :class:`Policy` is made
from them; after that nothing reads them again.

Environment switches (each ``1``/``true``/``yes``/``on`` to enable):

- ``BARRAGE_STRICT``: only registered components resolve (no Python paths).
- ``BARRAGE_ALLOW_UNSAFE_LAYERS``: allow layers that load or run external code or graphs
  (``TFSMLayer``, ``Lambda``, ...; see :mod:`barrage.registry.trust`).
- ``BARRAGE_DISABLE_PLUGINS=a,b``: skip the plugins with these entry-point names.
- ``BARRAGE_DISABLE_PLUGIN_AUTOLOAD``: load no entry-point plugin at all.
- ``BARRAGE_STRICT_PLUGINS``: a plugin that fails to load is fatal.
- ``BARRAGE_TRACE_PLUGINS``: print every hook call and its duration to standard error.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import platform
import sys
from importlib import metadata
from typing import Any, Dict, FrozenSet, Iterator, Mapping, Optional

import attrs

from barrage.plugins import ENTRY_POINT_GROUP, PluginInfo, PluginManager
from barrage.registry import KINDS, Registry, Source

_TRUE = {"1", "true", "yes", "on"}


def _flag(environ: Mapping[str, str], name: str) -> bool:
    return environ.get(name, "").strip().lower() in _TRUE


@attrs.frozen
class Policy:
    """What a runtime allows and how it loads plugins (see the module docstring)."""

    strict: bool = False
    allow_unsafe_layers: bool = False
    autoload_plugins: bool = True
    disabled_plugins: FrozenSet[str] = frozenset()
    strict_plugins: bool = False
    trace_plugins: bool = False

    @classmethod
    def from_environment(cls, environ: Optional[Mapping[str, str]] = None, **overrides: Any) -> "Policy":
        """The policy the environment asks for; ``overrides`` that are not ``None`` win."""
        environ = os.environ if environ is None else environ
        disabled = {name.strip() for name in environ.get("BARRAGE_DISABLE_PLUGINS", "").split(",") if name.strip()}
        policy = cls(
            strict=_flag(environ, "BARRAGE_STRICT"),
            allow_unsafe_layers=_flag(environ, "BARRAGE_ALLOW_UNSAFE_LAYERS"),
            autoload_plugins=not _flag(environ, "BARRAGE_DISABLE_PLUGIN_AUTOLOAD"),
            disabled_plugins=frozenset(disabled),
            strict_plugins=_flag(environ, "BARRAGE_STRICT_PLUGINS"),
            trace_plugins=_flag(environ, "BARRAGE_TRACE_PLUGINS"),
        )
        return attrs.evolve(policy, **{key: value for key, value in overrides.items() if value is not None})


class Runtime:
    """The plugin manager, the registry and the policy of one command or session.

    Plugins load when the runtime is made; the registry is built on first use (reading
    entry points, then calling every plugin's ``barrage_register_components``).
    """

    def __init__(self, policy: Optional[Policy] = None, plugins: Optional[PluginManager] = None) -> None:
        self.policy = policy if policy is not None else Policy.from_environment()
        if plugins is None:
            plugins = PluginManager(trace=sys.stderr if self.policy.trace_plugins else None)
            if self.policy.autoload_plugins:
                plugins.load_entry_point_plugins(self.policy.disabled_plugins, self.policy.strict_plugins)
        self.plugins = plugins
        self._registry: Optional[Registry] = None

    def with_policy(self, **changes: Any) -> "Runtime":
        """A runtime with the same plugins and a policy changed by ``changes``."""
        return Runtime(attrs.evolve(self.policy, **changes), self.plugins)

    @property
    def registry(self) -> Registry:
        """Entry-point components plus those plugins register through their hook."""
        if self._registry is None:
            registry = Registry(strict=self.policy.strict, allow_unsafe_layers=self.policy.allow_unsafe_layers)
            registry.add_entry_points()
            self.plugins.call_each(
                "barrage_register_components", lambda plugin: {"registry": registry.registrar(_hook_source(plugin))}
            )
            self._registry = registry
        return self._registry

    def register_plugin(self, plugin: Any, name: str, distribution: str = "", version: str = "") -> None:
        """Register a hook plugin in-process (as if ``distribution`` had installed it)."""
        self.plugins.register_plugin(plugin, name, distribution, version)
        self._registry = None  # rebuilt on next use, with this plugin's components

    @contextlib.contextmanager
    def activate(self) -> Iterator["Runtime"]:
        """Make this the runtime :func:`current_runtime` returns while the block runs
        (for components, such as ``sequential_from_config``, that resolve names)."""
        token = _active.set(self)
        try:
            yield self
        finally:
            _active.reset(token)

    def environment_info(self) -> Dict[str, Any]:
        """Versions a later reader needs to reproduce a run (``environment.json``)."""
        distributions: Dict[str, str] = {}
        for group in (ENTRY_POINT_GROUP, *(kind.group for kind in KINDS.values())):
            for entry_point in metadata.entry_points(group=group):
                dist = getattr(entry_point, "dist", None)
                if dist is not None:
                    distributions[dist.metadata["Name"]] = dist.version
        return {
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            **{name: _version(name) for name in ("barrage", "tensorflow", "keras", "numpy", "pandas")},
            "plugin_distributions": dict(sorted(distributions.items())),
        }


def _hook_source(plugin: PluginInfo) -> Source:
    return Source("distribution", plugin.distribution or plugin.name, plugin.version, f"hook {plugin.name}")


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return ""


_active: contextvars.ContextVar[Optional[Runtime]] = contextvars.ContextVar("barrage_runtime", default=None)
_default: Optional[Runtime] = None


def default_runtime() -> Runtime:
    """The runtime the Python API uses when it is given none, made on first use."""
    global _default
    if _default is None:
        _default = Runtime()
    return _default


def reset_default_runtime() -> None:
    """Forget the default runtime: the next use makes a new one (re-reading the
    environment and reloading plugins)."""
    global _default
    _default = None


def current_runtime() -> Runtime:
    """The runtime of the run in progress (see :meth:`Runtime.activate`), else the default."""
    return _active.get() or default_runtime()
