"""Fixtures shared by the core's tests (``tests/``) and the first-party plugins' tests
(``barrage_plugins/*/tests/``): a clean runtime per test, tiny records and configs, the
examples, and a fresh Python to check what an import pulls in.

The development environment has every first-party plugin installed, the tracking plugin
(``barrage-mlflow``, hook plugin ``mlflow``) included. It would log every training run of
the suite, so tests run with it disabled (``QUIET_PLUGINS``) unless they enable it, as its
own tests do; and whatever MLflow logs goes to a store in a temporary folder.
"""

from __future__ import annotations

import copy
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, Dict, List

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from barrage.runtime import reset_default_runtime  # noqa: E402

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "tests"))  # plain helper modules of the tests: sample_data, fakedist, ...

from sample_data import BASE_CONFIG, make_records  # noqa: E402
EXAMPLES = ROOT / "examples"
QUIET_PLUGINS = "mlflow"
_MLFLOW_STORE = "BARRAGE_TEST_MLFLOW_STORE"


def pytest_configure(config: pytest.Config) -> None:
    """Send any MLflow logging of the session (subprocesses included) to a temporary store."""
    store = tempfile.mkdtemp(prefix="barrage-test-mlflow-")
    os.environ[_MLFLOW_STORE] = store
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{store}/mlflow.db"


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(os.environ.pop(_MLFLOW_STORE, ""), ignore_errors=True)


@pytest.fixture(autouse=True)
def fresh_plugins(monkeypatch: pytest.MonkeyPatch):
    """Every test starts with no cached plugin manager or registry and no Barrage env flags
    but the one that keeps the tracking plugin quiet."""
    flags = ("BARRAGE_STRICT", "BARRAGE_DISABLE_PLUGIN_AUTOLOAD", "BARRAGE_STRICT_PLUGINS")
    for name in flags:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BARRAGE_DISABLE_PLUGINS", QUIET_PLUGINS)
    reset_default_runtime()
    yield
    reset_default_runtime()


@pytest.fixture(autouse=True)
def keep_warning_display(monkeypatch: pytest.MonkeyPatch):
    """The CLI routes warnings through click; undo that after each test."""
    monkeypatch.setattr(warnings, "showwarning", warnings.showwarning)


@pytest.fixture
def records() -> Callable[..., List[Dict[str, Any]]]:
    """Factory for tiny labelled records (see :func:`make_records`)."""
    return make_records


@pytest.fixture
def config() -> Dict[str, Any]:
    """A small valid config (3 features -> 2 classes, 2 epochs); a fresh copy per test."""
    return copy.deepcopy(BASE_CONFIG)


@pytest.fixture
def example_module() -> Callable[..., ModuleType]:
    """Factory: import ``examples/<example>/<module>.py`` (the examples are not a package)."""

    def load(example: str, module: str = "make_data") -> ModuleType:
        path = EXAMPLES / example / f"{module}.py"
        spec = importlib.util.spec_from_file_location(f"{example}_{module}", path)
        assert spec is not None and spec.loader is not None, path
        loaded = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(loaded)
        return loaded

    return load


@pytest.fixture
def fresh_python() -> Callable[[str], subprocess.CompletedProcess]:
    """Factory: run ``script`` in a new interpreter of this environment; it must succeed
    (for checks of what importing a module pulls in, which a warm process cannot make)."""

    def run(script: str) -> subprocess.CompletedProcess:
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        return done

    return run
