"""Turning a user's config into a resolved, validated config.

``prepare_config`` merges defaults, validates the schema, applies cross-field rules,
resolves every import through the registry and reports *every* problem at once in one
:class:`~barrage.errors.ConfigError`, each with its dotted path. Nothing is written to
disk here.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional

from barrage.config.checks import (
    BarrageConfigWarning,
    check_callback_keywords,
    check_learning_rate,
    check_outputs,
    check_reducer,
    check_text_keys,
    correct_monitors,
    resolve_imports,
)
from barrage.config.files import load_config_file
from barrage.config.overrides import apply_overrides
from barrage.config.schema import DEFAULTS, SCHEMA, merge_defaults, schema_problems
from barrage.config.values import value_problems
from barrage.errors import ConfigError
from barrage.runtime import Runtime, default_runtime

__all__ = [
    "BarrageConfigWarning",
    "ConfigError",
    "DEFAULTS",
    "SCHEMA",
    "apply_overrides",
    "load_config_file",
    "prepare_config",
]


def prepare_config(config: Any, runtime: Optional[Runtime] = None) -> Dict[str, Any]:
    """Return the resolved config for ``config`` or raise one ``ConfigError``.

    The resolved config is plain JSON: defaults applied, monitors corrected, and every
    import block carrying the ``source`` and ``target`` it resolved to. ``runtime``
    supplies the plugins and the registry (the default runtime when not given).
    """
    if not isinstance(config, dict):
        raise ConfigError([f"config: must be a JSON object, got {type(config).__name__}"])
    absurd = value_problems(config)
    if absurd:
        raise ConfigError(sorted(absurd, key=_path_order))
    runtime = runtime or default_runtime()
    registry = runtime.registry  # built first: plugins register components before configs are seen
    raw = json.loads(json.dumps(config))  # a deep copy that also proves it is plain JSON
    problems: List[str] = []
    for plugin_problems in runtime.plugins.call("barrage_prepare_config", config=raw):
        problems.extend(plugin_problems)
    merged = merge_defaults(raw)
    problems.extend(schema_problems(merged))
    problems.extend(check_outputs(merged))
    problems.extend(check_learning_rate(merged))
    problems.extend(check_reducer(merged))
    problems.extend(check_text_keys(merged))
    correct_monitors(merged)
    problems.extend(check_callback_keywords(merged))
    problems.extend(resolve_imports(merged, registry))
    if problems:
        raise ConfigError(sorted(_unique(problems), key=_path_order))
    return merged


def _path_order(problem: str) -> tuple:
    sections = ["dataset", "model", "solver", "services"]
    head = problem.split(".", 1)[0].split(":", 1)[0]
    return (sections.index(head) if head in sections else len(sections), problem.split(": ", 1)[0])


def _unique(problems: List[str]) -> List[str]:
    return list(dict.fromkeys(problems))
