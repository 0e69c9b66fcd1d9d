"""Config files: reading JSON and YAML.

A config file is JSON unless its name ends in ``.yaml`` or ``.yml``, which is read with
PyYAML's ``safe_load`` (plain data only: no Python objects, no code). A YAML config
must hold what JSON can: a YAML date, a key that is not text or a set is refused with
its dotted path, so that every config Barrage reads means the same as JSON.
"""

from __future__ import annotations

import datetime
import os
from typing import Any, Iterator, Tuple

from barrage.artifacts import JSONProblem, parse_json
from barrage.errors import ConfigError

YAML_EXTENSIONS = (".yaml", ".yml")


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
        return parse_yaml(text, path)
    try:
        return parse_json(text)
    except JSONProblem as exc:
        raise ConfigError([f"{path}: {exc}"]) from None


def parse_yaml(text: str, path: str) -> Any:
    """The YAML document ``text`` (from ``path``, for messages) as plain JSON data."""
    import yaml

    try:
        data = yaml.safe_load(text)
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
