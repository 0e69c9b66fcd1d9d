"""Exceptions Barrage raises for problems a user can fix.

Every error a user can cause (a bad config, a bad record, a missing component, a broken
plugin, an artifact directory in the way) is a :class:`BarrageError`. The CLI prints
these as one clear message and exits with status 2; anything else is a bug and keeps
its traceback.
"""

from __future__ import annotations

from typing import Iterable, List


class BarrageError(Exception):
    """Base class of every error caused by the user's input rather than by Barrage."""


class ConfigError(BarrageError):
    """A config has one or more problems, each given as ``"dotted.path: message"``."""

    def __init__(self, problems: Iterable[str]):
        self.problems: List[str] = list(problems)
        count = len(self.problems)
        header = f"config has {count} problem{'s' if count != 1 else ''}:"
        super().__init__("\n".join([header] + [f"  {p}" for p in self.problems]))


class DataError(BarrageError):
    """Records cannot be read or turned into batches (names the record or the file)."""


class ComponentError(BarrageError):
    """A component cannot be resolved: unknown, ambiguous, wrong type or failed import."""


class PluginError(BarrageError):
    """A plugin failed to load, or raised inside one of its hooks."""


class ArtifactError(BarrageError):
    """An artifact directory is missing, incomplete, damaged, or in the way of a new run."""


class TrainingError(BarrageError):
    """Training cannot go on: the loss diverged (NaN or infinite)."""


class ClusterError(BarrageError):
    """A distributed run cannot start or go on: a bad ``TF_CONFIG`` or ``--distribute``
    choice, devices already set up, or a worker of the cluster lost."""
