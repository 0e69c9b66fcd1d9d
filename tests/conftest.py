"""Fixtures of the core's tests only (the shared ones are in the repository's root
``conftest.py``)."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest
from fakedist import unique, write_module


@pytest.fixture
def user_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., str]:
    """Factory: write ``source`` as a module of user code on ``sys.path``; returns its
    (unique) name, so ``sys.modules`` never serves another test's copy."""

    def write(source: str, prefix: str = "user_code") -> str:
        name = unique(prefix)
        write_module(tmp_path, name, source)
        monkeypatch.syspath_prepend(str(tmp_path))
        return name

    return write
