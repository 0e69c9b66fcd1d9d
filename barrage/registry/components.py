"""What the registry holds: components, where they come from, what resolving gives."""

from __future__ import annotations

from typing import Any, Callable, Dict

import attrs


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
        """Registered components (and Keras's) are what strict mode admits."""
        return self.kind in ("distribution", "keras")


PYTHON_PATH = Source("python path")


@attrs.define
class Component:
    """One resolvable component. ``load`` imports it; listing never calls it."""

    kind: str
    name: str
    target: str
    source: Source
    load: Callable[[], Any] = attrs.field(repr=False)

    def describe(self) -> Dict[str, str]:
        """The row ``barrage components list`` prints."""
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


def constant(obj: Any) -> Callable[[], Any]:
    """A ``load`` for a component whose object is already at hand."""
    return lambda: obj
