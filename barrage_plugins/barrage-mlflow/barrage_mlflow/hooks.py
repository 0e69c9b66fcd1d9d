"""barrage-mlflow's hooks (entry-point group ``barrage``, plugin name ``mlflow``).

Only Barrage's public hooks, in the order a training run fires them:

- ``barrage_callbacks``: a Keras callback that logs every epoch's metrics (training,
  validation and the learning rate) with the epoch as MLflow's step;
- ``barrage_pre_fit``: starts the MLflow run (params: the flattened resolved config; tags:
  Barrage's version and each component's source) and records its id in
  ``mlflow_run.json`` in the artifact directory, or, for a resumed run, continues the run
  that file names;
- ``barrage_post_fit``: logs the artifacts that matter and marks the run finished;
- ``barrage_score_end``: logs a scoring run with its record count.

In a multi-worker run only the chief logs (``context.is_chief``): the other workers
train alike and would log the same run again.

Every command imports this module (hook plugins load when ``barrage`` starts), so MLflow
(and with it TensorFlow) is imported inside the hooks, never here.
"""

from __future__ import annotations

from typing import Any, List

from barrage import hookimpl

RUN_KEY = "barrage_mlflow.run"  # where the hooks of one run keep its MLflow run (context.extras)


def _logs(context: Any) -> bool:
    """Whether this process logs: not on a worker other than a cluster's chief."""
    return getattr(context, "is_chief", True)


@hookimpl
def barrage_callbacks(context: Any) -> List[Any]:
    from barrage_mlflow.tracking import epoch_logger

    return [epoch_logger(context, RUN_KEY)] if _logs(context) else []


@hookimpl
def barrage_pre_fit(context: Any) -> None:
    from barrage_mlflow.tracking import TrainingRun

    if _logs(context):
        context.extras[RUN_KEY] = TrainingRun.start(context)


@hookimpl
def barrage_post_fit(context: Any) -> None:
    if _logs(context):
        context.extras[RUN_KEY].finish(context.artifact_dir)


@hookimpl
def barrage_score_end(context: Any, count: int) -> None:
    from barrage_mlflow.tracking import log_scoring

    log_scoring(context, count)
