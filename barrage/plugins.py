"""The plugin manager: loads hook plugins and calls their hooks.

Plugins come from the ``barrage`` entry-point group (loaded with pluggy's own
``load_setuptools_entrypoints``, one plugin at a time so that a broken one is reported
and skipped) or are registered in-process with :meth:`PluginManager.register_plugin`.
Disabled plugins are blocked with pluggy's ``set_blocked``.

Every hook is called through one loop, :meth:`PluginManager._each`: it calls the
implementations in pluggy's order (the most recently registered first, ``tryfirst`` and
``trylast`` respected), turns an exception or a result of the wrong type
(``hookspecs.RESULT_CHECKS``) into a :class:`~barrage.errors.PluginError` naming the
plugin and its distribution, and, when tracing is on, prints each call and its
duration. Hook wrappers are refused at registration: Barrage calls implementations one
at a time.
"""

from __future__ import annotations

import time
from importlib import metadata
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, TextIO, Tuple

import attrs
import pluggy
from packaging.utils import canonicalize_name

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
    hooks: Tuple[str, ...]

    def describe(self) -> str:
        """``'name' (distribution version)`` for messages."""
        return f"'{self.name}' ({self.distribution} {self.version})" if self.distribution else f"'{self.name}'"


@attrs.frozen
class PluginFailure:
    """A plugin that could not be loaded, with the error it raised."""

    name: str
    distribution: str
    version: str
    error: str


class PluginManager(pluggy.PluginManager):
    """A pluggy manager that remembers where each plugin came from and which failed.

    ``trace`` is a stream to which each hook call and its duration are written
    (``BARRAGE_TRACE_PLUGINS=1`` sets it to standard error), or ``None``.
    """

    def __init__(self, trace: Optional[TextIO] = None) -> None:
        super().__init__(hookspecs.PROJECT_NAME)
        self.add_hookspecs(hookspecs)
        self.infos: Dict[str, PluginInfo] = {}
        self.failures: List[PluginFailure] = []
        self.disabled: List[str] = []  # installed plugins skipped on request (BARRAGE_DISABLE_PLUGINS)
        self.unknown_disabled: List[str] = []  # names asked to be skipped that no plugin has
        self.trace_stream = trace

    # -- loading ----------------------------------------------------------------------

    def load_entry_point_plugins(self, disabled: Iterable[str] = (), strict: bool = False) -> None:
        """Load every plugin of the ``barrage`` group except ``disabled`` ones.

        A plugin that fails to import or has an invalid hook is recorded in
        :attr:`failures` and skipped, or raised as a ``PluginError`` when ``strict``.
        """
        entry_points = metadata.entry_points(group=ENTRY_POINT_GROUP)
        for name in disabled:
            self.set_blocked(name)
        self.disabled = sorted(set(disabled) & set(entry_points.names))
        self.unknown_disabled = sorted(set(disabled) - set(entry_points.names))
        for entry_point in entry_points:
            if self.is_blocked(entry_point.name):
                continue
            distribution, version = distribution_of(entry_point)
            if self.has_plugin(entry_point.name):
                self._refuse_taken_name(entry_point.name, distribution, version, strict)
                continue
            try:
                self.load_setuptools_entrypoints(ENTRY_POINT_GROUP, name=entry_point.name)
            except Exception as exc:  # a broken plugin must not break Barrage
                if strict:
                    raise PluginError(
                        f"plugin '{entry_point.name}' ({distribution} {version}) failed to load: "
                        f"{type(exc).__name__}: {exc}"
                    ) from exc
                self.failures.append(
                    PluginFailure(entry_point.name, distribution, version, f"{type(exc).__name__}: {exc}")
                )

    def _refuse_taken_name(self, name: str, distribution: str, version: str, strict: bool) -> None:
        """A second distribution declaring a plugin ``name`` already loaded from another
        is not loaded (the first one on the path wins, as for imports) and says so."""
        owner = self.infos.get(name)
        if owner is None or canonicalize_name(owner.distribution) == canonicalize_name(distribution):
            return  # the same distribution seen twice (e.g. on the path twice)
        reason = (f"the plugin name '{name}' is already taken by {owner.distribution} {owner.version}; "
                  "not loaded (the two distributions must use different entry-point names)")
        if strict:
            raise PluginError(f"plugin '{name}' ({distribution} {version}): {reason}")
        self.failures.append(PluginFailure(name, distribution, version, reason))

    def register(self, plugin: Any, name: Optional[str] = None) -> Optional[str]:
        """pluggy's ``register``, refusing invalid hooks with a ``PluginError`` and
        remembering the plugin's distribution (for entry-point plugins)."""
        name = name or self.get_canonical_name(plugin)
        try:
            registered = super().register(plugin, name=name)
        except pluggy.PluginValidationError as exc:
            if self.has_plugin(name):
                super().unregister(name=name)
            raise PluginError(f"plugin '{name}' has an invalid hook: {exc}") from exc
        problem = self._hook_problem(plugin)
        if problem:
            super().unregister(name=name)
            raise PluginError(f"plugin '{name}' {problem}")
        return registered

    def register_plugin(self, plugin: Any, name: str, distribution: str = "", version: str = "") -> None:
        """Register ``plugin`` in-process under ``name``, as coming from ``distribution``."""
        self.register(plugin, name=name)
        self._remember(plugin, name, distribution, version)

    def load_setuptools_entrypoints(self, group: str, name: Optional[str] = None) -> int:
        count = super().load_setuptools_entrypoints(group, name)
        for plugin, dist in self.list_plugin_distinfo():
            plugin_name = self.get_name(plugin)
            if plugin_name and plugin_name not in self.infos:
                self._remember(plugin, plugin_name, dist.metadata["Name"] or "", dist.version or "")
        return count

    def _hook_problem(self, plugin: Any) -> Optional[str]:
        callers = self.get_hookcallers(plugin) or []
        unknown = sorted(c.name for c in callers if c.name.startswith("barrage_") and not c.has_spec())
        if unknown:
            return f"implements unknown hook(s): {', '.join(unknown)}"
        wrappers = sorted(
            impl.function.__name__ for caller in callers for impl in caller.get_hookimpls()
            if impl.plugin is plugin and (impl.hookwrapper or impl.wrapper)
        )
        if wrappers:
            return f"implements {', '.join(wrappers)} as a wrapper; Barrage calls hook implementations one by one"
        return None

    def _remember(self, plugin: Any, name: str, distribution: str, version: str) -> None:
        hooks = tuple(sorted(caller.name for caller in self.get_hookcallers(plugin) or []))
        module = getattr(plugin, "__name__", type(plugin).__name__)
        self.infos[name] = PluginInfo(name, distribution, version, module, hooks)

    def describe(self, plugin_name: str) -> str:
        """``'name' (distribution version)`` for messages."""
        info = self.infos.get(plugin_name)
        return info.describe() if info else f"'{plugin_name}'"

    # -- calling ----------------------------------------------------------------------

    def call(self, hook_name: str, **kwargs: Any) -> List[Any]:
        """Call every implementation with ``kwargs``; the results that are not ``None``."""
        return [result for _, result in self._each(hook_name, lambda _plugin: kwargs) if result is not None]

    def call_chained(self, hook_name: str, value_name: str, value: Any,
                     check: Optional[Callable[[Any], Optional[str]]] = None, **kwargs: Any) -> Any:
        """Call each implementation with the value the previous one returned (``None``
        keeps it), starting from ``value``; the last value. ``check(result)`` says what
        is wrong with a result, if anything, and the plugin that returned it is named."""
        current = {value_name: value}
        for plugin, result in self._each(hook_name, lambda _plugin: {**kwargs, **current}):
            if result is None:
                continue
            problem = check(result) if check is not None else None
            if problem:
                raise PluginError(f"plugin {plugin.describe()} {problem} in {hook_name}")
            current[value_name] = result
        return current[value_name]

    def results(self, hook_name: str, **kwargs: Any) -> List[Tuple[PluginInfo, Any]]:
        """``(plugin, result)`` of every implementation called with ``kwargs``."""
        return list(self._each(hook_name, lambda _plugin: kwargs))

    def call_each(self, hook_name: str, arguments: Callable[[PluginInfo], Dict[str, Any]]) -> List[Any]:
        """Call each implementation with the arguments ``arguments(plugin)`` makes for it."""
        return [result for _, result in self._each(hook_name, arguments)]

    def _each(
        self, hook_name: str, arguments: Callable[[PluginInfo], Dict[str, Any]]
    ) -> Iterator[Tuple[PluginInfo, Any]]:
        """The one loop behind every hook call (see the module docstring)."""
        for impl in reversed(getattr(self.hook, hook_name).get_hookimpls()):
            plugin = self.infos.get(impl.plugin_name) or PluginInfo(impl.plugin_name, "", "", "", ())
            given = arguments(plugin)
            started = time.perf_counter()
            try:
                result = impl.function(**{name: given[name] for name in impl.argnames})
            except Exception as exc:
                raise self.hook_error(impl.plugin_name, hook_name, exc) from exc
            finally:
                self._trace(hook_name, plugin, time.perf_counter() - started)
            problem = hookspecs.RESULT_CHECKS[hook_name](result)
            if problem:
                raise PluginError(f"plugin {plugin.describe()} {problem} in {hook_name}")
            yield plugin, result

    def _trace(self, hook_name: str, plugin: PluginInfo, seconds: float) -> None:
        if self.trace_stream is not None:
            self.trace_stream.write(f"barrage: {hook_name} -> plugin {plugin.describe()}: {seconds * 1000:.1f} ms\n")
            self.trace_stream.flush()

    def hook_error(self, plugin_name: str, hook_name: str, exc: Exception) -> PluginError:
        """The error reported when ``plugin_name`` raised ``exc`` inside ``hook_name``."""
        return PluginError(f"plugin {self.describe(plugin_name)} raised in {hook_name}: {type(exc).__name__}: {exc}")


def distribution_of(entry_point: metadata.EntryPoint) -> Tuple[str, str]:
    """The ``(name, version)`` of the distribution that declares ``entry_point``."""
    dist = getattr(entry_point, "dist", None)
    if dist is None:
        return ("", "")
    return (dist.metadata["Name"] or "", dist.version or "")
