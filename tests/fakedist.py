"""Fake installed distributions for entry-point tests, written into a temporary folder.

``importlib.metadata`` finds a ``<name>-<version>.dist-info`` folder on ``sys.path`` just as
it finds a pip-installed package, so a test can declare entry points (and the modules they
point at) without installing anything. The folder must be put on ``sys.path`` (in-process:
``monkeypatch.syspath_prepend``; in a subprocess: ``PYTHONPATH``).
"""

from __future__ import annotations

import textwrap
import uuid
from pathlib import Path
from typing import Dict, Mapping, Optional


def unique(prefix: str) -> str:
    """A module name no other test uses, so ``sys.modules`` never serves a stale copy."""
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def write_module(root: Path, name: str, source: str) -> None:
    """Write ``source`` (dedented) as module ``name`` (dots make packages) under ``root``."""
    parts = name.split(".")
    folder = root
    for package in parts[:-1]:
        folder = folder / package
        folder.mkdir(exist_ok=True)
        init = folder / "__init__.py"
        if not init.exists():
            init.write_text("")
    (folder / f"{parts[-1]}.py").write_text(textwrap.dedent(source))


def write_distribution(
    root: Path,
    name: str,
    version: str,
    entry_points: Mapping[str, Mapping[str, str]],
    modules: Optional[Dict[str, str]] = None,
) -> Path:
    """Write a ``.dist-info`` folder declaring ``entry_points`` (group -> {name: target}).

    ``modules`` maps module names to their source, written beside the metadata.
    """
    info = root / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    lines = []
    for group, points in entry_points.items():
        lines.append(f"[{group}]")
        lines.extend(f"{ep_name} = {target}" for ep_name, target in points.items())
        lines.append("")
    (info / "entry_points.txt").write_text("\n".join(lines))
    for module_name, source in (modules or {}).items():
        write_module(root, module_name, source)
    return info
