"""The example plugin's hook module (entry-point group ``barrage``, name ``example``).

Every hook leaves a trace: when ``BARRAGE_EXAMPLE_PLUGIN_LOG`` names a file, each call
appends one JSON line ``{"hook": ..., ...}`` describing what the hook received, so a
test (or a curious user) can see which hooks fired, in which order, with what context.
"""

from __future__ import annotations

import json
import os
from importlib import metadata
from typing import Any, Dict, List, Optional

import click

from barrage import hookimpl
from barrage_example_plugin import DISTRIBUTION
from barrage_example_plugin.augmentors import jitter

LOG_VARIABLE = "BARRAGE_EXAMPLE_PLUGIN_LOG"


def log_event(hook: str, **fields: Any) -> None:
    """Append ``{"hook": hook, **fields}`` to the log file, if one is configured."""
    path = os.environ.get(LOG_VARIABLE)
    if not path:
        return
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(json.dumps({"hook": hook, **fields}, sort_keys=True) + "\n")


def describe_context(context: Any) -> Dict[str, Any]:
    """The documented context fields, reduced to JSON."""
    network = context.network
    return {
        "config_sections": sorted(context.config),
        "loader": context.config["dataset"]["loader"]["import"],
        "artifact_dir": context.artifact_dir,
        "config_json_exists": os.path.isfile(os.path.join(context.artifact_dir, "config.json")),
        "mode": context.mode.value,
        "network_class": type(network).__name__,
        "network_inputs": sorted(network.input) if network is not None else None,
        "network_compiled": bool(getattr(network, "compiled", False)),
    }


@hookimpl
def barrage_register_components(registry: Any) -> None:
    log_event("barrage_register_components")
    registry.register("augmentor", "example_jitter", jitter)


@hookimpl
def barrage_prepare_config(config: Dict[str, Any]) -> Optional[List[str]]:
    log_event("barrage_prepare_config", sections=sorted(config))
    return None


@hookimpl
def barrage_callbacks(context: Any) -> List[Any]:
    import keras  # only when a run trains, never at import

    class EpochLogger(keras.callbacks.Callback):
        """Logs each finished epoch, proving the callback joined ``fit``."""

        def on_epoch_end(self, epoch: int, logs: Optional[Dict[str, Any]] = None) -> None:
            log_event("epoch_end", epoch=epoch, logged=sorted(logs or {}))

    log_event("barrage_callbacks", **describe_context(context))
    return [EpochLogger()]


@hookimpl
def barrage_pre_fit(context: Any) -> None:
    log_event("barrage_pre_fit", **describe_context(context))


@hookimpl
def barrage_post_fit(context: Any, history: Any) -> None:
    best = os.path.join(context.artifact_dir, "best_checkpoint")
    log_event(
        "barrage_post_fit",
        epochs=list(history.epoch),
        best_checkpoint_exists=os.path.isdir(best) and bool(os.listdir(best)),
        **describe_context(context),
    )


@hookimpl
def barrage_pre_score(context: Any, records: Any) -> None:
    log_event("barrage_pre_score", records=len(records), **describe_context(context))


@hookimpl
def barrage_post_score(context: Any, scores: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """Adds ``<output>_argmax``, the predicted class, next to every vector output."""
    import numpy as np

    log_event("barrage_post_score", scores=len(scores), **describe_context(context))
    extended = []
    for score in scores:
        score = dict(score)
        for name, value in list(score.items()):
            if np.ndim(value) == 1:
                score[f"{name}_argmax"] = int(np.argmax(value))
        extended.append(score)
    return extended


@click.command("example-hello")
@click.option("--name", default="world", help="Who to greet.")
def example_hello(name: str) -> None:
    """Greet NAME and say which plugin version answered."""
    click.echo(f"hello, {name}, from {DISTRIBUTION} {metadata.version(DISTRIBUTION)}")


@hookimpl
def barrage_register_commands(cli: Any) -> None:
    log_event("barrage_register_commands")
    cli.add_command(example_hello)
