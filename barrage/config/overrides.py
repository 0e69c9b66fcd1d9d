"""Command-line overrides of a config: ``--set PATH=VALUE``.

``PATH`` is a dotted path with list indices (``solver.epochs``,
``model.outputs[0].loss_weight``); ``VALUE`` is read as JSON (``5``, ``0.5``, ``null``,
``true``, ``[1, 2]``, ``{"import": "SGD", "learning_rate": 0.1}``) and, when it is not
JSON, kept as the text it is (``--set solver.optimizer.import=SGD``). Keys of objects
that are missing along the path are created (``--set solver.epochs=5`` works on a config
without a ``solver`` section); a list index must name an item that exists.

The overrides applied are recorded under the config's top-level ``overrides`` key, path
to value in the order given, so ``config.json`` says how a run's config differs from the
file it was started with. Overrides are applied before defaults are merged and the
config is validated, so an override is checked like any other value.
"""

from __future__ import annotations

import copy
import re
from typing import Any, Dict, List, Sequence, Tuple, Union

from barrage.artifacts import JSONProblem, parse_json
from barrage.errors import ConfigError

OVERRIDES_KEY = "overrides"
Step = Union[str, int]
_STEP = re.compile(r"\.?([^.\[\]]+)|\[(\d+)\]")


class OverrideError(ConfigError):
    """A ``--set`` assignment that cannot be applied: one problem, said in one line
    (it names the assignment and the place it fails)."""

    def __init__(self, problem: str):
        super().__init__([problem])
        self.args = (problem,)


def parse_path(path: str) -> List[Step]:
    """``"model.outputs[0].loss_weight"`` as ``["model", "outputs", 0, "loss_weight"]``.

    A ``ValueError`` says what is wrong with a path that is not of this form."""
    steps: List[Step] = []
    position = 0
    while position < len(path):
        match = _STEP.match(path, position)
        if match is None or (match.group(0).startswith(".") and not steps):
            raise ValueError(f"'{path}' is not a dotted path (expected e.g. model.outputs[0].loss_weight)")
        key, index = match.groups()
        steps.append(key if key is not None else int(index))
        position = match.end()
    if not steps or not isinstance(steps[0], str):
        raise ValueError(f"'{path}' is not a dotted path (expected e.g. model.outputs[0].loss_weight)")
    return steps


def parse_value(text: str) -> Any:
    """``text`` as JSON, or the text itself when it is not JSON."""
    try:
        return parse_json(text)
    except JSONProblem:
        return text


def parse_assignment(assignment: str) -> Tuple[str, List[Step], Any]:
    """``"PATH=VALUE"`` as its path (text and steps) and its value."""
    path, equals, text = assignment.partition("=")
    path = path.strip()
    if not equals or not path:
        raise OverrideError(f"--set {assignment}: expected PATH=VALUE, e.g. solver.epochs=5")
    try:
        steps = parse_path(path)
    except ValueError as exc:
        raise OverrideError(f"--set {assignment}: {exc}") from None
    return path, steps, parse_value(text)


def apply_overrides(config: Any, assignments: Sequence[str]) -> Any:
    """A copy of ``config`` with every ``PATH=VALUE`` of ``assignments`` applied in
    order and recorded under ``overrides``; ``config`` itself when there are none.

    A path that cannot be followed (an index beyond a list, a key inside a number) is an
    :class:`OverrideError` (a ``ConfigError``) naming the assignment and the place it fails."""
    if not assignments:
        return config
    if not isinstance(config, dict):
        raise ConfigError([f"config: must be a JSON object, got {type(config).__name__}"])
    result = copy.deepcopy(config)
    applied: Dict[str, Any] = dict(result.get(OVERRIDES_KEY) or {})
    for assignment in assignments:
        path, steps, value = parse_assignment(assignment)
        try:
            _set(result, steps, copy.deepcopy(value))
        except LookupError as exc:
            raise OverrideError(f"--set {assignment}: {exc.args[0]}") from None
        applied.pop(path, None)  # the latest assignment of a path comes last
        applied[path] = value
    result[OVERRIDES_KEY] = applied
    return result


def _set(container: Any, steps: List[Step], value: Any) -> None:
    """Set ``value`` at ``steps`` below ``container``, creating missing object keys."""
    where = ""
    for position, step in enumerate(steps):
        last = position == len(steps) - 1
        if isinstance(step, int):
            if not isinstance(container, list):
                raise LookupError(f"{where or 'config'} is {_kind(container)}, not a list: it has no [{step}]")
            if step >= len(container):
                raise LookupError(f"{where}[{step}]: index out of range ({where} has {len(container)} item(s))")
        elif not isinstance(container, dict):
            raise LookupError(f"{where} is {_kind(container)}, not an object: it has no key '{step}'")
        where = f"{where}[{step}]" if isinstance(step, int) else (f"{where}.{step}" if where else step)
        if last:
            container[step] = value
            return
        if isinstance(container, dict) and container.get(step) is None:
            if not isinstance(steps[position + 1], str):
                state = "missing" if step not in container else "null"
                raise LookupError(f"{where} is {state}, not a list: it has no [{steps[position + 1]}]")
            container[step] = {}
        container = container[step]


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "a list", str: "text", bool: "true/false"}.get(type(value), "a number")
