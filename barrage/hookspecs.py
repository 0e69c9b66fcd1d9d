"""Every hook a Barrage plugin can implement, documented where it is declared.

A plugin is a module (or object) listed in the ``barrage`` entry-point group of an
installed distribution, with functions named after these hooks and decorated with
``@barrage.hookimpl``::

    [project.entry-points.barrage]
    my_plugin = "my_pkg.barrage_plugin"

Hooks are called by keyword, so an implementation may accept only the arguments it
uses. Where several plugins implement a hook, pluggy calls the most recently registered
first. A hook that raises stops the run with a :class:`~barrage.errors.PluginError` that
names the plugin.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, List, Optional

import pluggy

if TYPE_CHECKING:  # pragma: no cover - imports for annotations only
    import click

    from barrage.context import RunContext
    from barrage.dataset import Records, RecordScore
    from barrage.registry import Registrar

PROJECT_NAME = "barrage"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def barrage_register_components(registry: "Registrar") -> None:
    """Add components to the registry with ``registry.register(kind, name, obj)``.

    Called once per command (or per ``Runtime``), when its registry is first built: by
    ``barrage components list`` and before any config is resolved. ``kind`` is a
    singular kind name (``"loader"``, ``"augmentor"``, ...). Components added here are
    listed with the plugin's distribution as their source, exactly like entry-point
    components, and disappear when the plugin is disabled. ``registry.resolve`` and
    ``registry.components`` are available too.
    """


@hookspec
def barrage_prepare_config(config: Dict[str, Any]) -> Optional[List[str]]:
    """Inspect or amend a raw config before it is validated.

    ``config`` is the user's dict; a plugin may add defaults by changing it in place.
    To refuse a config, return a list of problems as ``"dotted.path: message"`` strings:
    they are reported together with the schema's own problems in one ``ConfigError``.
    """


@hookspec
def barrage_callbacks(context: "RunContext") -> Optional[List[Any]]:
    """Return extra ``keras.callbacks.Callback`` objects for a training run.

    Called once per ``train`` after the services are built and before
    ``barrage_pre_fit``, with the run's context (``context.config``,
    ``context.artifact_dir``, the compiled ``context.network``). The callbacks run after
    Barrage's own services and before the resume checkpoint that closes each epoch. An
    exception one of them raises during ``fit`` is reported naming the plugin.
    """


@hookspec
def barrage_pre_fit(context: "RunContext") -> None:
    """Called just before ``model.fit``, once the network is built and compiled.

    ``context.config`` is the resolved config, ``context.artifact_dir`` the artifact
    directory (already holding ``config.json``) and ``context.network`` the compiled
    ``keras.Model``. ``context.mode`` is ``RecordMode.TRAIN``. A resumed run fires it
    too. A hook may write files of its own (named after its plugin) into the artifact
    directory, never change Barrage's.
    """


@hookspec
def barrage_post_fit(context: "RunContext", history: Any) -> None:
    """Called after ``model.fit`` returns, with Keras's ``History`` object.

    The best checkpoint and the report are on disk by now; ``context.network`` still
    holds the weights of the last epoch.
    """


@hookspec
def barrage_pre_score(context: "RunContext", records: "Records") -> None:
    """Called before scoring, with the loaded artifact's context and the records.

    ``records`` is a ``RecordTable`` for records in memory, or a ``RecordStream`` (read it
    only through ``chunks()``) for a file scored chunk by chunk. ``context.network``
    holds the best checkpoint's weights; ``context.mode`` is ``RecordMode.SCORE``.
    """


@hookspec
def barrage_post_score(context: "RunContext", scores: List["RecordScore"]) -> Optional[List["RecordScore"]]:
    """Called with postprocessed scores (one dict per record, in input order): once per
    chunk of records (records in memory are one chunk; a file is scored chunk by chunk).

    Returning a list (of the same length) replaces the scores; returning ``None`` keeps
    them. Implementations are chained: each one receives the scores the previous one
    returned.
    """


@hookspec
def barrage_score_end(context: "RunContext", count: int) -> None:
    """Called once when scoring ends, with the number of records scored.

    ``predict`` and ``barrage score`` call ``barrage_post_score`` once per chunk of scores
    (a large file is scored chunk by chunk); this hook marks the end of the whole
    scoring, e.g. to log its record count once.
    """


@hookspec
def barrage_register_commands(cli: "click.Group") -> None:
    """Add sub-commands to the ``barrage`` command line with ``cli.add_command(...)``.

    Called when the CLI starts, before arguments are parsed. Adding a command whose name
    exists already raises (a plugin adds commands, it never replaces one); a plugin whose
    implementation raises loses its commands with a warning, the rest of the CLI works.
    """


# -- what each hook may return ----------------------------------------------------------
# A result outside these rules stops the command with a PluginError naming the plugin
# (exit status 2), rather than failing later somewhere that cannot say whose it was.


def _nothing(result: Any) -> Optional[str]:
    return None if result is None else f"returned {type(result).__name__}; this hook returns nothing"


def _problems(result: Any) -> Optional[str]:
    if result is None:
        return None
    if not isinstance(result, (list, tuple)):
        return f"returned {type(result).__name__}; expected a list of 'dotted.path: message' strings or None"
    if not all(isinstance(problem, str) for problem in result):
        return "returned problems that are not all strings"
    return None


def _callbacks(result: Any) -> Optional[str]:
    import keras

    if result is None:
        return None
    if not isinstance(result, (list, tuple)):
        return f"returned {type(result).__name__}; expected a list of keras.callbacks.Callback or None"
    wrong = [type(item).__name__ for item in result if not isinstance(item, keras.callbacks.Callback)]
    if wrong:
        return f"returned {wrong[0]} among its callbacks; expected keras.callbacks.Callback objects"
    return None


def _scores(result: Any) -> Optional[str]:
    if result is None:
        return None
    if not isinstance(result, list) or not all(isinstance(score, dict) for score in result):
        return f"returned {type(result).__name__}; expected a list of score dicts (one per record) or None"
    return None


RESULT_CHECKS = {
    "barrage_register_components": _nothing,
    "barrage_prepare_config": _problems,
    "barrage_callbacks": _callbacks,
    "barrage_pre_fit": _nothing,
    "barrage_post_fit": _nothing,
    "barrage_pre_score": _nothing,
    "barrage_post_score": _scores,
    "barrage_score_end": _nothing,
    "barrage_register_commands": _nothing,
}
