"""The JSON Schema of a Barrage config, derived from the cerberus schema the validator uses.

``barrage config schema`` prints it, for editors that complete and check JSON and YAML
files against a JSON Schema. It is computed from :data:`barrage.config.schema.SCHEMA`
(and the defaults of :data:`~barrage.config.schema.DEFAULTS`, shown as ``default``), so
there is one description of a config, not two. Every cerberus rule the schema uses is
translated; a rule without a translation is an error, so a new rule cannot be dropped
silently. What cerberus cannot say (a learning rate that is a number or an import block,
callback keywords, resolvable names) is checked by ``barrage validate`` only.
"""

from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional

from barrage.config.schema import DEFAULTS, SCHEMA

DIALECT = "http://json-schema.org/draft-07/schema#"
TYPES = {"dict": "object", "list": "array", "string": "string", "integer": "integer", "number": "number",
         "boolean": "boolean"}
# Rules that are handled where the parent is (``required``) or that translate to nothing.
_HANDLED_ELSEWHERE = {"required"}


def json_schema() -> Dict[str, Any]:
    """The JSON Schema (draft 7) of a config file."""
    root = convert_rule({"type": "dict", "schema": SCHEMA}, defaults=DEFAULTS, where="config")
    return {
        "$schema": DIALECT,
        "title": "Barrage config",
        "description": "A Barrage config (see docs/config.md); `barrage validate` checks what a schema cannot.",
        **root,
    }


def convert_rule(rule: Mapping[str, Any], defaults: Any = None, where: str = "config") -> Dict[str, Any]:
    """One cerberus rule set as a JSON Schema; ``defaults`` are the default values of a
    dict's keys (shown to editors), ``where`` names the rule in errors."""
    unknown = sorted(set(rule) - set(_TRANSLATIONS) - _HANDLED_ELSEWHERE)
    if unknown:
        raise ValueError(f"{where}: no JSON Schema translation for the cerberus rule(s) {unknown}")
    schema: Dict[str, Any] = {}
    for name in _TRANSLATIONS:
        if name in rule:
            _TRANSLATIONS[name](schema, rule, defaults, where)
    if rule.get("nullable"):
        _allow_null(schema)
    return schema


def _type(schema: Dict[str, Any], rule: Mapping[str, Any], defaults: Any, where: str) -> None:
    names = rule["type"] if isinstance(rule["type"], list) else [rule["type"]]
    types = [TYPES[name] for name in names]
    schema["type"] = types[0] if len(types) == 1 else types


def _children(schema: Dict[str, Any], rule: Mapping[str, Any], defaults: Any, where: str) -> None:
    if _is(rule, "list"):
        schema["items"] = convert_rule(rule["schema"], where=f"{where}[]")
        return
    fields: Mapping[str, Any] = rule["schema"]
    defaults = defaults if isinstance(defaults, Mapping) else {}
    properties = {}
    root = where == "config"  # DEFAULTS maps each section to the defaults of its keys
    for key, child in fields.items():
        properties[key] = convert_rule(child, defaults.get(key) if root else None, f"{where}.{key}")
        if not root and key in defaults:
            properties[key]["default"] = defaults[key]
    schema["properties"] = properties
    required = [key for key, child in fields.items() if child.get("required")]
    if required:
        schema["required"] = required
    if not rule.get("allow_unknown"):
        schema["additionalProperties"] = False


def _bound(keyword: str) -> Any:
    def translate(schema: Dict[str, Any], rule: Mapping[str, Any], defaults: Any, where: str) -> None:
        name = {"min": "minimum", "max": "maximum"}[keyword]
        schema[name] = rule[keyword]

    return translate


def _length(keyword: str) -> Any:
    def translate(schema: Dict[str, Any], rule: Mapping[str, Any], defaults: Any, where: str) -> None:
        size = "Length" if _is(rule, "string") else "Items"
        schema[("min" if keyword == "minlength" else "max") + size] = rule[keyword]

    return translate


def _empty(schema: Dict[str, Any], rule: Mapping[str, Any], defaults: Any, where: str) -> None:
    if rule["empty"] is False:
        keyword = {"string": "minLength", "list": "minItems", "dict": "minProperties"}.get(_first_type(rule) or "")
        if keyword:
            schema[keyword] = max(1, schema.get(keyword, 0))


def _allowed(schema: Dict[str, Any], rule: Mapping[str, Any], defaults: Any, where: str) -> None:
    schema["enum"] = list(rule["allowed"])


def _keys(schema: Dict[str, Any], rule: Mapping[str, Any], defaults: Any, where: str) -> None:
    schema["propertyNames"] = convert_rule(rule["keysrules"], where=f"{where} keys")


def _values(schema: Dict[str, Any], rule: Mapping[str, Any], defaults: Any, where: str) -> None:
    schema["additionalProperties"] = convert_rule(rule["valuesrules"], where=f"{where} values")


def _nothing(schema: Dict[str, Any], rule: Mapping[str, Any], defaults: Any, where: str) -> None:
    """Rules whose meaning other rules carry (``nullable`` is applied last; a dict
    without ``allow_unknown`` gets ``additionalProperties: false`` from ``schema``)."""


def _allow_null(schema: Dict[str, Any]) -> None:
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        schema["type"] = [*types, "null"]
    if "enum" in schema:
        schema["enum"] = [*schema["enum"], None]


def _first_type(rule: Mapping[str, Any]) -> Optional[str]:
    declared = rule.get("type")
    types: List[Optional[str]] = list(declared) if isinstance(declared, list) else [declared]
    return types[0] if types else None


def _is(rule: Mapping[str, Any], name: str) -> bool:
    return _first_type(rule) == name


# In the order they are applied (``type`` first: others read the JSON type it sets).
_TRANSLATIONS = {
    "type": _type,
    "schema": _children,
    "min": _bound("min"),
    "max": _bound("max"),
    "minlength": _length("minlength"),
    "maxlength": _length("maxlength"),
    "empty": _empty,
    "allowed": _allowed,
    "keysrules": _keys,
    "valuesrules": _values,
    "nullable": _nothing,
    "allow_unknown": _nothing,
}
