"""Values no real config holds: nesting deeper than any config needs, numbers that are
not finite, integers beyond any sane range, and keys that are not strings.

These are checked first, on the raw config, so that every later step (a deep copy, the
schema, the resolution) works on plain, bounded JSON.
"""

from __future__ import annotations

import math
from typing import Any, Iterator, List, Tuple

MAX_DEPTH = 32
MAX_INTEGER = 2**53  # the largest integer every JSON reader keeps exactly


def value_problems(config: Any) -> List[str]:
    """``"path: problem"`` for every absurd value (stops descending past ``MAX_DEPTH``).
    A value ``--set`` put in place is reported once, under the path the user wrote, not
    again in the record of the overrides (``overrides.<path>``)."""
    problems = [f"{path or 'config'}: {problem}" for path, problem in _walk(config, "", 0)]
    return [line for line in problems
            if not (line.startswith("overrides.") and line[len("overrides."):] in problems)]


def _walk(value: Any, path: str, depth: int) -> Iterator[Tuple[str, str]]:
    if depth > MAX_DEPTH:
        yield path, f"is nested more than {MAX_DEPTH} levels deep"
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                yield path, f"has a key that is not a string ({key!r})"
                continue
            yield from _walk(item, f"{path}.{key}" if path else key, depth + 1)
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            yield from _walk(item, f"{path}[{index}]", depth + 1)
    elif isinstance(value, float) and not math.isfinite(value):
        yield path, f"must be a finite number, got {value!r}"
    elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INTEGER:
        yield path, "is beyond any sane range (larger than 2**53)"
