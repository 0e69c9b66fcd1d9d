"""Config files: reading JSON and YAML.

A config file is JSON unless its name ends in ``.yaml`` or ``.yml``, which is read with
PyYAML's safe loader (plain data only: no Python objects, no code). A YAML config
must hold what JSON can: a YAML date, a key that is not text or a set is refused with
its dotted path, so that every config Barrage reads means the same as JSON. A key given
twice in one mapping is refused (JSON files too), rather than the last one silently
winning; anchors and aliases (and ``<<`` merges) work, but an alias inside the value
it names, or aliases that multiply into more than :data:`MAX_VALUES` values (a "billion
laughs" file), are refused before anything walks them.
"""

from __future__ import annotations

import datetime
import functools
import os
from collections.abc import Hashable
from typing import Any, Dict, FrozenSet, Iterator, Tuple

from barrage.artifacts import JSONProblem, parse_json
from barrage.errors import ConfigError

YAML_EXTENSIONS = (".yaml", ".yml")
MAX_VALUES = 100_000  # values of a config with its aliases written out; real ones hold hundreds


def is_yaml(path: str) -> bool:
    """Whether ``path`` names a YAML file (by its extension)."""
    return os.path.splitext(path)[1].lower() in YAML_EXTENSIONS


def load_config_file(path: str) -> Any:
    """Read a JSON or YAML config file, turning every way it can be unreadable into a
    ``ConfigError`` naming the file (and the line, for a syntax error)."""
    if not os.path.isfile(path):
        raise ConfigError([f"{path}: no such file"])
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{path}: cannot be read: {exc}"]) from None
    if is_yaml(path):
        data = parse_yaml(text, path)
        if data is None:  # YAML reads an empty file (or one of comments) as nothing
            raise ConfigError([f"{path}: is empty; a config is a mapping with dataset, model, solver and services"])
        return data
    try:
        return parse_json(text)
    except JSONProblem as exc:
        raise ConfigError([f"{path}: {exc}"]) from None


def parse_yaml(text: str, path: str) -> Any:
    """The YAML document ``text`` (from ``path``, for messages) as plain JSON data."""
    import yaml

    try:
        data = yaml.load(text, Loader=_loader())  # noqa: S506 - a SafeLoader subclass
        _check_size(data, path)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ConfigError([f"{path}: invalid YAML{where}: {exc.problem or exc.context}"]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([f"{path}: invalid YAML: {exc}"]) from None
    except RecursionError:
        raise ConfigError([f"{path}: nested too deeply to be a Barrage file"]) from None
    problems = [f"{path}: {where}: {problem}" for where, problem in _not_json(data, "config")]
    if problems:
        raise ConfigError(problems)
    return data


@functools.lru_cache(maxsize=1)
def _loader() -> Any:
    """PyYAML's safe loader, refusing a key given twice in one mapping."""
    import yaml

    class StrictSafeLoader(yaml.SafeLoader):
        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            seen = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue  # keys a << merge brings may be overridden: that is what it is for
                key = self.construct_object(key_node, deep=True)
                if not isinstance(key, Hashable):
                    continue  # refused later, as a key that is not text
                if key in seen:
                    raise yaml.constructor.ConstructorError(None, None, f"the key {key!r} is given twice",
                                                            key_node.start_mark)
                seen.add(key)
            return super().construct_mapping(node, deep=deep)

    return StrictSafeLoader


def _check_size(data: Any, path: str) -> None:
    """A ``ConfigError`` if aliases make ``data`` refer to itself, or multiply it past
    :data:`MAX_VALUES` values (counted without writing anything out)."""
    sizes: Dict[int, int] = {}

    def size(value: Any, enclosing: FrozenSet[int]) -> int:
        if not isinstance(value, (dict, list)):
            return 1
        key = id(value)
        if key in enclosing:
            raise ConfigError([f"{path}: a YAML alias is used inside the value it names"])
        if key not in sizes:
            items = value.values() if isinstance(value, dict) else value
            inner = enclosing | {key}
            sizes[key] = 1 + sum(size(item, inner) for item in items)
            if sizes[key] > MAX_VALUES:
                raise ConfigError([f"{path}: its YAML aliases repeat values into more than {MAX_VALUES:,}; "
                                   "a config needs far fewer"])
        return sizes[key]

    size(data, frozenset())


def _not_json(value: Any, where: str) -> Iterator[Tuple[str, str]]:
    """``(dotted path, problem)`` for every value of ``value`` that JSON cannot hold."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                yield where, f"key {key!r} is not text (quote it)"
            else:
                yield from _not_json(item, key if where == "config" else f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _not_json(item, f"{where}[{index}]")
    elif isinstance(value, (datetime.date, datetime.datetime)):
        yield where, f"{value!s} is a YAML date, which JSON cannot hold (quote it)"
    elif value is not None and not isinstance(value, (str, int, float, bool)):
        yield where, f"a YAML {type(value).__name__} is not JSON data"
