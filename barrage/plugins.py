"""The plugin manager: loads hook plugins from the ``barrage`` entry-point group.

Environment switches:

- ``BARRAGE_DISABLE_PLUGINS=a,b``: skip the plugins with these entry-point names (their
  hooks never run, and the components they register through hooks never appear).
- ``BARRAGE_DISABLE_PLUGIN_AUTOLOAD=1``: load no entry-point plugin at all.
- ``BARRAGE_STRICT_PLUGINS=1``: a plugin that fails to import is fatal instead of being
  reported and skipped.
"""

from __future__ import annotations

import os
import sys
import traceback
from importlib import metadata
from typing import Any, Dict, List, Optional

import attrs
import pluggy

from barrage import hookspecs
from barrage.errors import PluginError

ENTRY_POINT_GROUP = "barrage"


@attrs.frozen
class PluginInfo:
    """A loaded hook plugin: its entry-point name, distribution and implemented hooks."""

    name: str
    distribution: str
    version: str
    module: str
    hooks: tuple


@attrs.frozen
class PluginFailure:
    """A plugin that could not be loaded, with the error it raised."""

    name: str
    distribution: str
    version: str
    error: str


class BarragePluginManager(pluggy.PluginManager):
    """A pluggy manager that remembers where each plugin came from and which failed."""

    def __init__(self) -> None:
        super().__init__(hookspecs.PROJECT_NAME)
        self.add_hookspecs(hookspecs)
        self.infos: Dict[str, PluginInfo] = {}
        self.failures: List[PluginFailure] = []

    def load_entry_point_plugins(self) -> None:
        """Import and register every plugin of the ``barrage`` group that is not disabled."""
        if _env_flag("BARRAGE_DISABLE_PLUGIN_AUTOLOAD"):
            return
        disabled = disabled_plugin_names()
        for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP):
            if entry_point.name in disabled or self.has_plugin(entry_point.name):
                continue
            distribution, version = distribution_of(entry_point)
            try:
                plugin = entry_point.load()
                self.register_plugin(plugin, entry_point.name, distribution, version)
            except Exception as exc:  # a broken plugin must not break Barrage
                if _env_flag("BARRAGE_STRICT_PLUGINS"):
                    raise PluginError(
                        f"plugin '{entry_point.name}' ({distribution} {version}) failed to "
                        f"load: {type(exc).__name__}: {exc}"
                    ) from exc
                self.failures.append(
                    PluginFailure(entry_point.name, distribution, version, f"{type(exc).__name__}: {exc}")
                )

    def register_plugin(
        self, plugin: Any, name: str, distribution: str = "", version: str = ""
    ) -> None:
        """Register ``plugin`` under ``name`` and remember its provenance.

        A hook implementation with arguments its spec lacks, or a ``barrage_*`` hook name
        that no spec declares (a typo that would otherwise never run), is refused with a
        ``PluginError`` and leaves nothing registered.
        """
        try:
            self.register(plugin, name=name)
        except pluggy.PluginValidationError as exc:
            if self.has_plugin(name):
                self.unregister(name=name)
            raise PluginError(f"plugin '{name}' has an invalid hook: {exc}") from exc
        callers = self.get_hookcallers(plugin) or []
        unknown = sorted(c.name for c in callers if c.name.startswith("barrage_") and not c.has_spec())
        if unknown:
            self.unregister(name=name)
            raise PluginError(f"plugin '{name}' implements unknown hook(s): {', '.join(unknown)}")
        hooks = tuple(sorted(caller.name for caller in callers))
        module = getattr(plugin, "__name__", type(plugin).__name__)
        self.infos[name] = PluginInfo(name, distribution, version, module, hooks)

    def unregister_plugin(self, name: str) -> None:
        """Remove a plugin registered with :meth:`register_plugin`."""
        self.unregister(name=name)
        self.infos.pop(name, None)

    def describe(self, plugin_name: str) -> str:
        """``'name' (distribution version)`` for messages."""
        info = self.infos.get(plugin_name)
        if info is None or not info.distribution:
            return f"'{plugin_name}'"
        return f"'{plugin_name}' ({info.distribution} {info.version})"

    def call(self, hook_name: str, **kwargs: Any) -> List[Any]:
        """Call a hook; an exception inside it becomes a ``PluginError`` naming the plugin."""
        caller = getattr(self.hook, hook_name)
        try:
            return caller(**kwargs)
        except Exception as exc:
            raise self._blame(hook_name, exc) from exc

    def call_chained(self, hook_name: str, value_name: str, value: Any, **kwargs: Any) -> Any:
        """Call each implementation in turn, feeding each the value the previous returned.

        An implementation that returns ``None`` leaves the value as it was.
        """
        caller = getattr(self.hook, hook_name)
        for impl in reversed(caller.get_hookimpls()):
            arguments = dict(kwargs, **{value_name: value})
            try:
                result = impl.function(**{name: arguments[name] for name in impl.argnames})
            except Exception as exc:
                raise self.hook_error(impl.plugin_name, hook_name, exc) from exc
            if result is not None:
                value = result
        return value

    def _blame(self, hook_name: str, exc: Exception) -> Exception:
        codes = {frame.f_code for frame, _ in traceback.walk_tb(exc.__traceback__)}
        for impl in getattr(self.hook, hook_name).get_hookimpls():
            if getattr(impl.function, "__code__", None) in codes:
                return self.hook_error(impl.plugin_name, hook_name, exc)
        return exc

    def hook_error(self, plugin_name: str, hook_name: str, exc: Exception) -> PluginError:
        """The error reported when ``plugin_name`` raised ``exc`` inside ``hook_name``."""
        return PluginError(
            f"plugin {self.describe(plugin_name)} raised in {hook_name}: {type(exc).__name__}: {exc}"
        )


def distribution_of(entry_point: metadata.EntryPoint) -> tuple:
    """The ``(name, version)`` of the distribution that declares ``entry_point``."""
    dist = getattr(entry_point, "dist", None)
    if dist is None:
        return ("", "")
    return (dist.metadata["Name"] or "", dist.version or "")


def disabled_plugin_names() -> set:
    """Entry-point names listed in ``BARRAGE_DISABLE_PLUGINS``."""
    raw = os.environ.get("BARRAGE_DISABLE_PLUGINS", "")
    return {name.strip() for name in raw.split(",") if name.strip()}


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


_manager: Optional[BarragePluginManager] = None


def get_plugin_manager() -> BarragePluginManager:
    """The process-wide plugin manager, loading entry-point plugins on first use."""
    global _manager
    if _manager is None:
        manager = BarragePluginManager()
        manager.load_entry_point_plugins()
        _manager = manager
    return _manager


def reset_plugin_manager() -> None:
    """Forget loaded plugins (and the registry built from them); used by tests."""
    global _manager
    _manager = None
    registry_module = sys.modules.get("barrage.registry")
    if registry_module is not None:
        registry_module.reset_registry()
