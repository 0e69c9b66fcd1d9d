"""The core and the first-party plugins are separate distributions.

Fast checks read the ``pyproject.toml`` files and import the core in a fresh interpreter.
The slow one (marker ``slow``, run by ``make test`` and so by CI) builds every wheel and
installs them into a fresh virtualenv: with only the core, no vision component is listed;
adding the ``barrage-vision`` wheel lists them with its distribution and version; removing
it removes them.

The fresh virtualenv gets the third-party packages it needs (TensorFlow, NumPy, ...) from
the running environment through a read-only overlay (links to everything its
site-packages holds except Barrage's own distributions), so the check is quick and needs
no network; every Barrage distribution in it comes from a wheel built here.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path
from typing import Dict, List, Mapping

import pytest

try:
    import tomllib
except ImportError:  # Python 3.10: pip vendors the same parser
    from pip._vendor import tomli as tomllib  # type: ignore[no-redef]

ROOT = Path(__file__).resolve().parent.parent
PLUGINS = sorted(path.parent for path in (ROOT / "barrage_plugins").glob("*/pyproject.toml"))
FIRST_PARTY = ["barrage-mlflow", "barrage-tabular", "barrage-text", "barrage-vision"]
VISION_COMPONENTS = {("loader", "ImageLoader"), ("augmentor", "random_flip"), ("augmentor", "random_crop"),
                     ("augmentor", "random_brightness")}
# What a build needs none of: outputs, caches, tests, and the checkout's other folders.
SOURCE_COPY_IGNORED = shutil.ignore_patterns(
    "build", "dist", "*.egg-info", "__pycache__", ".venv", ".git", "tests", "barrage_plugins", "examples", "docs",
    "benchmarks", "demo-artifacts", "mlruns", "mlflow.db", "*.so",
)


def project(folder: Path) -> Dict:
    with open(folder / "pyproject.toml", "rb") as handle:
        return tomllib.load(handle)


def import_name(distribution: str) -> str:
    return distribution.replace("-", "_")


# -- the layout -----------------------------------------------------------------------


def test_the_core_is_version_1_and_registers_only_its_own_components():
    core = project(ROOT)["project"]
    assert core["name"] == "barrage" and tuple(map(int, core["version"].split("."))) >= (1, 0, 0)
    targets = [target for group in core["entry-points"].values() for target in group.values()]
    assert targets and all(target.startswith("barrage.") for target in targets), targets
    requirements = " ".join(core["dependencies"]).lower()
    assert "pillow" not in requirements and "mlflow" not in requirements


def test_each_plugin_folder_is_a_complete_distribution_requiring_barrage_1():
    assert [folder.name for folder in PLUGINS] == FIRST_PARTY
    for folder in PLUGINS:
        meta = project(folder)
        package = import_name(folder.name)
        assert meta["project"]["name"] == folder.name
        assert meta["project"]["version"] == "1.0.0"
        assert "barrage>=1.0" in meta["project"]["dependencies"]
        assert meta["tool"]["setuptools"]["packages"] == [package]
        assert (folder / package / "__init__.py").is_file() and (folder / "README.md").is_file()
        assert list((folder / "tests").glob("test_*.py")), f"{folder.name} has no tests"
        targets = [t for group in meta["project"]["entry-points"].values() for t in group.values()]
        assert targets and all(t.split(":")[0].split(".")[0] == package for t in targets), targets
    assert "pillow" in " ".join(project(ROOT / "barrage_plugins" / "barrage-vision")["project"]["dependencies"])


def test_core_never_imports_the_first_party_plugins(fresh_python):
    fresh_python(
        "import sys\n"
        "import barrage, barrage.cli, barrage.engine, barrage.sources, barrage.plugin_kit\n"
        "from barrage.runtime import Runtime, Policy\n"
        "assert Runtime(Policy(autoload_plugins=False)).registry.components('transformer')\n"
        f"plugins = {[import_name(name) for name in FIRST_PARTY]!r}\n"
        "imported = [m for m in sys.modules if m.split('.')[0] in plugins]\n"
        "assert not imported, imported\n"
    )


# -- wheels in a fresh virtualenv -----------------------------------------------------


def build_wheels(sources: Mapping[str, Path], workdir: Path) -> Dict[str, Path]:
    """A wheel of each project folder, built in parallel from a copy (the build writes
    into the folder), offline and without build isolation (setuptools from this env)."""
    processes = {}
    for name, source in sources.items():
        copy = workdir / "src" / name
        shutil.copytree(source, copy, ignore=SOURCE_COPY_IGNORED)
        processes[name] = subprocess.Popen(
            [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(workdir / "wheels" / name),
             str(copy)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
    wheels = {}
    for name, process in processes.items():
        output, _ = process.communicate(timeout=300)
        assert process.returncode == 0, f"building {name} failed:\n{output[-3000:]}"
        (wheels[name],) = (workdir / "wheels" / name).glob("*.whl")
    return wheels


def wheel_metadata(wheel: Path) -> Dict[str, List[str]]:
    """The ``METADATA`` fields of a wheel, each a list of its values."""
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        text = archive.read(name).decode("utf-8").split("\n\n", 1)[0]
    fields: Dict[str, List[str]] = {}
    for line in text.splitlines():
        key, _, value = line.partition(": ")
        fields.setdefault(key, []).append(value)
    return fields


def top_level_entries(wheel: Path) -> set:
    with zipfile.ZipFile(wheel) as archive:
        return {name.split("/")[0] for name in archive.namelist()}


def has_c_compiler() -> bool:
    """Whether setuptools can build a C extension here: the compiler it runs (``$CC`` or
    Python's own) and Python's headers."""
    compiler = (os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc").split()[0]
    headers = Path(sysconfig.get_paths()["include"], "Python.h")
    return shutil.which(compiler) is not None and headers.is_file()


class FreshEnvironment:
    """A new virtualenv whose only Barrage distributions are the wheels installed into it."""

    def __init__(self, folder: Path):
        self.folder = folder
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True, timeout=120)
        self.python = folder / "bin" / "python"
        overlay = self.overlay(folder.parent / "overlay")
        site = subprocess.run([str(self.python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                              capture_output=True, text=True, check=True).stdout.strip()
        Path(site, "dependencies-overlay.pth").write_text(str(overlay) + "\n", encoding="utf-8")

    @staticmethod
    def overlay(folder: Path) -> Path:
        """Links to the running environment's packages, Barrage's distributions left out."""
        folder.mkdir()
        for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
            if not entry.name.lower().startswith(("barrage", "__editable__")):
                (folder / entry.name).symlink_to(entry)
        return folder

    def pip(self, *args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "pip", "--python", str(self.python), *args,
                               "--disable-pip-version-check"], capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def components(self) -> Dict[tuple, Dict[str, str]]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("BARRAGE_", "PYTHONPATH"))}
        done = subprocess.run([str(self.folder / "bin" / "barrage"), "components", "list", "--json"], env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return {(row["kind"], row["name"]): row for row in json.loads(done.stdout)}


@pytest.mark.slow
def test_wheels_install_and_uninstall_plugins_in_a_fresh_virtualenv(tmp_path):
    wheels = build_wheels({"barrage": ROOT, **{folder.name: folder for folder in PLUGINS}}, tmp_path)
    core = wheel_metadata(wheels["barrage"])
    assert core["Version"] == ["1.0.0"]
    assert not [r for r in core["Requires-Dist"] if r.lower().startswith(("pillow", "mlflow"))]
    assert top_level_entries(wheels["barrage"]) == {"barrage", "barrage-1.0.0.dist-info"}
    if has_c_compiler():  # the optional C gather is in the wheel (else Barrage reads dicts in Python)
        with zipfile.ZipFile(wheels["barrage"]) as archive:
            assert any(name.startswith("barrage/records/_speedups.") and name.endswith((".so", ".pyd"))
                       for name in archive.namelist()), archive.namelist()
    for name in FIRST_PARTY:
        assert "barrage>=1.0" in wheel_metadata(wheels[name])["Requires-Dist"], name
        assert top_level_entries(wheels[name]) == {import_name(name), f"{import_name(name)}-1.0.0.dist-info"}

    fresh = FreshEnvironment(tmp_path / "venv")
    fresh.pip("install", "--no-deps", "--no-index", str(wheels["barrage"]))
    only_core = fresh.components()
    assert {row["source"] for row in only_core.values()} == {"barrage 1.0.0"}
    assert not VISION_COMPONENTS & set(only_core)

    fresh.pip("install", "--no-deps", "--no-index", str(wheels["barrage-vision"]))
    fresh.pip("check")  # barrage-vision's requirements (barrage>=1.0, pillow) are met
    with_vision = fresh.components()
    assert VISION_COMPONENTS <= set(with_vision)
    assert {with_vision[key]["source"] for key in VISION_COMPONENTS} == {"barrage-vision 1.0.0"}
    assert set(with_vision) - VISION_COMPONENTS == set(only_core)

    fresh.pip("uninstall", "--yes", "barrage-vision")
    assert fresh.components() == only_core
