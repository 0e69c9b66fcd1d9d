"""The cerberus schema of a Barrage config and its defaults.

Defaults are merged before validation, block by block: a block the user gives replaces
the default block whole ("all or none"), so a user who writes ``best_checkpoint`` must
write all of it. A service block set to ``null`` switches that service off.
"""

from __future__ import annotations

import copy
import json
from typing import Any, Dict

import cerberus
from cerberus import errors as cerberus_errors

from barrage.services import configurable_services

IMPORT_BLOCK_FIELDS: Dict[str, Any] = {
    "import": {"type": "string", "required": True, "empty": False},
    "params": {"type": "dict"},
    # Written into the resolved config so a reader knows where each component came from;
    # recomputed on every resolution, so a stale value is harmless.
    "source": {"type": "string"},
    "target": {"type": "string"},
}


MAX_COUNT = 2**31 - 1  # batch sizes, epochs, steps: what TensorFlow's int32 counters hold
MAX_SEED = 2**32 - 1  # what NumPy's legacy seeding (keras.utils.set_random_seed) accepts
MAX_WORKERS = 256


def import_block(**extra: Any) -> Dict[str, Any]:
    return {"type": "dict", "schema": IMPORT_BLOCK_FIELDS, **extra}


SCHEMA: Dict[str, Any] = {
    "dataset": {
        "type": "dict",
        "required": True,
        "schema": {
            "loader": import_block(required=True),
            "transformer": import_block(),
            "augmentor": {"type": "list", "schema": import_block()},
            "sample_count": {"type": "string", "nullable": True, "empty": False},
            "seed": {"type": "integer", "nullable": True, "min": 0, "max": MAX_SEED},
            "workers": {"type": "integer", "nullable": True, "min": 1, "max": MAX_WORKERS},
            "streaming": {"type": ["boolean", "string"], "allowed": ["auto", True, False]},
            "shuffle": {"type": "boolean"},
            "shuffle_buffer": {"type": "integer", "min": 0, "max": MAX_COUNT},
            "text_keys": {"type": "list", "schema": {"type": "string", "empty": False}},
        },
    },
    "model": {
        "type": "dict",
        "required": True,
        "schema": {
            "network": import_block(required=True),
            "outputs": {
                "type": "list",
                "required": True,
                "minlength": 1,
                "schema": {
                    "type": "dict",
                    "schema": {
                        "name": {"type": "string", "required": True, "empty": False},
                        "loss": import_block(required=True),
                        "loss_weight": {"type": "number", "min": 0, "nullable": True},
                        "metrics": {"type": "list", "schema": import_block()},
                        "sample_weight_mode": {"type": "string", "nullable": True},
                    },
                },
            },
        },
    },
    "solver": {
        "type": "dict",
        "schema": {
            "optimizer": {
                "type": "dict",
                "schema": {
                    "import": {"type": "string", "required": True, "empty": False},
                    "learning_rate": {"required": True},  # number or import block: checks.py
                    "params": {"type": "dict"},
                    "source": {"type": "string"},
                    "target": {"type": "string"},
                },
            },
            "batch_size": {"type": "integer", "min": 1, "max": MAX_COUNT},
            "epochs": {"type": "integer", "min": 1, "max": MAX_COUNT},
            "steps": {"type": "integer", "min": 1, "max": MAX_COUNT, "nullable": True},
            **{spec.name: spec.schema() for spec in configurable_services("solver")},
        },
    },
    "services": {
        "type": "dict",
        "schema": {spec.name: spec.schema() for spec in configurable_services("services")},
    },
    # Written by ``--set`` (barrage.config.overrides): each overridden path and its value.
    "overrides": {"type": "dict", "keysrules": {"type": "string", "empty": False}},
    # Where an editor finds the JSON Schema of configs (``barrage config schema``).
    "$schema": {"type": "string"},
}

DEFAULTS: Dict[str, Dict[str, Any]] = {
    "dataset": {
        "transformer": {"import": "IdentityTransformer", "params": {}},
        "augmentor": [],
        "sample_count": None,
        "seed": None,
        "workers": None,
        "streaming": "auto",
        "shuffle": True,
        "shuffle_buffer": 16384,
        "text_keys": [],
    },
    "model": {},
    "solver": {
        "optimizer": {"import": "Adam", "learning_rate": 1e-3, "params": {}},
        "batch_size": 32,
        "epochs": 50,
        "steps": None,
        **{spec.name: spec.default for spec in configurable_services("solver")},
    },
    "services": {spec.name: spec.default for spec in configurable_services("services")},
}


def merge_defaults(config: Dict[str, Any]) -> Dict[str, Any]:
    """A copy of ``config`` with every missing block filled from :data:`DEFAULTS`."""
    merged = copy.deepcopy(config)
    for section, defaults in DEFAULTS.items():
        if section not in merged and section in ("solver", "services"):
            merged[section] = {}
        block = merged.get(section)
        if not isinstance(block, dict):
            continue
        for key, value in defaults.items():
            if key not in block:
                block[key] = copy.deepcopy(value)
    return merged


class _ErrorHandler(cerberus_errors.BasicErrorHandler):
    """Cerberus messages reworded to read as sentences after a dotted path."""

    messages = {
        **cerberus_errors.BasicErrorHandler.messages,
        **{
            0x02: "is required",
            0x03: "is not a known key",
            0x04: "requires {constraint}",
            0x22: "must not be empty",
            0x23: "must not be null",
            0x24: "must be of type {constraint}",
            0x27: "must have at least {constraint} item(s)",
            0x42: "must be at least {constraint}",
            0x43: "must be at most {constraint}",
            0x44: "must be one of {constraint}, got {value}",
        },
    }

    def _format_message(self, field: Any, error: Any) -> str:
        """Allowed values and the value given as JSON writes them (``true``, ``"auto"``)."""
        if error.code == 0x44:
            allowed = ", ".join(_as_json(option) for option in error.constraint)
            return self.messages[0x44].format(constraint=allowed, value=_as_json(error.value))
        return super()._format_message(field, error)


def _as_json(value: Any) -> str:
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)


class _Validator(cerberus.Validator):
    """Cerberus counts ``true``/``false`` as integers (bool subclasses int); a config must not."""

    types_mapping = {
        **cerberus.Validator.types_mapping,
        "integer": cerberus.TypeDefinition("integer", (int,), (bool,)),
    }


def schema_problems(config: Dict[str, Any]) -> list:
    """Every schema violation of a defaults-merged config as ``"path: message"``."""
    validator = _Validator(SCHEMA, error_handler=_ErrorHandler)
    validator.validate(config)
    return list(_flatten(validator.errors, ""))


def _flatten(errors: Any, path: str):
    if isinstance(errors, dict):
        for key, value in errors.items():
            child = f"{path}[{key}]" if isinstance(key, int) else (f"{path}.{key}" if path else str(key))
            yield from _flatten(value, child)
    elif isinstance(errors, list):
        for item in errors:
            yield from _flatten(item, path)
    else:
        yield f"{path}: {errors}"
