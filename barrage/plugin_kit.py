"""Helpers for plugin authors: parameter checks, state files and a transformer base.

The first-party plugins (``barrage-tabular``, ``barrage-text``, ``barrage-vision``) are
separate distributions; what they share lives here, in the core they all depend on, so
that no plugin copies another's code and a third-party plugin can use the same pieces:

- :func:`positive_int`, :func:`name_list`: check a constructor param, raising the
  ``ValueError``/``TypeError`` Barrage reports as ``dataset.<part>.params: ...``;
- :func:`check_present`: one ``ConfigError`` when a name the transformer was configured
  with is not produced by the loader;
- :func:`replace_parts`: a new data record with some values replaced (never mutate the
  one you were given);
- :func:`save_state`, :func:`load_state`: a transformer's fitted state as one JSON file
  in its ``dataset/`` folder, written atomically and checked when read back;
- :func:`atomic_writer` (from :mod:`barrage.artifacts`): a text file that appears whole
  or not at all, for state that is not JSON;
- :class:`NamedTransformer`: the base of transformers configured with ``inputs`` and
  ``outputs`` names;
- :func:`first_bad_value` (from :mod:`barrage.sources.values`): the first missing or
  non-finite entry of a batched value, with a message naming the record and column;
- :func:`current_runtime` (from :mod:`barrage.runtime`): the runtime of the run in
  progress, whose ``registry`` resolves names, for a component built from other
  components' import blocks (as ``sequential_from_config`` resolves its layers). The
  engine makes its runtime current while it builds the network and the transformer.

Like :mod:`barrage.api`, this module is a contract: it never imports TensorFlow, so a
plugin importing it stays cheap to load.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar, Dict, List, Mapping, Sequence, Tuple, Union

from barrage.artifacts import atomic_writer, read_json, write_json
from barrage.components import name_problems
from barrage.dataset import PARTS, DataRecord, RecordLoader, RecordMode, RecordTransformer
from barrage.errors import ArtifactError, ConfigError
from barrage.runtime import current_runtime
from barrage.sources.values import first_bad_value

__all__ = [
    "Names",
    "NamedTransformer",
    "atomic_writer",
    "check_present",
    "current_runtime",
    "first_bad_value",
    "load_state",
    "name_list",
    "positive_int",
    "replace_parts",
    "save_state",
    "state_file",
]

Names = Union[str, Sequence[str], None]


def positive_int(value: Any, what: str) -> int:
    """``value`` if it is a positive integer (not a bool), else a ``ValueError`` naming ``what``."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{what} must be a positive integer, got {value!r}")
    return value


def name_list(value: Any, param: str, who: str) -> List[str]:
    """``value`` as a list of names: one name or a list of them (no duplicates)."""
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v for v in value):
        raise TypeError(f"{who} '{param}' must be a name or a list of names, got {value!r}")
    duplicates = sorted({v for v in value if list(value).count(v) > 1})
    if duplicates:
        raise ValueError(f"{who} '{param}' names {duplicates} more than once")
    return list(value)


def check_present(
    data_record: DataRecord, wanted: Mapping[str, Tuple[str, Sequence[str]]], who: str, fitting: bool = False
) -> None:
    """Raise one ``ConfigError`` when a named input or output is not loaded.

    ``wanted`` maps a part (``"x"`` or ``"y"``) to ``(param, names)``: the transformer
    param that named them and the names this component needs there. A part the data
    record does not have (``y`` while scoring) is only a problem while ``fitting``.
    """
    produced = {part: sorted(values) for part, values in zip(PARTS, data_record)}
    problems = name_problems(wanted, produced, who, training=fitting)
    if problems:
        raise ConfigError(problems)


def replace_parts(data_record: DataRecord, updates: Mapping[int, Dict[str, Any]]) -> DataRecord:
    """A new data record with ``updates[part index]`` merged into copies of those parts."""
    parts: List[Dict[str, Any]] = []
    for index, part in enumerate(data_record):
        if index in updates:
            part = {**part, **updates[index]}
        parts.append(part)
    return tuple(parts)


def state_file(directory: str, filename: str) -> str:
    """The path of a state file inside a transformer's state directory."""
    return os.path.join(directory, filename)


def save_state(directory: str, filename: str, state: Any) -> None:
    """Write ``state`` as JSON into ``directory`` (created if needed), atomically."""
    os.makedirs(directory, exist_ok=True)
    write_json(state_file(directory, filename), state)


def load_state(directory: str, filename: str, who: str, keys: Tuple[str, ...]) -> Dict[str, Any]:
    """Read a state file written by :func:`save_state`, checking its top-level keys."""
    state = read_json(state_file(directory, filename))
    missing = [key for key in keys if not isinstance(state, dict) or key not in state]
    if missing:
        raise ArtifactError(f"{state_file(directory, filename)}: lacks {missing}; was it written by {who}?")
    return state


class NamedTransformer(RecordTransformer):
    """Base of the transformers configured with input and output *names* (the network's,
    i.e. what the loader produces): ``Standardizer`` and ``CategoricalEncoder``.

    It checks the ``inputs``/``outputs``/``batch_size`` params, says which loaded names
    the transformer needs, and checks that saved state covers the configured names.
    """

    vectorized = True
    who: ClassVar[str] = "transformer"

    def __init__(
        self, mode: RecordMode, loader: RecordLoader, inputs: Names = None, outputs: Names = None,
        batch_size: int = 4096,
    ):
        super().__init__(mode, loader)
        self.names = {
            "inputs": name_list(inputs, "inputs", self.who),
            "outputs": name_list(outputs, "outputs", self.who),
        }
        if not self.names["inputs"] and not self.names["outputs"]:
            raise ValueError(f"{self.who} needs at least one name in 'inputs' or 'outputs'")
        self.batch_size = positive_int(batch_size, f"{self.who} 'batch_size'")

    def requires(self) -> Dict[str, Tuple[str, List[str]]]:
        """The loaded names per part, by param (also what :func:`check_present` checks)."""
        return {"x": ("inputs", self.names["inputs"]), "y": ("outputs", self.names["outputs"])}

    def not_fitted(self) -> ValueError:
        """The error of a transformer used before ``fit`` or ``load``."""
        return ValueError(f"{self.who} is not fitted: call fit() or load() first")

    def check_saved_names(self, path: str, state: Mapping[str, Any], what: str) -> None:
        """Saved state must cover exactly the configured names, group by group."""
        for group, names in self.names.items():
            if sorted(state[group]) != sorted(names):
                raise ArtifactError(
                    f"{path}: the saved {self.who} {what} cover {group} {sorted(state[group])} "
                    f"but this one is configured for {sorted(names)}"
                )
