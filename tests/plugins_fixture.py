"""Installs the test plugin distributions under ``tests/plugins/`` for real, once per session.

Each distribution is copied to a temporary folder (so that building it leaves no
``build/`` or ``*.egg-info`` behind in the source tree) and pip-installed, offline and
without dependencies, into its own target folder. A CLI run in a subprocess with that
folder on ``PYTHONPATH`` sees the distribution exactly as it would after a
``pip install``: ``importlib.metadata`` finds its ``*.dist-info`` (name, version, entry
points) on ``sys.path``. Both installs run in parallel; together they take about a second.

Test modules load the fixture with ``pytest_plugins = ["plugins_fixture"]`` and import
the helpers; nothing here needs pytest's assertion rewriting (PYTEST_DONT_REWRITE).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Mapping, Optional, Sequence

import attrs
import pytest

try:
    import tomllib
except ImportError:  # Python 3.10: pip vendors the same parser
    from pip._vendor import tomli as tomllib  # type: ignore[no-redef]

PLUGINS_SOURCE = Path(__file__).parent / "plugins"
EXAMPLE = "barrage-example-plugin"
BROKEN = "barrage-broken-plugin"
LOG_VARIABLE = "BARRAGE_EXAMPLE_PLUGIN_LOG"
# barrage-mlflow's hook plugin, installed in the development environment: disabled in these
# subprocesses unless a test's own BARRAGE_DISABLE_PLUGINS says otherwise (see conftest.py).
QUIET_PLUGINS = "mlflow"
BARRAGE_FLAGS = (
    "BARRAGE_STRICT",
    "BARRAGE_DISABLE_PLUGINS",
    "BARRAGE_DISABLE_PLUGIN_AUTOLOAD",
    "BARRAGE_STRICT_PLUGINS",
    LOG_VARIABLE,
)


def project_metadata(distribution: str) -> Dict[str, str]:
    """``name`` and ``version`` as the distribution's own ``pyproject.toml`` declares them."""
    with open(PLUGINS_SOURCE / distribution / "pyproject.toml", "rb") as handle:
        project = tomllib.load(handle)["project"]
    return {"name": project["name"], "version": project["version"]}


def barrage_command() -> List[str]:
    """The ``barrage`` console script of the running interpreter's environment."""
    script = Path(sys.executable).parent / "barrage"
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from barrage.cli import main; main()"]


@attrs.frozen
class InstalledPlugins:
    """Target folders holding the installed distributions, and a way to run the CLI there."""

    targets: Mapping[str, str]

    def environment(self, distributions: Sequence[str], extra: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
        """A clean environment (no Barrage switches but the quiet tracking plugin) that
        sees ``distributions`` on top of what the running environment has installed."""
        env = {k: v for k, v in os.environ.items() if k not in BARRAGE_FLAGS}
        env["BARRAGE_DISABLE_PLUGINS"] = QUIET_PLUGINS
        paths = [self.targets[name] for name in distributions]
        if env.get("PYTHONPATH"):
            paths.append(env["PYTHONPATH"])
        env["PYTHONPATH"] = os.pathsep.join(paths)
        env["TF_CPP_MIN_LOG_LEVEL"] = "2"
        env.update(extra or {})
        return env

    def run(
        self,
        *args: str,
        distributions: Sequence[str] = (EXAMPLE,),
        env: Optional[Mapping[str, str]] = None,
        cwd: Optional[str] = None,
        timeout: float = 240,
    ) -> subprocess.CompletedProcess:
        """Run ``barrage ARGS`` in a subprocess that sees ``distributions`` installed."""
        return subprocess.run(
            barrage_command() + list(args),
            env=self.environment(distributions, env),
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def python(
        self, code: str, distributions: Sequence[str] = (EXAMPLE,), env: Optional[Mapping[str, str]] = None
    ) -> subprocess.CompletedProcess:
        """Run ``python -c CODE`` in a subprocess that sees ``distributions`` installed."""
        return subprocess.run(
            [sys.executable, "-c", code],
            env=self.environment(distributions, env),
            capture_output=True,
            text=True,
            timeout=120,
        )


def install_distributions(names: Sequence[str], workdir: Path) -> Dict[str, str]:
    """pip-install each distribution of ``tests/plugins`` into its own target folder."""
    copies = {}
    for name in names:
        copies[name] = workdir / "src" / name
        shutil.copytree(
            PLUGINS_SOURCE / name, copies[name], ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__")
        )
    return install_directories(copies, workdir / "site")


def install_directories(sources: Mapping[str, Path], site: Path) -> Dict[str, str]:
    """pip-install each project folder of ``sources`` into ``site/<name>``, all in parallel.

    Offline (``--no-index``), without dependencies and without build isolation, so it
    needs only pip and setuptools in the running environment. The build writes into the
    project folder, so pass copies, not folders of the source tree.
    """
    if importlib.util.find_spec("setuptools") is None:
        pytest.fail("installing the test plugins needs setuptools in the test environment (pip install setuptools)")
    processes = {}
    targets = {}
    for name, source in sources.items():
        targets[name] = str(site / name)
        processes[name] = subprocess.Popen(
            [
                sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-index",
                "--no-build-isolation", "--disable-pip-version-check", "--target", targets[name], str(source),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
    for name, process in processes.items():
        output, _ = process.communicate(timeout=180)
        if process.returncode != 0:
            pytest.fail(f"pip could not install {sources[name]}:\n{output}")
    return targets


@pytest.fixture(scope="session")
def installed_plugins(tmp_path_factory: pytest.TempPathFactory) -> InstalledPlugins:
    """The example and the broken test distributions, pip-installed once per session."""
    workdir = tmp_path_factory.mktemp("installed-plugins")
    return InstalledPlugins(install_distributions([EXAMPLE, BROKEN], workdir))
