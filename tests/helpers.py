"""Helpers several test modules share (fixtures live in ``conftest.py``)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load_example_module(example: str, module: str = "make_data") -> ModuleType:
    """Import ``examples/<example>/<module>.py`` (the examples are not a package)."""
    path = EXAMPLES / example / f"{module}.py"
    spec = importlib.util.spec_from_file_location(f"{example}_{module}", path)
    assert spec is not None and spec.loader is not None, path
    loaded = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(loaded)
    return loaded
